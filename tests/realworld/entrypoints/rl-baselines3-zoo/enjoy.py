# DLR-RM/rl-baselines3-zoo enjoy.py: structure re-typed (imports, entry-point calls, flags), not the original code
from rl_zoo3.enjoy import enjoy
if __name__ == '__main__':
    enjoy()
