"""Layers as the unit: each kind owns its forward and its backward, in numpy.

The first step of ConvNets (issue 22): the layer kinds a small digit ConvNet needs, each a
class with `forward(x)` (keeping what its backward needs) and `backward(dy) -> dx` (filling
its parameters' gradients), so a model is a list of layers and a new kind is one class.
`build` turns a readable spec (`conv8,pool,conv16,pool,dense10`) into such a list; `Net`
trains with trainer/train.py's loop when the settings name an `arch` (`gentlenet train`
does not offer one yet: it trains trainer/mlp.py's MLP).

Activations are channels-last, as a board walks them (one pixel's channels side by side):
    image batches x: (n, h, w, c) float32;  vectors: (n, features) float32
Weights are stored one row per output neuron or channel, as the .gnet stores dense rows:
    Dense.W: (n_out, n_in);  Conv2d.W: (c_out, 3, 3, c_in), row-major;  b: (n_out,)
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from trainer import activations


class Layer:
    """A layer without parameters unless it says so; `params` and `grads` pair up. `first`:
    the network's first layer, whose backward need not pass a gradient on (the picture
    has none to take: a Dense or Conv2d then returns None and saves the product)."""
    params: list = []
    grads: list = []
    first = False

    def out_shape(self, shape):
        return shape


class Dense(Layer):
    """y = x W.T + b: x (n, n_in) -> (n, n_out). bias=False: y = x W.T (Rashid's network;
    b stays zeros and its gradient is zeros)."""

    def __init__(self, n_in, n_out, rng, std=None, bias=True):
        std = (2.0 / n_in) ** 0.5 if std is None else std  # He: the ReLU after keeps the variance
        self.W = (rng.standard_normal((n_out, n_in)) * std).astype(np.float32)  # (n_out, n_in)
        self.b = np.zeros(n_out, np.float32)  # (n_out,)
        self.bias = bool(bias)
        self.params = [self.W, self.b]

    def out_shape(self, shape):
        return (self.W.shape[0],)

    def forward(self, x):
        self.x = x
        y = x @ self.W.T  # (n, n_out)
        if self.bias:
            y += self.b
        return y

    def backward(self, dy):
        self.grads = [dy.T @ self.x, dy.sum(axis=0) if self.bias else np.zeros_like(self.b)]
        return None if self.first else dy @ self.W


def pads(size, stride, padding):
    # (output size, padding before, padding after) of a 3-wide window along one axis.
    # 'same' as TensorFlow: ceil(size / stride) outputs, the odd pixel of padding after;
    # 'valid': only windows wholly inside
    if padding == "valid":
        return (size - 3) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + 3 - size, 0)
    return out, total // 2, total - total // 2


class Conv2d(Layer):
    """3x3 convolution, stride 1 or 2, 'same' or 'valid': x (n, h, w, c_in) -> (n, oh, ow, c_out).

    y[n, i, j, o] = b[o] + sum over ky, kx, c of W[o, ky, kx, c] * xp[n, s*i + ky, s*j + kx, c],
    xp the input padded with zeros as pads says. Computed as one matrix product over the
    9 * c_in values under each window (im2col)."""

    def __init__(self, c_in, c_out, rng, stride=1, padding="same", std=None):
        if stride not in (1, 2) or padding not in ("same", "valid"):
            raise ValueError("conv2d: stride 1 or 2 and padding 'same' or 'valid', got %r, %r" % (stride, padding))
        std = (2.0 / (9 * c_in)) ** 0.5 if std is None else std
        self.W = (rng.standard_normal((c_out, 3, 3, c_in)) * std).astype(np.float32)  # (c_out, 3, 3, c_in)
        self.b = np.zeros(c_out, np.float32)  # (c_out,)
        self.stride, self.padding = stride, padding
        self.params = [self.W, self.b]

    def out_shape(self, shape):
        h, w, _ = shape
        return (pads(h, self.stride, self.padding)[0], pads(w, self.stride, self.padding)[0], self.W.shape[0])

    def forward(self, x):
        n, h, w, c = x.shape
        s = self.stride
        oh, t, bo = pads(h, s, self.padding)
        ow, le, ri = pads(w, s, self.padding)
        xp = np.pad(x, ((0, 0), (t, bo), (le, ri), (0, 0)))  # (n, h + t + bo, w + le + ri, c)
        sn, sh, sw, sc = xp.strides
        cols = as_strided(xp, (n, oh, ow, 3, 3, c), (sn, s * sh, s * sw, sh, sw, sc))  # a view, no copy
        self.cols = cols.reshape(n * oh * ow, 9 * c)  # (n*oh*ow, 9*c_in): the copy
        self.shape, self.pads = x.shape, (t, le, xp.shape[1], xp.shape[2])
        y = self.cols @ self.W.reshape(len(self.W), -1).T + self.b  # (n*oh*ow, c_out)
        return y.reshape(n, oh, ow, -1)

    def backward(self, dy):
        n, oh, ow, co = dy.shape
        _, h, w, c = self.shape
        s = self.stride
        t, le, hp, wp = self.pads
        d2 = dy.reshape(-1, co)  # (n*oh*ow, c_out)
        self.grads = [(d2.T @ self.cols).reshape(self.W.shape), d2.sum(axis=0)]
        if self.first:
            return None
        dcols = (d2 @ self.W.reshape(co, -1)).reshape(n, oh, ow, 3, 3, c)
        dxp = np.zeros((n, hp, wp, c), dy.dtype)
        for ky in range(3):  # each input pixel gets the gradient of every window it is in
            for kx in range(3):
                dxp[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :] += dcols[:, :, :, ky, kx, :]
        return dxp[:, t:t + h, le:le + w, :]


class MaxPool2(Layer):
    """2x2 max pool, stride 2: (n, h, w, c) -> (n, h // 2, w // 2, c); an odd last row or
    column is dropped. The gradient goes to the first maximum of each window only."""

    def out_shape(self, shape):
        return (shape[0] // 2, shape[1] // 2, shape[2])

    def forward(self, x):
        n, h, w, c = x.shape
        oh, ow = h // 2, w // 2
        win = x[:, :2 * oh, :2 * ow].reshape(n, oh, 2, ow, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, 4)
        self.arg, self.shape = win.argmax(axis=-1), x.shape  # (n, oh, ow, c): which of the 4
        return win.max(axis=-1)

    def backward(self, dy):
        n, h, w, c = self.shape
        oh, ow = h // 2, w // 2
        win = np.zeros((n, oh, ow, c, 4), dy.dtype)
        np.put_along_axis(win, self.arg[..., None], dy[..., None], axis=-1)
        dx = np.zeros(self.shape, dy.dtype)
        win = win.reshape(n, oh, ow, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)  # (n, oh, 2, ow, 2, c)
        dx[:, :2 * oh, :2 * ow] = win.reshape(n, 2 * oh, 2 * ow, c)
        return dx


class GlobalAvgPool(Layer):
    """The mean of each channel over the picture: (n, h, w, c) -> (n, c)."""

    def out_shape(self, shape):
        return (shape[2],)

    def forward(self, x):
        self.shape = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, dy):
        n, h, w, c = self.shape
        return np.broadcast_to(dy[:, None, None, :] / (h * w), self.shape).copy()


class Flatten(Layer):
    """(n, h, w, c) -> (n, h*w*c), channels fastest (the order a board reads them in)."""

    def out_shape(self, shape):
        return (int(np.prod(shape)),)

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class ReLU(Layer):
    def forward(self, x):
        self.on = x > 0
        return x * self.on

    def backward(self, dy):
        return dy * self.on


class Act(Layer):
    """A hidden layer's activation, by name (trainer/activations.py: sigmoid, relu, ...):
    forward keeps its output a, backward multiplies by the slope taken from a."""

    def __init__(self, name):
        self.act = activations.get(name)

    def forward(self, z):
        self.a = self.act.forward(z)
        return self.a

    def backward(self, dy):
        return self.act.backprop(dy, self.a)


def build(spec, input_shape=(28, 28, 1), seed=0):
    """A readable spec -> a list of layers, a ReLU after every conv and dense but the last.

    spec: comma-separated kinds: `conv8` (3x3, 8 channels, stride 1, same), `conv8s2`
    (stride 2), `conv8v` / `conv8s2v` (valid), `pool` (2x2 max), `gap` (global average),
    `dense10` (flattens first if needed). The last must be a dense layer."""
    rng = np.random.default_rng(seed)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or not parts[-1].startswith("dense"):
        raise ValueError("layer spec %r: it must end with a dense layer (e.g. dense10)" % spec)
    layers, shape = [], tuple(input_shape)
    for k, p in enumerate(parts):
        try:
            if p.startswith("conv"):
                if len(shape) != 3:
                    raise ValueError("a conv needs a picture, it gets %s values" % shape[0])
                body = p[4:]
                valid = body.endswith("v")
                body = body[:-1] if valid else body
                ch, _, st = body.partition("s")
                new = [Conv2d(shape[2], int(ch), rng, stride=int(st or 1), padding="valid" if valid else "same")]
            elif p == "pool":
                new = [MaxPool2()]
            elif p == "gap":
                new = [GlobalAvgPool()]
            elif p.startswith("dense"):
                new = [Flatten()] if len(shape) == 3 else []
                n_in = int(np.prod(shape))
                new.append(Dense(n_in, int(p[5:]), rng, std=None if k < len(parts) - 1 else n_in ** -0.5))
            else:
                raise ValueError("unknown kind")
        except ValueError as e:
            raise ValueError("layer spec %r, part %d %r: %s (kinds: convN, convNs2, convNv, pool, gap, denseN)"
                             % (spec, k + 1, p, e)) from None
        for layer in new:
            shape = layer.out_shape(shape)
            if min(shape) < 1:
                raise ValueError("layer spec %r, part %d %r: nothing left of the picture" % (spec, k + 1, p))
        if k < len(parts) - 1 and isinstance(new[-1], (Conv2d, Dense)):
            new.append(ReLU())
        layers += new
    layers[0].first = True
    return layers


def forward(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def backward(layers, dy):
    """The gradient of the loss through the layers, last to first, each filling its grads;
    returns the input's, None when the first layer is marked `first`."""
    for layer in reversed(layers):
        dy = layer.backward(dy)
    return dy


def forget(layers):
    """Drop the arrays each layer keeps for its backward: after a forward that only
    predicts, so that the next chunk's arrays need no room beside them (6 MB of an MLP's
    2,000-digit chunk)."""
    for layer in layers:
        for name in ("x", "cols", "a", "on", "arg"):
            layer.__dict__.pop(name, None)


def softmax(z):
    """Each row of z (n, classes) -> its probabilities, in place: z is overwritten."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def grads(held):
    """The gradients of the layers that hold weights, as a trainer steps them: every
    weight array's, then every bias's (trainer/train.py pairs them with `params`)."""
    return [layer.grads[0] for layer in held] + [layer.grads[1] for layer in held]


def macs(layers, input_shape=(28, 28, 1)):
    """Multiply-adds per image: what a board's integer kernels will spend."""
    total, shape = 0, tuple(input_shape)
    for layer in layers:
        out = layer.out_shape(shape)
        if isinstance(layer, Conv2d):
            total += int(np.prod(out)) * 9 * shape[2]
        elif isinstance(layer, Dense):
            total += layer.W.size
        shape = out
    return total


class Net:
    """A list of layers with a softmax on top, trained as trainer/train.py trains the MLP:
    `params` (every weight array, then every bias), `forward`, `loss_and_delta`, `backward`."""

    input_scaling = "unit"  # pixels / 255, as the MLP's default

    def __init__(self, spec, input_shape=(28, 28, 1), seed=0):
        self.spec, self.input_shape = spec, tuple(input_shape)
        self.layers = build(spec, input_shape, seed)
        self.held = [layer for layer in self.layers if layer.params]  # the layers with weights
        self.W = [layer.params[0] for layer in self.held]
        self.b = [layer.params[1] for layer in self.held]
        self.params = self.W + self.b

    def architecture(self):
        """What a checkpoint (trainer/mlp.py's save and load) needs to build it again."""
        return {"arch": self.spec, "input_shape": list(self.input_shape), "output": "softmax",
                "input_scaling": self.input_scaling}

    def forward(self, x):
        """x: (n, 784) or (n, 28, 28) float32 -> [x, probabilities (n, classes)]."""
        return [x, softmax(forward(self.layers, x.reshape((len(x),) + self.input_shape)))]

    def loss_and_delta(self, out, labels, targets=None):
        rows = np.arange(len(labels))
        loss = float(-np.log(np.maximum(out[rows, labels], 1e-12)).mean())
        delta = out.copy()
        delta[rows, labels] -= 1
        return loss, delta / len(labels), None

    def backward(self, acts, delta, error=None):
        backward(self.layers, delta)
        return grads(self.held)
