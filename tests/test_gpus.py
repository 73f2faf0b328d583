"""`expkit gpus` and `expkit launch --gpus auto[:N]`.

No NVIDIA GPU or driver exists on the test machines. The no-GPU path is tested for real; device and process
parsing and the --free selection go through the documented NVML stand-in (tests/fakes/pynvml) at the pynvml
boundary; the nvidia-smi fallback replays output recorded in nvidia-smi's real CSV format
(tests/fixtures/nvidia-smi/). Processes on the fake GPUs are real processes, so user and run detection are real.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HELPERS
from expkit.hardware.gpus import driver_present, parse_smi_apps, parse_smi_gpus

FAKES = Path(__file__).parent / "fakes"
SMI = Path(__file__).parent / "fixtures" / "nvidia-smi"


@pytest.fixture(scope="module")
def sleeper():
    """A real process that looks like an expkit run (EXPKIT_RUN_ID in its environment)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                            env={**os.environ, "EXPKIT_RUN_ID": "train_20260101-000000"})
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def nvml(tmp_path, sleeper):
    """Three fake GPUs listed out of PCI order: NVML index 0 sits on the highest bus."""
    state = {"driver": "550.54.15", "cuda_driver_version": 12040, "devices": [
        {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-c", "pci_bus_id": "00000000:C1:00.0", "memory_total_mib": 81559,
         "memory_used_mib": 2, "utilization_gpu": 0, "temperature_c": 28, "power_w": 70.25},
        {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-a", "pci_bus_id": "00000000:1B:00.0", "memory_total_mib": 81559,
         "memory_used_mib": 40000, "utilization_gpu": 99, "temperature_c": 71, "power_w": 650.0,
         "processes": [{"pid": os.getpid(), "used_memory_mib": 39000}, {"pid": sleeper, "used_memory_mib": 900}]},
        {"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-b", "pci_bus_id": "00000000:43:00.0", "memory_total_mib": 81559,
         "memory_used_mib": 1500, "utilization_gpu": 0, "temperature_c": 30, "power_w": 72.0},
    ]}
    path = tmp_path / "nvml.json"
    path.write_text(json.dumps(state))
    return {"PYTHONPATH": f"{HELPERS}{os.pathsep}{FAKES}", "FAKE_NVML_STATE": str(path), "EXPKIT_NVML_ALWAYS": "1"}


@pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver: the no-GPU path cannot be tested")
def test_no_gpu_is_an_empty_list_with_the_reason_for_real(expkit, tmp_path):
    r = expkit("gpus", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    out = r.json()
    assert out["devices"] == [] and out["free"] == []
    assert "no NVIDIA driver" in out["reason"]
    r = expkit("gpus", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("no GPUs: no NVIDIA driver")


def test_devices_in_pci_bus_order_with_memory_load_and_processes(expkit, nvml, sleeper):
    r = expkit("gpus", "--json", env=nvml)
    assert r.returncode == 0, r
    out = r.json()
    assert out["index_order"] == "PCI_BUS_ID" and out["source"] == "nvml"
    assert out["driver"] == "550.54.15" and out["cuda_driver"] == "12.4"
    assert [d["uuid"] for d in out["devices"]] == ["GPU-a", "GPU-b", "GPU-c"]  # bus 1B < 43 < C1
    assert [d["index"] for d in out["devices"]] == [0, 1, 2]
    a = out["devices"][0]
    assert a["nvml_index"] == 1
    assert (a["memory_total_mib"], a["memory_used_mib"], a["memory_free_mib"]) == (81559, 40000, 41559)
    assert (a["utilization_gpu"], a["temperature_c"], a["power_w"]) == (99, 71, 650.0)
    procs = {p["pid"]: p for p in a["processes"]}
    mine = procs[os.getpid()]
    assert mine["user"] == getpass.getuser() and mine["used_memory_mib"] == 39000 and mine["expkit_run"] is False
    run = procs[sleeper]
    assert run["expkit_run"] is True and run["run_id"] == "train_20260101-000000"


def test_free_selection_and_threshold(expkit, nvml):
    r = expkit("gpus", "--free", "--json", env=nvml)
    assert r.returncode == 0, r
    # GPU 0 has processes; GPU 1 uses 1500 MiB (> 1024 default); GPU 2 is idle
    assert r.json()["free"] == [2] and [d["index"] for d in r.json()["devices"]] == [2]
    r = expkit("gpus", "--free", "--max-used-mib", "2000", "--json", env=nvml)
    assert r.json()["free"] == [1, 2]
    r = expkit("gpus", env=nvml)
    assert "[0] NVIDIA H100 80GB HBM3  40000/81559 MiB  util 99%  71C  650.0W  busy" in r.stdout
    assert "expkit run train_20260101-000000" in r.stdout


def test_nvml_failure_without_nvidia_smi_reports_why(expkit, nvml, tmp_path):
    r = expkit("gpus", "--json", env={**nvml, "FAKE_NVML_FAIL": "Driver Not Loaded", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r
    assert r.json()["devices"] == [] and "NVML could not start: Driver Not Loaded" in r.json()["reason"]


def test_nvidia_smi_fallback_parses_recorded_output(expkit):
    """No fakes on PYTHONPATH: the real nvidia-ml-py cannot find libnvidia-ml here, so expkit falls back."""
    env = {"PATH": f"{SMI}{os.pathsep}{os.environ['PATH']}"}
    r = expkit("gpus", "--json", env=env)
    assert r.returncode == 0, r
    out = r.json()
    assert out["source"] == "nvidia-smi" and out["driver"] == "535.104.05"
    assert "NVML unavailable" in out["notes"][0]
    d0, d1, d2 = out["devices"]
    assert (d0["memory_used_mib"], d0["utilization_gpu"], d0["power_w"]) == (72001, 97, 312.4)
    assert d0["processes"][0]["pid"] == 2718281 and d0["processes"][0]["used_memory_mib"] == 71990
    assert d2["power_w"] is None  # [N/A]
    assert out["free"] == [1, 2]
    r = expkit("gpus", "--json", env={**env, "FAKE_SMI_FAIL": "1"})
    assert r.returncode == 0 and r.json()["devices"] == []
    assert "couldn't communicate with the NVIDIA driver" in r.json()["reason"]


def test_smi_parsers_skip_malformed_lines():
    devices, driver = parse_smi_gpus("garbage\n" + (SMI / "query-gpu.csv").read_text())
    assert len(devices) == 3 and driver == "535.104.05"
    assert parse_smi_apps("No running processes found\n") == {}


def test_launch_gpus_auto_resolves_and_records_both(expkit, nvml, git_repo):
    r = expkit("launch", "--json", "--gpus", "auto", "--", sys.executable, "-c",
               "import os; print('cvd', os.environ['CUDA_VISIBLE_DEVICES'])", cwd=git_repo, env=nvml)
    assert r.returncode == 0, r
    run_dir = Path(r.json()["run_dir"])
    assert expkit("runs", "wait", r.json()["run_id"], cwd=git_repo).returncode == 0
    gpus = json.loads((run_dir / "manifest.json").read_text())["gpus"]
    assert gpus["requested"] == "auto" and gpus["resolved"] == [2] and gpus["cuda_visible_devices"] == "2"
    assert "cvd 2" in (run_dir / "stdout.log").read_text()


def test_launch_gpus_auto_n_too_few_free_creates_nothing(expkit, nvml, git_repo):
    r = expkit("launch", "--gpus", "auto:2", "--", "python", "train.py", cwd=git_repo, env=nvml)
    assert r.returncode == 2
    assert "error: --gpus auto:2: 1 of 3 GPU(s) free, 2 wanted" in r.stderr and "hint:" in r.stderr
    assert "GPU 0: 2 process(es)" in r.stderr
    assert not (git_repo / "runs").exists() or not [p for p in (git_repo / "runs").iterdir() if p.is_dir()]


@pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver")
def test_launch_gpus_auto_without_gpu_is_a_clear_error(expkit, git_repo):
    r = expkit("launch", "--gpus", "auto", "--", "python", "train.py", cwd=git_repo)
    assert r.returncode == 2
    assert "error: --gpus auto: no GPU found" in r.stderr and "--gpus none" in r.stderr
    r = expkit("launch", "--gpus", "auto:0", "--", "python", "train.py", cwd=git_repo)
    assert r.returncode == 2 and "at least 1" in r.stderr


@pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver")
def test_no_gpu_path_loads_neither_nvml_nor_subprocess(expkit, tmp_path):
    """What keeps `expkit gpus` on a CPU machine about as cheap as `import click` (benchmarks/bench_env.py)."""
    r = expkit("gpus", "--json", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "expkit.hardware.gpus" in imported and "pynvml" not in imported and "subprocess" not in imported
