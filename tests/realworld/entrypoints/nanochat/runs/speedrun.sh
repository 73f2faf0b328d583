#!/bin/bash
export OMP_NUM_THREADS=1
command -v uv &> /dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
uv venv
uv sync --extra gpu
source .venv/bin/activate
python -m nanochat.dataset -n 8
python -m scripts.tok_train --max_chars=2000000000
torchrun --standalone --nproc_per_node=8 -m scripts.base_train -- --depth=20
torchrun --standalone --nproc_per_node=8 -m scripts.chat_sft
