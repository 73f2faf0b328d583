# DLR-RM/rl-baselines3-zoo rl_zoo3/enjoy.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
def enjoy() -> None:
    parser = argparse.ArgumentParser()
if __name__ == '__main__':
    enjoy()
