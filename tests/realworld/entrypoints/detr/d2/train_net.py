# facebookresearch/detr d2/train_net.py: structure re-typed (imports, entry-point calls, flags), not the original code
from detectron2.engine import DefaultTrainer, default_argument_parser, launch
def main(args):
    trainer = DefaultTrainer(cfg)
    return trainer.train()
if __name__ == '__main__':
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus)
