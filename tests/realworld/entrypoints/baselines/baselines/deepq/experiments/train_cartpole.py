# openai/baselines baselines/deepq/experiments/train_cartpole.py: structure re-typed (imports, entry-point calls, flags), not the original code
import gym
from baselines import deepq
def main():
    env = gym.make('CartPole-v0')
    act = deepq.learn(env, network='mlp', lr=1e-3)
if __name__ == '__main__':
    main()
