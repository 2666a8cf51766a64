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

from trainer import activations, qformat
from trainer.preprocess import to_input


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
    """Per layer: the |pre-activations| observed on `images`, (n * n_out,) float32 each."""
    seen = [[] for _ in model.W]
    for i in range(0, len(images), chunk):
        x = to_input(images[i:i + chunk], model.input_scaling)
        for l, (W, b) in enumerate(zip(model.W, model.b)):
            z = x @ W.T + (b if model.bias else 0)  # (n, n_out)
            seen[l].append(np.abs(z).ravel())
            x = model.act.forward(z)
    return [np.concatenate(s) for s in seen]


def quantize(model, calib_images, percentile=99.99, labels=None, ideal=False, seen=None):
    """A QModel from a float MLP, its activation ranges taken from `calib_images` (training
    digits, (n, 28, 28) uint8) at `percentile` of |pre-activation| (100 = the maximum).
    seen: calibrate(model, calib_images) when already computed.
    ideal=True returns float multipliers instead (not storable): the precision reference."""
    seen = calibrate(model, calib_images) if seen is None else seen
    ranges = [float(np.percentile(v, percentile)) if percentile < 100 else float(v.max()) for v in seen]
    # input: real = a * pixel + c = a * (q + 128) + c, with q = pixel - 128
    a, c = (1 / 255, 0.0) if model.input_scaling == "unit" else (0.99 / 255, 0.01)
    s_x, z_x = a, -128
    layers, last = [], len(model.W) - 1
    for l, (W, b) in enumerate(zip(model.W, model.b)):
        W = W.astype(np.float64)  # (n_out, n_in)
        b = (b.astype(np.float64) if model.bias else np.zeros(len(W))) + c * W.sum(axis=1)  # input offset folded in
        c = 0.0
        s_w = np.maximum(np.abs(W).max(axis=1), 1e-12) / 127  # (n_out,)
        Wq = np.clip(np.round(W / s_w[:, None]), -127, 127).astype(np.int8)
        act = activations.get("none") if l == last else model.act  # the last layer's outputs are the scores
        zero, s_y = act.scale(ranges[l])
        bias = np.round(b / (s_x * s_w)) - z_x * Wq.astype(np.int64).sum(axis=1)
        lim = qformat.LIMIT // 2 - 384 * np.abs(Wq.astype(np.int64)).sum(axis=1)
        bias = np.clip(bias, -lim, lim).astype(np.int32)
        m = s_x * s_w / s_y  # (n_out,) real multipliers
        A = qformat.bounds(Wq, bias)[0]
        if ideal:
            M, S = m, None
        else:
            MS = [requant_params(float(mi), int(Ai)) for mi, Ai in zip(m, A)]
            M = np.array([p[0] for p in MS], np.uint16)
            S = np.array([p[1] for p in MS], np.uint8)
        lut = act.lut(s_y) if act.lut else None
        s_x, z_x = act.next_input(s_y) if act.next_input else (s_y, zero)  # the next layer's input
        layers.append({"W": Wq, "bias": bias, "M": M, "S": S, "act": act.name, "zero": zero, "lut": lut})
    output = "softmax" if model.output == "softmax" else "sigmoid"
    return qformat.QModel(layers, labels or [str(i) for i in range(model.sizes[-1])], output,
                          output_table(output, s_y), input_offset=-128)


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


def reference(q, images, chunk=4096):
    """(n, 28, 28) or (n, 784) uint8 -> (n, n_classes) int8 scores: FORMAT.md's arithmetic,
    in int64 numpy (exact, as every intermediate is < 2^30 in magnitude)."""
    if q.convnet:  # a ConvNet (format version 2)
        from trainer import qlayers

        return qlayers.reference(q.layers, images, (q.height, q.width, q.channels), q.input_offset)
    x_all = np.asarray(images, np.uint8).reshape(len(images), -1)
    out = np.empty((len(x_all), len(q.labels)), np.int8)
    for i in range(0, len(x_all), chunk):
        x = x_all[i:i + chunk].astype(np.int64) + q.input_offset  # (n, n_in) int8 values
        for L in q.layers:
            acc = x @ L["W"].T.astype(np.int64) + L["bias"].astype(np.int64)  # (n, n_out)
            if L["S"] is None:  # ideal (float) multiplier: round half up
                y = np.floor(acc * L["M"] + 0.5).astype(np.int64)
            else:
                y = (acc * L["M"].astype(np.int64) + (np.int64(1) <<
                                                      (L["S"].astype(np.int64) - 1))) >> L["S"].astype(np.int64)
            y += L["zero"]
            y = np.clip(y, *activations.get(L["act"]).clamp(L["zero"]))
            if L["lut"] is not None:
                y = L["lut"].astype(np.int64)[y + 128]
            x = y
        out[i:i + chunk] = x
    return out


def argmax(scores):
    """Index of the highest score; ties go to the lowest index (as np.argmax does)."""
    return np.asarray(scores).argmax(axis=1)
