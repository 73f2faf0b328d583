# karpathy/nanochat scripts/tok_train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
parser = argparse.ArgumentParser()
parser.add_argument('--max_chars', type=int)
args = parser.parse_args()
