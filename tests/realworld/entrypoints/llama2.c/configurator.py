# karpathy/llama2.c configurator.py: structure re-typed (imports, entry-point calls, flags), not the original code
import sys
for arg in sys.argv[1:]:
    if '=' not in arg:
        exec(open(arg).read())
