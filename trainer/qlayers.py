"""A float layer stack (trainer/layers.py's Net) -> integer layer records, and their numpy
`reference`: the integer arithmetic of each kind, written once (issue 22, the step before
the .gnet records and the device kernels; not yet stored in a file).

The scheme is trainer/quantize.py's, per output channel as per neuron there:
    real = s * (q - z);  the input q = pixel - 128 (s = 1/255, z = -128)
    conv:  acc[o] = bias[o] + sum over ky, kx, c of Wq[o, ky, kx, c] * xp[s*i + ky, s*j + kx, c]
           xp: the input padded with its zero point z_x (a real 0, as in float), so the
           folded bias below holds for every window;
           bias[o] = round(b[o] / (s_x s_w[o])) - z_x * sum(Wq[o])
    dense: the same with one window, the whole (flattened, channels-last) input
    y = zero + ((acc * M + 2^(S-1)) >> S), M / 2^S ~ s_x s_w / s_y; clamp (ReLU: zero..127)
    pool:  the largest of the 2x2 int8 values (max commutes with the monotone requantisation)
    gap:   round half up of the mean: (2 * sum + h*w) // (2 * h*w), same scale and zero point
Records: dict(kind="conv"|"dense", W int8, bias int32, M uint16, S uint8, zero, act,
stride, padding), dict(kind="pool"), dict(kind="gap"): the layers of a .gnet file (version 2,
weights/FORMAT.md). A dense layer after a picture reads it flattened, channels-last.
"""
from __future__ import annotations

import numpy as np

from trainer import activations, qformat
from trainer import layers as L
from trainer.preprocess import to_input
from trainer.quantize import requant_params


def quantize_net(net, calib_images, percentile=99.99):
    """Integer records from a float Net, each conv's and dense's output range taken from
    `calib_images` ((n, 28, 28) uint8 training digits) at `percentile` of |pre-activation|."""
    x = to_input(calib_images).reshape((len(calib_images),) + net.input_shape)
    s_x, z_x = 1 / 255, -128
    out, last = [], max(i for i, layer in enumerate(net.layers) if layer.params)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, (L.Conv2d, L.Dense)):
            z = layer.forward(x)
            r = float(np.percentile(np.abs(z), percentile)) if percentile < 100 else float(np.abs(z).max())
            act = activations.get("none" if i == last else "relu")
            zero, s_y = act.scale(r)
            W = layer.W.astype(np.float64)
            flat = W.reshape(len(W), -1)
            s_w = np.maximum(np.abs(flat).max(axis=1), 1e-12) / 127  # (c_out,)
            Wq = np.clip(np.round(W / s_w.reshape((-1,) + (1,) * (W.ndim - 1))), -127, 127).astype(np.int8)
            rows = Wq.reshape(len(Wq), -1).astype(np.int64)  # (c_out, 9 * c_in) or (n_out, n_in)
            bias = np.round(layer.b / (s_x * s_w)) - z_x * rows.sum(axis=1)
            lim = qformat.LIMIT // 2 - 384 * np.abs(rows).sum(axis=1)  # as quantize.py: the bounds hold
            bias = np.clip(bias, -lim, lim).astype(np.int32)
            A = qformat.bounds(rows, bias)[0]
            MS = [requant_params(float(m), int(a)) for m, a in zip(s_x * s_w / s_y, A)]
            rec = dict(kind="dense", W=Wq, bias=bias, M=np.array([p[0] for p in MS], np.uint16),
                       S=np.array([p[1] for p in MS], np.uint8), zero=zero, act=act.name, lut=None, scale=s_y)
            if isinstance(layer, L.Conv2d):
                rec.update(kind="conv", stride=layer.stride, padding=layer.padding)
            out.append(rec)
            x = np.maximum(z, 0) if act.name == "relu" else z
            s_x, z_x = s_y, zero
        elif isinstance(layer, L.ReLU):
            continue  # applied with the layer before: the clamp at its zero point
        else:
            x = layer.forward(x)
            if not isinstance(layer, L.Flatten):  # a dense layer flattens what it reads
                out.append(dict(kind="pool" if isinstance(layer, L.MaxPool2) else "gap"))
    return out


def to_qmodel(net, calib_images, percentile=99.99, labels=None):
    """A QModel (trainer/qformat.py: a version-2 .gnet) of a float Net, softmax scores."""
    from trainer.quantize import output_table

    rec = quantize_net(net, calib_images, percentile)
    n = len(rec[-1]["W"])
    table = output_table("softmax", rec[-1]["scale"])
    h, w, c = net.input_shape
    return qformat.QModel(rec, labels or [str(i) for i in range(n)], "softmax", table, width=w, height=h, channels=c)


def _requant(acc, r):
    y = (acc * r["M"].astype(np.int64) + (np.int64(1) << (r["S"].astype(np.int64) - 1))) >> r["S"].astype(np.int64)
    return np.clip(y + r["zero"], *activations.get(r["act"]).clamp(r["zero"]))


CHUNK = 500  # images at a time: a conv's int64 sums for 10,000 digits would take 800 MB (a Pi Zero has 512)


def reference(records, images, input_shape=(28, 28, 1), input_offset=-128):
    """(n, h*w*c) or (n, h, w[, c]) uint8 -> (n, classes) int8 scores, every step in int64
    numpy (exact). A conv's padding reads its input's zero point: the pixels' offset for
    the first layer, the zero point of the conv or dense before it after. CHUNK images at
    a time."""
    images = np.asarray(images, np.uint8)
    if len(images) > CHUNK:
        return np.concatenate([reference(records, images[i:i + CHUNK], input_shape, input_offset)
                               for i in range(0, len(images), CHUNK)])
    x = images.reshape((len(images),) + tuple(input_shape)).astype(np.int64) + input_offset
    zx = input_offset
    for r in records:
        k = r.get("kind", "dense")
        if k == "conv":
            n, h, w, c = x.shape
            oh, t, bo = L.pads(h, r["stride"], r["padding"])
            ow, le, ri = L.pads(w, r["stride"], r["padding"])
            xp = np.pad(x, ((0, 0), (t, bo), (le, ri), (0, 0)), constant_values=zx)
            s = r["stride"]
            acc = np.zeros((n, oh, ow, len(r["W"])), np.int64) + r["bias"].astype(np.int64)
            W = r["W"].astype(np.int64)  # (c_out, 3, 3, c_in)
            for ky in range(3):
                for kx in range(3):
                    acc += xp[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :] @ W[:, ky, kx, :].T
            x, zx = _requant(acc, r), r["zero"]
        elif k == "dense":
            x = x.reshape(len(x), -1)
            x, zx = _requant(x @ r["W"].T.astype(np.int64) + r["bias"].astype(np.int64), r), r["zero"]
        elif k == "pool":
            n, h, w, c = x.shape
            x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        else:  # gap
            hw = x.shape[1] * x.shape[2]
            x = (2 * x.sum(axis=(1, 2)) + hw) // (2 * hw)
    return x.astype(np.int8)
