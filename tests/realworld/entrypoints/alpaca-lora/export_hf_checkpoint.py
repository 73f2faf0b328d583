# tloen/alpaca-lora export_hf_checkpoint.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch
import transformers
BASE_MODEL = os.environ.get('BASE_MODEL', None)
