# facebookresearch/detr run_with_submitit.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import submitit
import main as detection
def parse_args():
    parser = argparse.ArgumentParser('Submitit for detection', parents=[detection.get_args_parser()])
    return parser.parse_args()
def main():
    executor = submitit.AutoExecutor(folder=args.job_dir)
if __name__ == '__main__':
    main()
