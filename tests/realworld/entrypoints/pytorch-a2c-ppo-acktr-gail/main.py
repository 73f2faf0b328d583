# ikostrikov/pytorch-a2c-ppo-acktr-gail main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
from a2c_ppo_acktr.arguments import get_args
def main():
    args = get_args()
    value_loss.backward()
    optimizer.step()
if __name__ == '__main__':
    main()
