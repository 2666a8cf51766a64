"""Float MLP -> integer-only QModel (post-training calibration), and the numpy `reference`
inference: weights/FORMAT.md's arithmetic, vectorised, the answer every runtime must give.

Scheme (TFLite-Micro's int8 scheme, with a 32-bit-safe requantisation):
    real = s * (q - z)
    input   q = pixel - 128                                (s = 1/255 or 0.99/255, z = -128)
    weights q = round(W / s_w[c]), s_w[c] = max|W[c]| / 127 (symmetric, per output neuron)
    bias    q = round(b / (s_x s_w[c])) - z_x * sum(Wq[c])  (the input zero point folded in)
    acc[c]  = bias[c] + sum_i Wq[c, i] x[i]
    y[c]    = zero + ((acc[c] * M[c] + 2^(S[c]-1)) >> S[c]),   M / 2^S ~ s_x s_w[c] / s_y
    out[c]  = clamp(y, lo, hi), then lut[out[c] + 128] where the activation has a table
              (trainer/activations.py: none -128..127, relu zero..127, sigmoid -128..127 + lut)
M gets as many bits as |acc| * M + 2^(S-1) < 2^30 allows for every possible input (the
bound A in qformat.bounds); TFLM's 31-bit multiplier and 64-bit product do not fit in a
MicroPython small int, so `quantize(..., ideal=True)` measures what this costs.
"""
from __future__ import annotations

import numpy as np

from trainer import qformat


def requant_params(m, A):
    """(M, S) for the real multiplier m > 0 of a neuron whose |acc| <= A: the largest shift
    S in 1..30 with M = round(m 2^S) <= 65535 and A M + 2^(S-1) <= 2^30 - 1."""
    for S in range(30, 0, -1):
        M = int(round(m * (1 << S)))
        if 1 <= M <= 0xFFFF and A * M + (1 << (S - 1)) <= qformat.LIMIT:
            return M, S
        if M < 1 and A + (1 << (S - 1)) <= qformat.LIMIT:
            return 1, S  # m < 2^-30: y is (almost) always the zero point
    raise ValueError("cannot requantise multiplier %g with |acc| up to %d within 2^30" % (m, A))


def calibrate(model, images, chunk=2000):
    """Per layer: the |pre-activations| observed on `images`, (n * n_out,) float32 each
    (trainer/qlayers.py's calibrate, 2,000 digits at a time)."""
    from trainer import qlayers

    return qlayers.calibrate(model, images, chunk)


def quantize(model, calib_images, percentile=99.99, labels=None, ideal=False, seen=None):
    """A QModel from a float MLP (trainer/qlayers.py's quantize_net: its Dense layers' records),
    its activation ranges taken from `calib_images` (training digits, (n, 28, 28) uint8)
    at `percentile` of |pre-activation| (100 = the maximum). seen: calibrate(model,
    calib_images) when already computed. ideal=True returns float multipliers instead
    (not storable): the precision reference."""
    from trainer import qlayers

    seen = calibrate(model, calib_images) if seen is None else seen
    layers = qlayers.quantize_net(model, calib_images, percentile, seen=seen, ideal=ideal)
    output = "softmax" if model.output == "softmax" else "sigmoid"
    return qformat.QModel(layers, labels or [str(i) for i in range(model.sizes[-1])], output,
                          output_table(output, layers[-1]["scale"]), input_offset=-128)


def output_table(output, s):
    """(256,) uint16. softmax: T[k] = round(32767 exp(-k s)), the weight of a class k steps
    below the top score; sigmoid: T[q + 128] = round(10000 sigmoid(q s)), in 1/10000."""
    k = np.arange(256, dtype=np.float64)
    if output == "softmax":
        return np.round(32767 * np.exp(-k * s)).astype(np.uint16)
    return np.round(10000 / (1 + np.exp(-(k - 128) * s))).astype(np.uint16)


def confidence(q, scores):
    """scores (n, n_classes) int8 -> (n,) int, the top class's probability in 1/10000,
    exactly as the device computes it from the output table."""
    s = np.asarray(scores, np.int64)
    top = s.max(axis=1)
    T = q.table.astype(np.int64)
    if q.output == "softmax":
        total = T[top[:, None] - s].sum(axis=1)
        return (T[0] * 10000 + total // 2) // total
    return T[top + 128]


def reference(q, images):
    """(n, 28, 28) or (n, 784) uint8 -> (n, n_classes) int8 scores: FORMAT.md's arithmetic,
    in int64 numpy (exact, as every intermediate is < 2^30 in magnitude): trainer/qlayers.py's
    reference, which has each kind's."""
    from trainer import qlayers

    shape = (q.height, q.width, q.channels) if q.convnet else (q.layers[0]["W"].shape[1],)
    return qlayers.reference(q.layers, images, shape, q.input_offset)


def argmax(scores):
    """Index of the highest score; ties go to the lowest index (as np.argmax does)."""
    return np.asarray(scores).argmax(axis=1)
