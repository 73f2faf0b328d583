"""GPUs via NVML (nvidia-ml-py), an nvidia-smi fallback, and disk."""
