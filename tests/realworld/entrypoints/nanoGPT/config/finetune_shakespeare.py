# karpathy/nanoGPT config/finetune_shakespeare.py: structure re-typed (imports, entry-point calls, flags), not the original code
import time
out_dir = 'out-shakespeare'
wandb_run_name = 'ft-' + str(time.time())
init_from = 'gpt2-xl'
