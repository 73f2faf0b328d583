#!/bin/bash
for d in 8 10 12; do
  torchrun --standalone --nproc_per_node=8 -m scripts.base_train -- --depth=$d
done
