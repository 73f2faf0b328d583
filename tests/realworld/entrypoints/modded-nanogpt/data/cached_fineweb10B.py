# KellerJordan/modded-nanogpt data/cached_fineweb10B.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import sys
from huggingface_hub import hf_hub_download
num_chunks = int(sys.argv[1])
