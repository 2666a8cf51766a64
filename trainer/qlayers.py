"""A float layer stack (trainer/layers.py's Net, or the MLP, a stack of Dense and Act) ->
integer layer records, and their numpy `reference`: the integer arithmetic of each kind,
written once. trainer/quantize.py's quantize and reference are these for an MLP.

The scheme is trainer/quantize.py's, per output channel (a dense layer's: per neuron):
    real = s * (q - z);  the input q = pixel - 128 (s = 1/255, z = -128; the book's
    scaling: s = 0.99/255, the 0.01 folded into the first layer's bias)
    conv:  acc[o] = bias[o] + sum over ky, kx, c of Wq[o, ky, kx, c] * xp[s*i + ky, s*j + kx, c]
           xp: the input padded with its zero point z_x (a real 0, as in float), so the
           folded bias below holds for every window;
           bias[o] = round(b[o] / (s_x s_w[o])) - z_x * sum(Wq[o])
    dense: the same with one window, the whole (flattened, channels-last) input
    y = zero + ((acc * M + 2^(S-1)) >> S), M / 2^S ~ s_x s_w / s_y; clamp (ReLU: zero..127);
           then a sigmoid's lookup table (trainer/activations.py)
    pool:  the largest of the 2x2 int8 values (max commutes with the monotone requantisation)
    gap:   round half up of the mean: (2 * sum + h*w) // (2 * h*w), same scale and zero point
Records: dict(kind="conv"|"dense", W int8, bias int32, M uint16, S uint8, zero, act, lut,
stride, padding), dict(kind="pool"), dict(kind="gap"): the layers of a .gnet file (dense
layers only: version 1, else version 2; weights/FORMAT.md). A dense layer after a picture
reads it flattened, channels-last.
"""
from __future__ import annotations

import numpy as np

from trainer import activations, qformat
from trainer import layers as L
from trainer.preprocess import to_input
from trainer.quantize import requant_params


def activation_after(layers, i):
    """The activation on layer i's outputs: the activation layer right after it (ReLU, or
    an Act of trainer/activations.py's), else none (the last layer's: the scores)."""
    nxt = layers[i + 1] if i + 1 < len(layers) else None
    if isinstance(nxt, L.ReLU):
        return activations.get("relu")
    return nxt.act if isinstance(nxt, L.Act) else activations.get("none")


def calibrate(net, calib_images, chunk=None):
    """Per layer with weights, in order: the |pre-activations| it gives on `calib_images`
    ((n, 28, 28) uint8), (n * outputs,) float32 each; `chunk` images at a time (None: all
    at once; the MLP's export takes 2,000)."""
    seen = [[] for layer in net.layers if layer.params]
    shape = getattr(net, "input_shape", None)  # a picture's (h, w, c); an MLP reads (n_in,)
    chunk = chunk or len(calib_images)
    for at in range(0, len(calib_images), chunk):
        x = to_input(calib_images[at:at + chunk], net.input_scaling)
        if shape is not None:
            x = x.reshape((len(x),) + shape)
        k = 0
        for layer in net.layers:
            x = layer.forward(x)
            if layer.params:
                seen[k].append(np.abs(x).ravel())
                k += 1
    L.forget(net.layers)  # (no backward follows: a ConvNet's columns alone are 35 MB here)
    return [np.concatenate(v) for v in seen]


