"""A real Slurm cluster on localhost for tests: munged, slurmctld and one or two slurmd.

Debian's slurm-wlm and munge packages (see .ci/install-slurm.sh). munged runs as user munge with the
packaged key; slurmctld and slurmd run as root with a minimal slurm.conf in a temp dir (SlurmUser=root,
accounting_storage/none, proctrack/linuxproc, select/cons_tres, CPUs=$(nproc)). Two slurmd processes on one
host (distinct NodeName and Port) make a two-node cluster for array and multi-node tests.

Clients find the cluster through SLURM_CONF, which `cluster.env` carries; nothing in /etc/slurm is touched.

    def test_x(slurm_cluster):            # one node
    def test_y(slurm_cluster_2nodes):     # two nodes
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def missing_reason() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    for tool in ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol"):
        if not shutil.which(tool):
            return f"Slurm is not installed ({tool} not on PATH): run .ci/install-slurm.sh (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd with SlurmUser=root needs root"
    if not Path("/etc/munge/munge.key").exists():
        return "no munge key at /etc/munge/munge.key (reinstall the munge package)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _munge_ok() -> bool:
    if not MUNGE_SOCKET.exists():
        return False
    enc = subprocess.run(["munge", "-n"], capture_output=True)
    if enc.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=enc.stdout, capture_output=True).returncode == 0


def ensure_munge() -> None:
    """Start munged as user munge unless one already answers on the standard socket."""
    if _munge_ok():
        return
    run_dir = MUNGE_SOCKET.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    os.chmod(run_dir, 0o755)
    # another test process may be starting one at the same moment: whichever wins, wait for an answer
    subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], capture_output=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _munge_ok():
            return
        time.sleep(0.1)
    raise RuntimeError("munged did not come up (see /var/log/munge/munged.log)")


class SlurmCluster:
    def __init__(self, root: Path, nodes: int = 1):
        self.root = root
        self.nodes = [f"n{i + 1}" for i in range(nodes)]
        self.host = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.procs: list[subprocess.Popen] = []
        self.env = {"SLURM_CONF": str(self.conf)}
        self.partition = "debug"

    def write_conf(self) -> None:
        cpus = os.cpu_count() or 1
        try:
            mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
        except (ValueError, OSError):
            mem_mb = 2048
        node_mem = max(256, mem_mb // (2 * len(self.nodes)))
        r = self.root
        lines = [
            "ClusterName=expkittest",
            f"SlurmctldHost={self.host}",
            f"SlurmctldPort={_free_port()}",
            "AuthType=auth/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool-%n",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd-%n.pid",
            f"SlurmctldLogFile={r}/slurmctld.log",
            f"SlurmdLogFile={r}/slurmd-%n.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=2",
            "InactiveLimit=0",
            "MinJobAge=600",
            "SlurmdTimeout=60",
            "SlurmctldTimeout=30",
        ]
        for name in self.nodes:
            lines.append(f"NodeName={name} NodeHostname={self.host} NodeAddr=127.0.0.1 Port={_free_port()} "
                         f"CPUs={cpus} RealMemory={node_mem} State=UNKNOWN")
        lines.append(f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
        (r / "state").mkdir(exist_ok=True)
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 60) -> "SlurmCluster":
        ensure_munge()
        self.write_conf()
        env = {**os.environ, **self.env}
        self.procs.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(self.conf)], env=env,
                                           stdout=subprocess.DEVNULL, stderr=open(self.root / "slurmctld.err", "wb")))
        for name in self.nodes:
            self.procs.append(subprocess.Popen(["slurmd", "-D", "-N", name, "-f", str(self.conf)], env=env,
                                               stdout=subprocess.DEVNULL,
                                               stderr=open(self.root / f"slurmd-{name}.err", "wb")))
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=env, capture_output=True, text=True)
            last = out.stdout + out.stderr
            states = dict(line.split() for line in out.stdout.splitlines() if line.strip())
            if out.returncode == 0 and len(states) == len(self.nodes) and all(s == "idle" for s in states.values()):
                return self
            for p in self.procs:
                if p.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"a Slurm daemon exited: {p.args}\n{self.logs()}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Slurm cluster did not become idle in {timeout}s: {last}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for f in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.err")):
            parts.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def jobs(self) -> list[str]:
        """Ids of the jobs this cluster still holds (pending, running or completing)."""
        out = subprocess.run(["squeue", "-h", "-o", "%A"], env={**os.environ, **self.env}, capture_output=True,
                             text=True, timeout=10)  # %A: an array's own id (cancels all its tasks), else the job's
        return sorted(set(out.stdout.split()))

    def cancel_all(self, timeout: float = 30) -> None:
        """Cancel every job submitted to this cluster and wait until it has left the queue, so a test that failed
        with jobs still running cannot starve the next test of CPUs."""
        if not self.procs:
            return
        env = {**os.environ, **self.env}
        deadline = time.monotonic() + timeout
        while (ids := self.jobs()) and time.monotonic() < deadline:  # every job of this private cluster
            subprocess.run(["scancel", "--full", *ids], env=env, capture_output=True, timeout=10)
            time.sleep(0.3)

    def stop(self) -> None:
        self.cancel_all()  # before the daemons go: a job step outlives a terminated slurmd
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()


def _cluster(nodes: int):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix=f"slurm{nodes}-"))
    os.chmod(root, 0o755)
    cluster = SlurmCluster(root, nodes).start()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)  # for in-process calls; subprocesses inherit it
    LIVE.append(cluster)
    try:
        yield cluster
    finally:
        LIVE.remove(cluster)
        cluster.stop()
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        shutil.rmtree(root, ignore_errors=True)


LIVE: list[SlurmCluster] = []  # clusters of the running module: conftest cancels their jobs after each test


def cancel_jobs_of_live_clusters() -> None:
    for cluster in LIVE:
        cluster.cancel_all()


@pytest.fixture(scope="module")
def slurm_cluster():
    """A one-node Slurm cluster on localhost (skipped with the reason when Slurm is not installed)."""
    yield from _cluster(1)


@pytest.fixture(scope="module")
def slurm_cluster_2nodes():
    """A two-node Slurm cluster on localhost: two slurmd with distinct NodeName and Port."""
    yield from _cluster(2)
