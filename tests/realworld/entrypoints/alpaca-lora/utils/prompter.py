# tloen/alpaca-lora utils/prompter.py: structure re-typed (imports, entry-point calls, flags), not the original code
import json
class Prompter(object):
    pass