def quantize_net(net, calib_images, percentile=99.99, seen=None, ideal=False):
    """Integer records from a float layer stack (a Net or an MLP), each conv's and dense's
    output range taken from `calib_images` ((n, 28, 28) uint8 training digits) at
    `percentile` of |pre-activation| (100: the largest). seen: calibrate(net, ...) when
    already made. ideal=True keeps float multipliers (S None; not storable): the
    precision reference of trainer/quantize.py."""
    seen = calibrate(net, calib_images) if seen is None else seen
    # the input: real = a * pixel + c = a * (q + 128) + c, with q = pixel - 128
    a, c = (1 / 255, 0.0) if net.input_scaling == "unit" else (0.99 / 255, 0.01)
    s_x, z_x = a, -128
    out, k = [], 0
    for i, layer in enumerate(net.layers):
        if layer.params:  # a conv or dense
            v = seen[k]
            k += 1
            r = float(np.percentile(v, percentile)) if percentile < 100 else float(v.max())
            act = activation_after(net.layers, i)
            zero, s_y = act.scale(r)
            W = layer.W.astype(np.float64)  # (c_out, 3, 3, c_in) or (n_out, n_in)
            flat = W.reshape(len(W), -1)
            b = (layer.b.astype(np.float64) if getattr(layer, "bias", True) else np.zeros(len(W)))
            b = b + c * flat.sum(axis=1)  # the input's offset folded in (once: later inputs have none)
            c = 0.0
            s_w = np.maximum(np.abs(flat).max(axis=1), 1e-12) / 127  # (c_out,)
            Wq = np.clip(np.round(W / s_w.reshape((-1,) + (1,) * (W.ndim - 1))), -127, 127).astype(np.int8)
            rows = Wq.reshape(len(Wq), -1).astype(np.int64)  # (c_out, 9 * c_in) or (n_out, n_in)
            bias = np.round(b / (s_x * s_w)) - z_x * rows.sum(axis=1)
            lim = qformat.LIMIT // 2 - 384 * np.abs(rows).sum(axis=1)  # the bounds hold (quantize.py)
            bias = np.clip(bias, -lim, lim).astype(np.int32)
            m = s_x * s_w / s_y  # (c_out,) real multipliers
            if ideal:
                M, S = m, None
            else:
                MS = [requant_params(float(mi), int(ai)) for mi, ai in zip(m, qformat.bounds(rows, bias)[0])]
                M, S = np.array([p[0] for p in MS], np.uint16), np.array([p[1] for p in MS], np.uint8)
            rec = dict(kind="dense", W=Wq, bias=bias, M=M, S=S, zero=zero, act=act.name,
                       lut=act.lut(s_y) if act.lut else None, scale=s_y)
            if isinstance(layer, L.Conv2d):
                rec.update(kind="conv", stride=layer.stride, padding=layer.padding)
            out.append(rec)
            s_x, z_x = act.next_input(s_y) if act.next_input else (s_y, zero)  # what the next layer reads
        elif isinstance(layer, (L.MaxPool2, L.GlobalAvgPool)):
            out.append(dict(kind="pool" if isinstance(layer, L.MaxPool2) else "gap"))
    return out


def to_qmodel(net, calib_images, percentile=99.99, labels=None, seen=None):
    """A QModel (trainer/qformat.py: a version-2 .gnet) of a float Net, softmax scores.
    seen: calibrate(net, calib_images) when already made."""
    from trainer.quantize import output_table

    rec = quantize_net(net, calib_images, percentile, seen=seen)
    n = len(rec[-1]["W"])
    table = output_table("softmax", rec[-1]["scale"])
    h, w, c = net.input_shape
    return qformat.QModel(rec, labels or [str(i) for i in range(n)], "softmax", table, width=w, height=h, channels=c)


def _requant(acc, r):
    # y = zero + ((acc * M + 2^(S-1)) >> S), clamped, then the lookup table if the layer
    # has one; an ideal (float) multiplier, S None: rounded half up
    if r["S"] is None:
        y = np.floor(acc * r["M"] + 0.5).astype(np.int64)
    else:
        S = r["S"].astype(np.int64)
        y = (acc * r["M"].astype(np.int64) + (np.int64(1) << (S - 1))) >> S
    y = np.clip(y + r["zero"], *activations.get(r["act"]).clamp(r["zero"]))
    return y if r.get("lut") is None else r["lut"].astype(np.int64)[y + 128]


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
