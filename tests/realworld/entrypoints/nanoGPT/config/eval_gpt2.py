# karpathy/nanoGPT config/eval_gpt2.py: structure re-typed (imports, entry-point calls, flags), not the original code
batch_size = 8
eval_only = True
init_from = 'gpt2'
