# openai/improved-diffusion scripts/image_sample.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
from improved_diffusion import dist_util, logger
def main():
    args = create_argparser().parse_args()
def create_argparser():
    parser = argparse.ArgumentParser()
    return parser
if __name__ == '__main__':
    main()
