# openai/improved-diffusion scripts/image_nll.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
from improved_diffusion import dist_util
def main():
    args = create_argparser().parse_args()
def create_argparser():
    return argparse.ArgumentParser()
if __name__ == '__main__':
    main()
