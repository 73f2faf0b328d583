# karpathy/nanoGPT sample.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
init_from = 'resume'
exec(open('configurator.py').read())
