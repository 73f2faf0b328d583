"""A tiny Keras model.fit on CPU with validation: `python keras_run.py 1` (progress bar) or `2` (one line/epoch)."""
import sys

import numpy as np
import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(2000, 8)).astype("float32")
y = (x.sum(axis=1) > 0).astype("int32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=5, batch_size=32, validation_split=0.2, verbose=int(sys.argv[1]))
