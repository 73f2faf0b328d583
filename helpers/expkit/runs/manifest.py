"""What a run's manifest records besides git and the interpreter: host, hardware, the env vars that matter."""

from __future__ import annotations

import os
import platform
import re
import socket
from typing import Any, Mapping

from expkit.redact import redact_env
from expkit.runs import process

# Variables that change what a training run does or where it logs.
_RELEVANT = re.compile(
    r"^(CUDA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|CUDA_LAUNCH_BLOCKING|PYTHONHASHSEED|PYTHONUNBUFFERED|PYTHONPATH"
    r"|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS|TOKENIZERS_PARALLELISM|CUBLAS_WORKSPACE_CONFIG"
    r"|WANDB_.*|NCCL_.*|TORCH_.*|TORCHINDUCTOR_.*|PYTORCH_.*|HF_.*|HUGGINGFACE_.*|TRANSFORMERS_.*|XLA_.*|JAX_.*"
    r"|TF_.*|ACCELERATE_.*|MASTER_ADDR|MASTER_PORT|WORLD_SIZE|RANK|LOCAL_RANK|SLURM_.*|EXPKIT_.*"
    r"|CONDA_DEFAULT_ENV|CONDA_PREFIX|VIRTUAL_ENV|LD_LIBRARY_PATH)$"
)


def relevant_env(env: Mapping[str, str]) -> dict[str, str]:
    return redact_env({k: env[k] for k in sorted(env) if _RELEVANT.match(k)})


def host_info() -> dict[str, Any]:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": mem,
        "boot_id": process.boot_id(),
    }
