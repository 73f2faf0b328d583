"""GPU leases with simulated GPUs.

No NVIDIA GPU can exist on the test machines, so the GPUs come from the documented NVML stand-in
(tests/fakes/pynvml, FAKE_NVML_STATE, EXPKIT_NVML_ALWAYS=1): a fake at the NVML boundary only. The jobs, the
scheduler, the supervisors and the processes "on" the GPUs are all real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import HELPERS, ROOT

JOB = """\
import os, sys, time
here = sys.argv[1]
gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
active = os.path.join(here, "active", gpu)
os.makedirs(active, exist_ok=True)
me = os.path.join(active, os.environ["EXPKIT_RUN_ID"])
others = os.listdir(active)
open(me, "w").close()
with open(os.path.join(here, "log.txt"), "a") as fh:
    fh.write(f"{os.environ['EXPKIT_JOB_ID']} gpu={gpu} order={os.environ.get('CUDA_DEVICE_ORDER')} "
             f"sharing={len(others)}\\n")
barrier = int(os.environ.get("BARRIER", "0"))
deadline = time.time() + 30
while barrier and len(os.listdir(active)) < barrier and time.time() < deadline:
    time.sleep(0.02)  # wait for the co-tenant: proves two jobs really shared this GPU
time.sleep(0.1)
os.remove(me)
"""


def nvml_env(tmp_path: Path, foreign_pid: int | None) -> dict:
    devices = []
    for i in range(3):
        procs = [{"pid": foreign_pid, "used_memory_mib": 4000}] if (i == 1 and foreign_pid) else []
        devices.append({"name": "NVIDIA A100-SXM4-80GB", "uuid": f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd",
                        "pci_bus_id": f"00000000:0{i + 1}:00.0", "memory_total_mib": 81920, "processes": procs})
    state = tmp_path / "nvml.json"
    state.write_text(json.dumps({"driver": "550.54.15", "devices": devices}))
    return {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "fakes"), str(HELPERS), os.environ.get("PYTHONPATH", "")]), "FAKE_NVML_STATE": str(state), "EXPKIT_NVML_ALWAYS": "1"}


def queue_jobs(expkit, proj: Path, n: int, env: dict):
    for _ in range(n):
        r = expkit("queue", "add", "--", sys.executable, "job.py", str(proj), cwd=proj, env=env)
        assert r.returncode == 0, r


def test_busy_gpu_is_skipped_and_no_gpu_is_double_booked(expkit, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "job.py").write_text(JOB)
    foreign = subprocess.Popen(["sleep", "300"])  # someone else's process on GPU 1
    try:
        env = nvml_env(tmp_path, foreign.pid)
        queue_jobs(expkit, proj, 6, env)
        r = expkit("queue", "run", "--gpus", "auto", "--json", cwd=proj, env=env)
        assert r.returncode == 0, r
        assert r.json()["counts"]["succeeded"] == 6
        assert "2 job(s)" not in r.json()["slots"]
    finally:
        foreign.kill()
        foreign.wait()
    lines = (proj / "log.txt").read_text().split("\n")[:-1]
    assert len(lines) == 6
    assert {l.split()[1] for l in lines} <= {"gpu=0", "gpu=2"}  # never the busy GPU 1
    assert all("order=PCI_BUS_ID" in l and "sharing=0" in l for l in lines)  # one job per GPU at a time
    status = expkit("queue", "status", "--json", cwd=proj, env=env).json()
    assert {j["gpu"] for j in status["jobs"]} <= {0, 2}
    # the lease is by UUID, recorded with each attempt
    job = json.loads(next((proj / "runs" / ".queue" / "default" / "jobs").glob("*.json")).read_text())
    assert job["attempts"][0]["gpu_uuid"] in ("GPU-00000000-aaaa-bbbb-cccc-dddddddddddd",
                                              "GPU-00000002-aaaa-bbbb-cccc-dddddddddddd")


def test_per_gpu_lets_two_jobs_share_a_gpu(expkit, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "job.py").write_text(JOB)
    env = {**nvml_env(tmp_path, None), "BARRIER": "2"}
    queue_jobs(expkit, proj, 2, env)
    r = expkit("queue", "run", "--gpus", "2", "--per-gpu", "2", "--json", cwd=proj, env=env)
    assert r.returncode == 0, r
    lines = (proj / "log.txt").read_text().split("\n")[:-1]
    assert sorted(l.split()[1] for l in lines) == ["gpu=2", "gpu=2"]
    assert sorted(l.split()[3] for l in lines) == ["sharing=0", "sharing=1"]  # both on GPU 2 at once


def test_unknown_gpu_is_refused(expkit, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "job.py").write_text(JOB)
    env = nvml_env(tmp_path, None)
    queue_jobs(expkit, proj, 1, env)
    r = expkit("queue", "run", "--gpus", "7", cwd=proj, env=env)
    assert r.returncode == 2 and "GPU 7 does not exist" in r.stderr and "hint:" in r.stderr
