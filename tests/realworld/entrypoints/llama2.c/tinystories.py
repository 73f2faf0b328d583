# karpathy/llama2.c tinystories.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('stage', type=str, choices=['download', 'pretokenize', 'train_vocab'])
    args = parser.parse_args()
