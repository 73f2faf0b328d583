"""The code state of a run: commit, branch, remote, dirty flag and a patch that recreates the working tree."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from expkit.redact import looks_secret_content, looks_secret_file, redact_url

PATCH_CAP_BYTES = 20 * 1024 * 1024  # the whole git.patch
UNTRACKED_FILE_CAP_BYTES = 1024 * 1024  # one untracked file


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)


def _is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _new_file_diff(rel: str, data: bytes) -> bytes:
    """A `git apply`-able diff that creates `rel` with `data`."""
    text = data.decode("utf-8")
    lines = text.splitlines(keepends=True)
    head = f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n"
    if not lines:
        return f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n".encode()
    body = [f"@@ -0,0 +1,{len(lines)} @@\n"]
    for line in lines:
        if line.endswith("\n"):
            body.append("+" + line)
        else:
            body.append("+" + line + "\n\\ No newline at end of file\n")
    return (head + "".join(body)).encode("utf-8")


def _drop_virtualenvs(root: Path, untracked: list[str]) -> tuple[list[str], list[str]]:
    """Untracked virtualenvs (a folder with pyvenv.cfg) are environments, not code: leave them out."""
    is_venv: dict[str, bool] = {}
    kept, venvs = [], set()
    for rel in untracked:
        parts = rel.split("/")[:-1]
        hit = None
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in is_venv:
                is_venv[folder] = (root / folder / "pyvenv.cfg").is_file()
            if is_venv[folder]:
                hit = folder
                break
        if hit:
            venvs.add(hit + "/")
        else:
            kept.append(rel)
    return kept, sorted(venvs)


def capture(cwd: Path, exclude: list[Path] | None = None) -> tuple[dict[str, Any], bytes | None]:
    """Return (git facts for the manifest, patch bytes or None). Never raises for a non-repo."""
    try:
        top = _git(cwd, "rev-parse", "--show-toplevel")
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return {"is_repo": False, "reason": f"git not usable: {exc}"}, None
    if top.returncode != 0:
        return {"is_repo": False, "reason": "not inside a git repository"}, None
    root = Path(top.stdout.decode().strip())
    info: dict[str, Any] = {"is_repo": True, "root": str(root)}
    try:
        info["cwd_relative"] = str(Path(cwd).resolve().relative_to(root.resolve()))
    except ValueError:
        info["cwd_relative"] = "."

    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    info["commit"] = head.stdout.decode().strip() if head.returncode == 0 else None
    branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD")
    info["branch"] = branch.stdout.decode().strip() if branch.returncode == 0 else None  # None = detached
    remote = _git(root, "config", "--get", "remote.origin.url")
    info["remote"] = redact_url(remote.stdout.decode().strip()) if remote.returncode == 0 else None

    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries = [e for e in status.stdout.decode("utf-8", "replace").split("\0") if e]
    excluded = [p.resolve() for p in (exclude or [])]
    untracked, tracked_changed = [], []
    skip_next = False
    for entry in entries:
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        code, rel = entry[:2], entry[3:]
        if code[0] in "RC":
            skip_next = True
        full = (root / rel).resolve()
        if any(full == ex or ex in full.parents for ex in excluded):
            continue
        (untracked if code == "??" else tracked_changed).append(rel)
    untracked, venvs = _drop_virtualenvs(root, untracked)
    if venvs:
        info["virtualenvs_skipped"] = venvs
    info["dirty"] = bool(untracked or tracked_changed)
    info["changed_files"] = len(tracked_changed)
    info["untracked_files"] = len(untracked)
    if not info["dirty"]:
        return info, None

    notes: list[str] = []
    parts: list[bytes] = []
    if tracked_changed and info["commit"]:
        diff = _git(root, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff")
        parts.append(diff.stdout)
    elif tracked_changed:
        notes.append("the repository has no commit yet: staged files are recorded as new files")
        untracked = tracked_changed + untracked
    included, skipped, secret = [], [], []
    size = sum(len(p) for p in parts)
    for rel in untracked:
        path = root / rel
        if looks_secret_file(rel):  # .env, credentials.json, id_rsa ...: never copied into a shareable patch
            secret.append(rel)
            continue
        try:
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size > UNTRACKED_FILE_CAP_BYTES:
                skipped.append(f"{rel} (larger than {UNTRACKED_FILE_CAP_BYTES // 1024} KiB)")
                continue
            data = path.read_bytes()
        except OSError as exc:
            skipped.append(f"{rel} ({exc.strerror})")
            continue
        if not _is_text(data):
            skipped.append(f"{rel} (binary)")
            continue
        if looks_secret_content(data.decode("utf-8")):
            secret.append(rel)
            continue
        chunk = _new_file_diff(rel, data)
        if size + len(chunk) > PATCH_CAP_BYTES:
            skipped.append(f"{rel} (patch size cap reached)")
            continue
        parts.append(chunk)
        size += len(chunk)
        included.append(rel)
    patch = b"".join(parts)
    if len(patch) > PATCH_CAP_BYTES:
        patch = patch[:PATCH_CAP_BYTES]
        notes.append(f"the patch was cut at {PATCH_CAP_BYTES // (1024 * 1024)} MiB: reproduction will be incomplete")
        info["patch_truncated"] = True
    else:
        info["patch_truncated"] = False
    if secret:
        notes.append(f"{len(secret)} untracked file(s) left out of git.patch because they look secret "
                     f"(by name or content): {', '.join(secret[:20])}; copy them by hand to reproduce this run")
    if skipped:
        notes.append(f"{len(skipped)} untracked file(s) not in the patch: " + "; ".join(skipped[:20]))
    info["untracked_in_patch"] = included
    info["untracked_skipped"] = skipped
    info["secret_files_skipped"] = secret
    info["patch_notes"] = notes
    info["patch_bytes"] = len(patch)
    return info, patch
