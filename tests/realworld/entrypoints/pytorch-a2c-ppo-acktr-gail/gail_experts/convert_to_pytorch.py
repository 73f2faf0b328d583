# ikostrikov/pytorch-a2c-ppo-acktr-gail gail_experts/convert_to_pytorch.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import h5py
if __name__ == '__main__':
    parser = argparse.ArgumentParser()
