# openai/baselines baselines/ppo2/ppo2.py: structure re-typed (imports, entry-point calls, flags), not the original code
import tensorflow as tf
def learn(*, network, env, total_timesteps):
    pass
