# karpathy/nanoGPT configurator.py: structure re-typed (imports, entry-point calls, flags), not the original code
import sys
from ast import literal_eval
for arg in sys.argv[1:]:
    if '=' not in arg:
        config_file = arg
        exec(open(config_file).read())
    else:
        key, val = arg.split('=')
