"""gentlenet trainer: load MNIST-style data, train a small MLP in numpy, evaluate it."""

__version__ = "0.1.0"
