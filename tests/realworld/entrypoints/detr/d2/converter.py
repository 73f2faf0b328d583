# facebookresearch/detr d2/converter.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
def main():
    parser = argparse.ArgumentParser('D2 model converter')
if __name__ == '__main__':
    main()
