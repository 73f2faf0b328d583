# tatsu-lab/stanford_alpaca weight_diff.py: structure re-typed (imports, entry-point calls, flags), not the original code
import fire
import torch
def recover(path_raw, path_diff, path_tuned=None):
    pass
def main(task, **kwargs):
    globals()[task](**kwargs)
if __name__ == '__main__':
    fire.Fire(main)
