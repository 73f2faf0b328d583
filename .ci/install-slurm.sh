#!/usr/bin/env bash
# Install Slurm and munge from Debian so tests/test_backend_slurm.py can start a real localhost cluster
# (tests/slurm_cluster.py starts munged, slurmctld and slurmd itself; nothing else is configured here).
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    echo "slurm-wlm and munge already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q slurm-wlm munge
