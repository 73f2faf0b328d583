# tatsu-lab/stanford_alpaca utils.py: structure re-typed (imports, entry-point calls, flags), not the original code
import openai
def openai_completion(prompts):
    pass
