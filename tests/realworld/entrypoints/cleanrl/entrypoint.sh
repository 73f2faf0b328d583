#!/bin/bash
# docker entrypoint
set -e
if [ -n "$WANDB_API_KEY" ]; then wandb login $WANDB_API_KEY; fi
exec "$@"
