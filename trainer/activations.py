"""The activations, one row each: all that training, quantisation, the pictures and the
command need to know about one. Nothing else in trainer/ branches on an activation's name.

A new activation (say hard tanh, clamp(z, -1, 1)) is a row here, its code and arithmetic
line in weights/FORMAT.md, and its clamp in device/gnet.py's _ACTS; an unknown name raises.

Integer side (weights/FORMAT.md): a layer's int8 output holds a = s_y * (q - zero); the
device computes y = zero + requantised accumulator, clamps it to `clamp(zero)` and, for
an activation with a lookup table, replaces it by lut[y + 128].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

# The sigmoid pre-activation's int8 range covers at most +/-SIGMOID_RANGE: beyond it the
# output (in steps of 1/256) has saturated anyway.
SIGMOID_RANGE = 8.0


def sigmoid(z):
    return np.float32(1) / (np.float32(1) + np.exp(-z))


@dataclass(frozen=True)
class Activation:
    name: str
    code: int                      # the layer record's `act` (weights/FORMAT.md)
    hidden: bool                   # offered for hidden layers (gentlenet train --hidden-act)
    forward: Callable              # z -> a, float arrays (may overwrite z)
    backprop: Callable             # (e, a) -> e * da/dz, from the layer's output a
    init_std: Callable             # n_in -> the standard deviation of a fresh weight
    inverse: Callable              # a -> z, the back-query's way back through the layer
    invertible: bool               # False: the back-query's picture is mostly noise
    squeeze: bool                  # the back-query rescales into (0.01, 0.99) first (bounded range)
    scale: Callable                # calibrated |z| range r -> (zero, s_y) of the int8 output
    clamp: Callable                # zero -> (lo, hi): the device's integer clamp
    lut: Optional[Callable] = None  # s_y -> (256,) int8 table the device applies after the clamp
    next_input: Optional[Callable] = None  # s_y -> (s_x, z_x) the next layer sees (default: s_y, zero)


def _sigmoid_lut(s_y):
    q = np.arange(-128, 128)
    return np.clip(np.round(sigmoid(q * s_y) * 256) - 128, -128, 127).astype(np.int8)  # (256,) int8


TABLE = {a.name: a for a in (
    # the last layer's: its int8 outputs are the scores (the output table makes them a confidence)
    Activation("none", 0, False, forward=lambda z: z, backprop=lambda e, a: e, init_std=lambda n: n ** -0.5,
               inverse=lambda a: a, invertible=True, squeeze=False,
               scale=lambda r: (0, max(r, 1e-6) / 127), clamp=lambda zero: (-128, 127)),
    Activation("relu", 1, True, forward=lambda z: np.maximum(z, 0, out=z), backprop=lambda e, a: e * (a > 0),
               init_std=lambda n: (2.0 / n) ** 0.5,  # He: keeps ReLU activations alive
               inverse=lambda a: a, invertible=False, squeeze=False,
               scale=lambda r: (-128, max(r, 1e-6) / 255), clamp=lambda zero: (zero, 127)),
    Activation("sigmoid", 2, True, forward=sigmoid, backprop=lambda e, a: e * a * (1 - a),
               init_std=lambda n: n ** -0.5,  # Rashid's
               inverse=lambda a: np.log(a / (1 - a)), invertible=True, squeeze=True,
               scale=lambda r: (0, min(max(r, 1e-6), SIGMOID_RANGE) / 127), clamp=lambda zero: (-128, 127),
               lut=_sigmoid_lut, next_input=lambda s_y: (1 / 256, -128)),  # LUT value q is (q + 128) / 256
)}
HIDDEN = tuple(a.name for a in TABLE.values() if a.hidden)
BY_CODE = tuple(sorted(TABLE.values(), key=lambda a: a.code))
assert [a.code for a in BY_CODE] == list(range(len(BY_CODE))), "activation codes must be 0, 1, 2, ..."


def get(name):
    """The activation called `name`; ValueError naming the known ones otherwise."""
    try:
        return TABLE[name]
    except (KeyError, TypeError):
        raise ValueError("unknown activation %r: one of %s" % (name, ", ".join(TABLE))) from None


def from_code(code):
    """The activation with .gnet code `code`; ValueError otherwise."""
    if not 0 <= code < len(BY_CODE):
        raise ValueError("unknown activation code %d" % code)
    return BY_CODE[code]
