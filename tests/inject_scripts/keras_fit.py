"""Keras 3 fit() on synthetic data with an existing callback."""
import argparse

import keras
import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(args.lr), loss="mse")
    model.fit(x, y, epochs=args.epochs, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN()])


if __name__ == "__main__":
    main()
