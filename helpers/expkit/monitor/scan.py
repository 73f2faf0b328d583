"""Find the lines of a log that match the rule patterns, fast enough for a 1 GB log.

Three ways, one result shape (a list of Hit):
- `grep`: GNU grep -a -b -E with every pattern at once (its DFA scans a GB per second), fed by a thread that
  turns `\\r` into line breaks and breaks any stretch over SEGMENT_MAX; Python only reads the few matching lines.
  Used for a full scan when grep is on PATH.
- `python`: the same combined pattern with Python's re, chunk by chunk, where there is no grep.
- `tail`: only the last MiB, for the usual case where a run died and said why at the very end.
Memory stays bounded whatever the log: lines are cut to MAX_HIT bytes, and at most KEEP hits are kept
from the start and KEEP from the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections import deque
from dataclasses import dataclass

from expkit.monitor.logtext import read_tail

MAX_HIT = 16384  # bytes kept of one matching line
KEEP = 400  # hits kept from the start and from the end of the log
CHUNK = 8 << 20


@dataclass
class Hit:
    line: int | None  # 1-based line number; None in a tail scan of a big file
    offset: int  # byte offset of the line start
    text: bytes
    from_end: int | None = None  # lines before the end (tail scan)


class _Keeper:
    """The first KEEP and the last KEEP hits of a stream of any length."""

    def __init__(self, keep: int):
        self.head: list[Hit] = []
        self.tail: deque[Hit] = deque(maxlen=keep)
        self.keep = keep
        self.total = 0

    def add(self, hit: Hit) -> None:
        self.total += 1
        if len(self.head) < self.keep:
            self.head.append(hit)
        else:
            self.tail.append(hit)

    def hits(self) -> list[Hit]:
        return self.head + list(self.tail)


SEGMENT_MAX = 1 << 20  # the longest stretch without a line break grep is ever given (its memory follows it)
WINDOW = 16 << 20  # bytes mapped at once by has_long_stretch (a multiple of the mmap granularity)
LONG_STRETCH = 64 << 10  # a log with a stretch this long without a newline is streamed (\r as a line break)
BLOCK = 1 << 16  # line numbers are counted per block as the file streams by


class _Feeder(threading.Thread):
    """Streams the log into grep's stdin with `\\r` as a line break (same length, so grep's byte offsets are file
    offsets) and a forced break in any stretch longer than SEGMENT_MAX: grep then never holds a 2 GB "line".
    Counts the real newlines per BLOCK on the way, so the few kept hits get their true line numbers."""

    def __init__(self, path: str, sink):
        super().__init__(name="expkit-scan-feeder", daemon=True)
        self.path, self.sink = path, sink
        self.newlines: list[int] = []  # newlines before each BLOCK of the file
        self.error: BaseException | None = None

    def run(self) -> None:
        count, stretch = 0, 0
        half = SEGMENT_MAX // 2
        try:
            with open(self.path, "rb") as fh, self.sink:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    for i in range(0, len(chunk), BLOCK):
                        self.newlines.append(count)
                        count += chunk.count(b"\n", i, i + BLOCK)
                    out = chunk.replace(b"\r", b"\n")  # same length: grep's offsets stay file offsets
                    edit = None
                    for a in range(0, len(out), half):
                        b = min(a + half, len(out))
                        last = out.rfind(b"\n", a, b)
                        if last >= 0:
                            stretch = b - last - 1
                            continue
                        stretch += b - a
                        if stretch >= SEGMENT_MAX:  # one byte becomes a break: rare, only in pathological logs
                            edit = edit if edit is not None else bytearray(out)
                            edit[b - 1] = 0x0A
                            stretch = 0
                    self.sink.write(bytes(edit) if edit is not None else out)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # handed to the caller
            self.error = exc

    def line_of(self, offset: int) -> int:
        """1-based line number (real newlines only) of the byte at `offset`."""
        block = offset // BLOCK
        if block >= len(self.newlines):
            return self.newlines[-1] + 1 if self.newlines else 1
        with open(self.path, "rb") as fh:
            fh.seek(block * BLOCK)
            data = fh.read(offset - block * BLOCK)
        return self.newlines[block] + data.count(b"\n") + 1


def scan_grep(path: str, pattern: str, keep: int = KEEP) -> tuple[list[Hit], int]:
    """grep over the log: on the file itself when its lines are of a normal length (the fast path), streamed
    through a _Feeder when some stretch runs past LONG_STRETCH without a newline (tqdm's `\\r` redraws, a binary
    blob): grep would hold such a line whole in memory and report it as one cut-down hit."""
    if has_long_stretch(path):
        return _grep_stream(path, pattern, keep)
    return _grep_file(path, pattern, keep)


def has_long_stretch(path: str, limit: int | None = None) -> bool:
    """Does any stretch of the file run `limit` bytes without a newline? Read through memory-mapped windows
    (no copy; at most WINDOW mapped at once, so memory stays small), stopping at the first long stretch."""
    import mmap

    limit = limit or LONG_STRETCH
    half = limit // 2
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < limit:
            return False
        stretch = 0
        for start in range(0, size, WINDOW):
            length = min(WINDOW, size - start)
            with mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_READ, offset=start) as mm:
                for a in range(0, length, half):
                    b = min(a + half, length)
                    last = mm.rfind(b"\n", a, b)
                    if last < 0:
                        stretch += b - a
                        if stretch >= limit:
                            return True
                    else:
                        stretch = b - last - 1
    return False


def _first_and_last(out, keep: int) -> tuple[list[bytes], int]:
    """grep's output read in 1 MiB blocks: (the first and last `keep` lines, each cut to MAX_HIT bytes; how many
    lines in all). Only those lines are kept, so a log where every line matches costs little more than one where a
    single line does, and a huge matching line never sits in memory whole."""
    head: list[bytes] = []
    tail: deque[bytes] = deque(maxlen=keep)
    total, pending, skipping = 0, b"", False
    while True:
        chunk = out.read(1 << 20)
        if not chunk:
            break
        if skipping:  # the rest of a huge line: drop it up to its end
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk, skipping = chunk[nl:], False
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_HIT:
            pending, skipping = pending[:MAX_HIT], True
        total += len(lines)
        room = keep - len(head)
        if room > 0:
            head.extend(line[:MAX_HIT] for line in lines[:room])
            lines = lines[room:]
        tail.extend(line[:MAX_HIT] for line in lines[-keep:])
    if pending:
        total += 1
        (head if len(head) < keep else tail).append(pending)
    return head + list(tail), total


def _grep_file(path: str, pattern: str, keep: int = KEEP) -> tuple[list[Hit], int]:
    """grep -a -n -b -E over the file itself; returns (hits, total number of matching lines)."""
    grep = shutil.which("grep")
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.Popen([grep, "-a", "-n", "-b", "-E", "-e", pattern, "--", path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    kept, total = _first_and_last(proc.stdout, keep)
    err = proc.stderr.read()
    proc.wait()
    if proc.returncode not in (0, 1):
        raise OSError(f"grep failed: {err.decode(errors='replace').strip()}")
    hits = []
    for raw in kept:
        lineno, _, rest = raw.partition(b":")
        offset, _, text = rest.partition(b":")
        if lineno.isdigit() and offset.isdigit():
            hits.append(Hit(int(lineno), int(offset), text))
    return hits, total


def _grep_stream(path: str, pattern: str, keep: int = KEEP) -> tuple[list[Hit], int]:
    """grep -a -b -E over the log streamed through a _Feeder; returns (hits, total number of matching lines).

    Memory stays bounded on any log: a 2 GB line without a newline (tqdm's `\\r` redraws) reaches grep as many short lines."""
    grep = shutil.which("grep")
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.Popen([grep, "-a", "-b", "-E", "-e", pattern], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    feeder = _Feeder(path, proc.stdin)
    feeder.start()
    kept, total = _first_and_last(proc.stdout, keep)
    err = proc.stderr.read()
    proc.wait()
    feeder.join()
    if feeder.error is not None:
        raise feeder.error
    if proc.returncode not in (0, 1):
        raise OSError(f"grep failed: {err.decode(errors='replace').strip()}")
    hits = []
    for raw in kept:
        offset, _, text = raw.partition(b":")
        if offset.isdigit():
            hits.append(Hit(feeder.line_of(int(offset)), int(offset), text))
    return hits, total


def scan_python(path: str, pattern: str, keep: int = KEEP) -> tuple[list[Hit], int]:
    """The same scan without grep: chunked, line numbers counted as it goes."""
    rx = re.compile(pattern.encode(), re.M)
    keeper = _Keeper(keep)
    lineno, offset, carry, skipped = 1, 0, b"", 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            data = carry + chunk
            if not chunk:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than the chunk: keep only its start
                    skipped += max(0, len(data) - MAX_HIT)
                    carry = data[:MAX_HIT]
                    continue
            block, carry = data[:cut], data[cut:]
            first_end = block.find(b"\n")
            pos_line, pos = lineno, 0
            for m in rx.finditer(block):
                start = block.rfind(b"\n", 0, m.start()) + 1
                if start < pos:  # a second match on a line already reported
                    continue
                pos_line += block.count(b"\n", pos, start)
                end = block.find(b"\n", m.start())
                end = len(block) if end < 0 else end
                shift = skipped if start > first_end else 0  # bytes of a cut-down first line
                keeper.add(Hit(pos_line, offset + start + shift, block[start:min(end, start + MAX_HIT)]))
                pos = end
            lineno += block.count(b"\n")
            offset += len(block) + skipped
            skipped = 0
            if not chunk:
                break
    return keeper.hits(), keeper.total


def scan_tail(path: str, pattern: str, nbytes: int = 1 << 20) -> tuple[list[Hit], int]:
    """Matching lines among the last `nbytes` of the file, numbered from the end (grep on the bytes if it can)."""
    data, start = read_tail(path, nbytes)
    nlines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if use_grep():
        proc = subprocess.run([shutil.which("grep"), "-a", "-n", "-b", "-E", "-e", pattern], input=data,
                              capture_output=True, env=dict(os.environ, LC_ALL="C"))
        if proc.returncode in (0, 1):
            hits = []
            for raw in proc.stdout.split(b"\n"):
                lineno, _, rest = raw.partition(b":")
                offset, _, text = rest.partition(b":")
                if lineno.isdigit() and offset.isdigit():
                    hits.append(Hit(None, start + int(offset), text[:MAX_HIT], from_end=nlines - int(lineno) + 1))
            return hits, len(hits)
    rx = re.compile(pattern.encode())
    hits, offset = [], start
    for i, line in enumerate(data.split(b"\n")[:nlines]):
        head = line[:MAX_HIT]
        if rx.search(head):
            hits.append(Hit(None, offset, head, from_end=nlines - i))
        offset += len(line) + 1
    return hits, len(hits)


def use_grep() -> bool:
    return shutil.which("grep") is not None and os.environ.get("EXPKIT_NO_GREP") != "1"


def scan_full(path: str, pattern: str) -> tuple[list[Hit], int, str]:
    """A full scan with grep when available, else Python; returns (hits, total, engine)."""
    if use_grep():
        try:
            hits, total = scan_grep(path, pattern)
            return hits, total, "grep"
        except OSError:
            pass
    hits, total = scan_python(path, pattern)
    return hits, total, "python"
