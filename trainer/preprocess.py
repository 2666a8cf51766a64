"""Pixels into the network's input, shared by every loader and by the board.

`mnistify` is device/mnistify.py itself (one integer implementation, bit-exact on CPython
and MicroPython); here it gets a numpy face. `to_input` is the float scaling the trainer
uses; the network's metadata records which one it was trained with.
"""
from __future__ import annotations

import numpy as np

from device import mnistify as _m

VERSION = _m.VERSION


def mnistify(grey, w, h, invert=None, info=None):
    """(h, w) grey bytes, 0 black .. 255 white -> (28, 28) uint8 MNIST-style digit (all
    zeros: no digit found). info: see device/mnistify.py."""
    return np.frombuffer(bytes(_m.mnistify(grey, w, h, invert, info=info)), dtype=np.uint8).reshape(28, 28)


# How uint8 pixels become the first layer's input.
#   "unit":   x / 255, in [0, 1]          (the default network)
#   "rashid": x / 255 * 0.99 + 0.01      (the book: never exactly zero)
INPUT_SCALINGS = ("unit", "rashid")


def to_input(images, scaling="unit"):
    """(n, 28, 28) or (n, 784) uint8 -> (n, 784) float32 network input."""
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    x *= np.float32(1 / 255)
    if scaling == "rashid":
        x *= np.float32(0.99)
        x += np.float32(0.01)
    elif scaling != "unit":
        raise ValueError("unknown input scaling %r (known: %s)" % (scaling, ", ".join(INPUT_SCALINGS)))
    return x
