# vwxyzjn/cleanrl cleanrl_utils/benchmark.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import subprocess
parser = argparse.ArgumentParser()
parser.add_argument('--command', type=str)
if __name__ == '__main__':
    args = parser.parse_args()
