# karpathy/nanoGPT config/train_gpt2.py: structure re-typed (imports, entry-point calls, flags), not the original code
wandb_log = True
batch_size = 12
max_iters = 600000
