# openai/improved-diffusion scripts/image_train.py: structure re-typed (imports, entry-point calls, flags), not the original code
"""Train a diffusion model on images."""
import argparse
from improved_diffusion import dist_util, logger
from improved_diffusion.train_util import TrainLoop
def main():
    args = create_argparser().parse_args()
    dist_util.setup_dist()
    TrainLoop(model=model, diffusion=diffusion, data=data).run_loop()
def create_argparser():
    defaults = dict(data_dir='', lr=1e-4, batch_size=1)
    parser = argparse.ArgumentParser()
    return parser
if __name__ == '__main__':
    main()
