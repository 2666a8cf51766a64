"""A multi-layer perceptron in numpy float32 (a stack of trainer/layers.py's Dense and
activation layers), and its checkpoint file.

    x (n, 784) -> [W0 x + b0 -> act] -> ... -> [W_last x + b_last -> out_act] -> (n, 10)

Weights are stored as the device stores them, one row per output neuron:
    W[l]: (n_out, n_in) float32;  b[l]: (n_out,) float32 (zeros and unused when bias=False)
Hidden activations: trainer/activations.py's ("sigmoid": Rashid's network; "relu"). Output: "softmax" (trained
with cross-entropy) or "sigmoid" (trained with squared error towards 0.01/0.99 targets,
as in the book).
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from trainer import activations, layers
from trainer.activations import sigmoid

HIDDEN = activations.HIDDEN
OUTPUT = ("softmax", "sigmoid")


class MLP:
    """A stack of trainer/layers.py's layers: Dense, Act (the hidden activation), Dense, ...,
    Dense, with the output's softmax or sigmoid on top. `W` and `b` are the Dense layers'
    own arrays (training and a checkpoint load update them in place)."""

    def __init__(self, sizes, hidden="relu", output="softmax", bias=True, input_scaling="unit", seed=0, init=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError("layer sizes must be at least two positive numbers, got %s" % sizes)
        if hidden not in HIDDEN:
            raise ValueError("hidden activation %r: choose one of %s" % (hidden, ", ".join(HIDDEN)))
        self.act = activations.get(hidden)
        if output not in OUTPUT:
            raise ValueError("output %r: choose one of %s" % (output, ", ".join(OUTPUT)))
        self.sizes, self.hidden, self.output, self.bias = sizes, hidden, output, bool(bias)
        self.input_scaling = input_scaling
        rng = np.random.default_rng(seed)
        self.layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            # Rashid: N(0, n_in^-1/2) everywhere; otherwise the hidden activation's own.
            hidden_layer = len(self.layers) < 2 * (len(sizes) - 2)
            std = self.act.init_std(n_in) if (init != "rashid" and hidden_layer) else n_in ** -0.5
            self.layers.append(layers.Dense(n_in, n_out, rng, std=std, bias=self.bias))  # W: (n_out, n_in)
            if hidden_layer:
                self.layers.append(layers.Act(hidden))
        self.layers[0].first = True  # (the pixels need no gradient)
        self.dense = self.layers[::2]
        self.W = [d.W for d in self.dense]
        self.b = [d.b for d in self.dense]

    @property
    def params(self):
        return self.W + self.b

    # ---------------------------------------------------------------- forward / backward
    def forward(self, x):
        """x: (n, n_in) float32 -> [x, probabilities (n, n_classes)] (each layer keeps what
        its backward needs)."""
        z = layers.forward(self.layers, x)  # (n, n_classes), a new array
        return [x, layers.softmax(z) if self.output == "softmax" else sigmoid(z)]
    def loss_and_delta(self, out, labels, targets=(0.01, 0.99)):
        """(loss, delta, error): delta = d loss / d z of the output layer, (n, n_classes),
        averaged over the batch; error = the book's output error -(t - o) / n for a sigmoid
        output (what `backward(book=True)` propagates), None for softmax."""
        n = len(labels)
        rows = np.arange(n)
        if self.output == "softmax":
            loss = float(-np.log(np.maximum(out[rows, labels], 1e-12)).mean())
            delta = out.copy()
            delta[rows, labels] -= 1
            error = None
        else:
            t = np.full_like(out, targets[0])
            t[rows, labels] = targets[1]
            err = t - out  # the book's "output_errors"
            loss = float(0.5 * (err * err).sum(axis=1).mean())
            delta = -err * out * (1 - out)
            error = err / -n
        delta /= n
        return loss, delta, error

    def backward(self, acts, delta, error=None):
        """Gradients [dW0, .., db0, ..] from the output delta, through the layers.

        With the output `error` given, propagates the book's way: a layer's error is
        W.T @ (next layer's error), not of its delta, and the activation's slope is applied
        only where the weights are updated (Rashid, "Make Your Own Neural Network", train()).
        """
        if error is None:
            layers.backward(self.layers, delta)
        else:
            err = error
            for layer in reversed(self.layers):
                if isinstance(layer, layers.Act):
                    delta = layer.backward(err)  # the slope, applied to the error
                else:
                    layer.backward(delta)  # its gradients (what it passes on is not the book's)
                    if not layer.first:
                        err = err @ layer.W  # (n, n_in of the layer)
        return layers.grads(self.dense)

    # ---------------------------------------------------------------- checkpoints
    def architecture(self):
        return {"sizes": self.sizes, "hidden": self.hidden, "output": self.output,
                "bias": self.bias, "input_scaling": self.input_scaling}


CHECKPOINT_FORMAT = "gentlenet-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    pass


def save(model, path, meta=None, keep_previous=False, arrays=None):
    """Write the model as .npz: arrays W0.., b0.. (and any extra `arrays`) and `meta`,
    UTF-8 JSON as uint8 bytes. No pickle: `np.load(path, allow_pickle=False)` reads it.
    Written whole to a temporary file beside `path`, then renamed: an interrupted save or a
    full disk never leaves half a checkpoint, and the file at `path` stays until the new
    one is complete. keep_previous: that file is then kept as <name>.prev.npz; returns its
    path, or None."""
    info = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "architecture": model.architecture()}
    info.update(meta or {})
    out = {"meta": np.frombuffer(json.dumps(info, indent=1).encode(), dtype=np.uint8)}
    for l, (W, b) in enumerate(zip(model.W, model.b)):
        out["W%d" % l], out["b%d" % l] = W, b
    out.update(arrays or {})
    buf = io.BytesIO()
    np.savez(buf, **out)
    return write_atomic(path, buf.getvalue(), keep_previous)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path, data, keep_previous=False):
    """Write bytes to a new temporary file beside `path` (a fresh random name, opened
    O_EXCL, so no planted file or symlink is followed; then given the mode the umask gives
    any new file), fsync, rename: an interrupted write never leaves half a file under
    `path`. A full disk raises CheckpointError naming it, and `path` is untouched.
    keep_previous: an existing `path` becomes <stem>.prev<ext> only once the new file is
    complete; returns that name, else None."""
    import errno
    import tempfile

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=d)
    prev = None
    try:
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise CheckpointError("cannot write %s: %s (%d bytes needed); %s" % (
                    path, e.strerror, len(data), "the previous file is untouched" if os.path.exists(path)
                    else "nothing was written")) from None
            raise CheckpointError("cannot write %s: %s" % (path, e)) from None
        if keep_previous and os.path.isfile(path):
            stem, ext = os.path.splitext(path)
            prev = stem + ".prev" + (ext or ".npz")
            os.replace(path, prev)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return prev


def load(path):
    """(model, meta) from a checkpoint written by `save`; clear errors for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise CheckpointError("%s: no such file" % path) from None
    except OSError as e:
        raise CheckpointError("%s: cannot read it (%s)" % (path, e)) from None
    if head != b"PK\x03\x04":  # an .npz is a zip file
        what = ("an integer .gnet model (give it to `gentlenet eval` or `flash`; training and export need the "
                ".npz checkpoint)" if head == b"GNTL" else "a single numpy array (.npy)" if head == b"\x93NUM"
                else "not a zip file")
        raise CheckpointError("%s: not a gentlenet checkpoint (.npz, written by `gentlenet train`): %s" % (path, what))
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError("%s: no such file" % path) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError("%s: not a gentlenet checkpoint (.npz): %s" % (path, e)) from None
    with z:
        try:
            if "meta" not in z.files:
                raise CheckpointError("%s: no 'meta' entry; not a gentlenet checkpoint" % path)
            try:
                meta = json.loads(bytes(z["meta"]).decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CheckpointError("%s: its metadata is not valid JSON (%s)" % (path, e)) from None
            if meta.get("format") != CHECKPOINT_FORMAT:
                raise CheckpointError("%s: format %r, expected %r" % (path, meta.get("format"), CHECKPOINT_FORMAT))
            if meta.get("version") != CHECKPOINT_VERSION:
                raise CheckpointError("%s: checkpoint version %r; this gentlenet reads version %d" %
                                      (path, meta.get("version"), CHECKPOINT_VERSION))
            arch = meta["architecture"]
            if "arch" in arch:  # a layer stack (trainer/layers.py): its arrays go into its layers
                from trainer.layers import Net

                try:
                    model = Net(arch["arch"], tuple(arch.get("input_shape", (28, 28, 1))))
                except ValueError as e:
                    raise CheckpointError("%s: %s" % (path, e)) from None
            else:
                model = MLP(arch["sizes"], arch["hidden"], arch["output"], arch["bias"],
                            arch.get("input_scaling", "unit"))
            for l in range(len(model.W)):
                for name, want in (("W%d" % l, model.W[l].shape), ("b%d" % l, model.b[l].shape)):
                    if name not in z.files:
                        raise CheckpointError("%s: array %s is missing" % (path, name))
                    a = z[name]
                    if a.shape != want:
                        raise CheckpointError("%s: %s has shape %s, the architecture %s needs %s" %
                                              (path, name, a.shape, arch.get("arch") or arch["sizes"], want))
                    if not np.isfinite(a).all():
                        raise CheckpointError("%s: %s contains NaN or infinite values" % (path, name))
                    # in place: a layer stack's layers hold these very arrays
                    (model.W if name[0] == "W" else model.b)[l][...] = a.astype(np.float32)
        except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError("%s: damaged checkpoint (%s: %s)" % (path, type(e).__name__, e)) from None
    return model, meta
