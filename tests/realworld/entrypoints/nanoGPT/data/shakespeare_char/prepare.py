# karpathy/nanoGPT data/shakespeare_char/prepare.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import pickle
import requests
import numpy as np
input_file_path = os.path.join(os.path.dirname(__file__), 'input.txt')
with open(input_file_path, 'r') as f:
    data = f.read()
print(f"length of dataset in characters: {len(data):,}")
train_ids = np.array(train_ids, dtype=np.uint16)
train_ids.tofile(os.path.join(os.path.dirname(__file__), 'train.bin'))
