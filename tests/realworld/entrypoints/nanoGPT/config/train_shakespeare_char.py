# karpathy/nanoGPT config/train_shakespeare_char.py: structure re-typed (imports, entry-point calls, flags), not the original code
out_dir = 'out-shakespeare-char'
eval_interval = 250
dataset = 'shakespeare_char'
learning_rate = 1e-3
