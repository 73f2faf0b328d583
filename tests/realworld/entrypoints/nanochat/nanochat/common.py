# karpathy/nanochat nanochat/common.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
def compute_init():
    return os.environ.get('LOCAL_RANK')
