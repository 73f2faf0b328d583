#!/bin/bash
uv sync --extra cpu
source .venv/bin/activate
python -m scripts.base_train --depth=4 --max_seq_len=512
