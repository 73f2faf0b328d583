# karpathy/autoresearch prepare.py: structure re-typed (imports, entry-point calls, flags), not the original code
"""One-time data preparation. Usage: uv run prepare.py"""
import os
import argparse
MAX_SEQ_LEN = 2048
TIME_BUDGET = 300
class Tokenizer:
    pass
if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Prepare data and tokenizer')
    parser.add_argument('--num-shards', type=int, default=10)
    args = parser.parse_args()
