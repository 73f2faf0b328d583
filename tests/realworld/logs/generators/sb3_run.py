"""Stable-Baselines3 PPO on CartPole, CPU: its stdout table, and its JSON-lines logger (progress.json) in argv[1]."""
import sys

from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure

model = PPO("MlpPolicy", "CartPole-v1", verbose=1, n_steps=512, seed=0, device="cpu")
model.set_logger(configure(sys.argv[1], ["stdout", "json"]))
model.learn(total_timesteps=3072)
