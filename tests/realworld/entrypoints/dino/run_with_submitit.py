# facebookresearch/dino run_with_submitit.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import submitit
import main_dino as dino
def parse_args():
    parser = argparse.ArgumentParser('Submitit for DINO', parents=[dino.get_args_parser()])
    parser.add_argument('--ngpus', default=8, type=int)
    return parser.parse_args()
def main():
    executor = submitit.AutoExecutor(folder=args.output_dir)
if __name__ == '__main__':
    main()
