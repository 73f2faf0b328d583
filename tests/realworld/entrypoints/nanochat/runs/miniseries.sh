#!/bin/bash
torchrun --standalone --nproc_per_node=8 -m scripts.base_train -- --depth=$1
