"""trainer/layers.py, a network's layer kinds (tests/test_layers.py checks the code's import
layers): every kind's forward against plain loops written from its docstring, and every
backward against central differences (float64)."""
import numpy as np
import pytest

from conftest import central_difference, small_convnet
from trainer import layers as L


def conv_loops(x, W, b, stride, padding):
    # the docstring's sum, one output at a time
    n, h, w, c = x.shape
    oh, t, bo = L.pads(h, stride, padding)
    ow, le, ri = L.pads(w, stride, padding)
    xp = np.zeros((n, h + t + bo, w + le + ri, c))
    xp[:, t:t + h, le:le + w] = x
    y = np.zeros((n, oh, ow, len(W)))
    for i in range(oh):
        for j in range(ow):
            for o in range(len(W)):
                window = xp[:, stride * i:stride * i + 3, stride * j:stride * j + 3, :]  # (n, 3, 3, c)
                y[:, i, j, o] = b[o] + (window * W[o]).sum(axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("size", [(7, 7), (8, 6), (5, 9)])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv_equals_its_loops(size, stride, padding):
    rng = np.random.default_rng(1)
    conv = L.Conv2d(2, 3, rng, stride=stride, padding=padding)
    conv.b[:] = rng.standard_normal(3)
    x = rng.standard_normal((2,) + size + (2,)).astype(np.float32)
    y = conv.forward(x)
    want = conv_loops(x, conv.W, conv.b, stride, padding)
    assert y.shape == want.shape == (2,) + conv.out_shape(size + (2,))
    assert np.allclose(y, want, atol=1e-5)


def test_same_padding_is_tensorflows():
    # ceil(size / stride) outputs; the odd pixel of padding goes after
    assert L.pads(28, 1, "same") == (28, 1, 1)
    assert L.pads(28, 2, "same") == (14, 0, 1)
    assert L.pads(7, 2, "same") == (4, 1, 1)
    assert L.pads(28, 2, "valid") == (13, 0, 0)


def test_max_pool_and_global_average_equal_their_loops():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 7, 3))
    y = L.MaxPool2().forward(x)
    assert y.shape == (2, 2, 3, 3)
    for i in range(2):
        for j in range(3):
            assert np.array_equal(y[:, i, j], x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(1, 2)))
    assert np.allclose(L.GlobalAvgPool().forward(x), x.sum(axis=(1, 2)) / 35)


def as_float64(layers):
    for layer in layers:
        if layer.params:
            layer.W, layer.b = layer.W.astype(np.float64), layer.b.astype(np.float64)
            layer.b += np.random.default_rng(3).standard_normal(layer.b.shape) * 0.1
            layer.params = [layer.W, layer.b]
    return layers


def check_gradients(layers, x, eps=1e-6, tol=1e-6):
    # loss = sum(y * r): d loss / d y = r; every input and parameter value nudged both ways
    rng = np.random.default_rng(4)
    first = layers[0].first
    layers[0].first = False  # the input's gradient too, checked below
    y = L.forward(layers, x)
    r = rng.standard_normal(y.shape)
    dx = L.backward(layers, r)
    if first:  # marked first (build does), the same parameter gradients and no input gradient
        kept = [g.copy() for layer in layers for g in layer.grads]
        layers[0].first = True
        assert L.backward(layers, r) is None
        assert all(np.array_equal(a, b) for a, b in zip(kept, [g for layer in layers for g in layer.grads]))
        layers[0].first = False
    grads = [g for layer in layers for g in layer.grads]
    params = [p for layer in layers for p in layer.params]
    loss = lambda: float((L.forward(layers, x) * r).sum())  # noqa: E731
    for value, grad in [(x, dx)] + list(zip(params, grads)):
        assert grad.shape == value.shape
        flat, gflat = value.reshape(-1), grad.reshape(-1)
        for k in rng.choice(flat.size, min(flat.size, 40), replace=False):
            num = central_difference(flat, k, loss, eps)
            assert abs(num - gflat[k]) < tol * max(1.0, abs(gflat[k])), (type(value), k)


@pytest.mark.parametrize("stride,padding", [(1, "same"), (2, "same"), (1, "valid"), (2, "valid")])
def test_conv_backward_is_the_gradient(stride, padding):
    rng = np.random.default_rng(5)
    layers = as_float64([L.Conv2d(2, 3, rng, stride=stride, padding=padding)])
    check_gradients(layers, rng.standard_normal((2, 7, 6, 2)))


@pytest.mark.parametrize("spec", ["conv4,pool,conv6s2,dense5", "conv3s2,conv5s2v,gap,dense4", "dense7,dense3"])
def test_whole_stacks_backward_is_the_gradient(spec):
    rng = np.random.default_rng(6)
    shape = (4, 12) if spec.startswith("dense") else (11, 10, 1)
    layers = as_float64(L.build(spec, shape if len(shape) == 3 else (12,), seed=1))
    # inputs away from the ReLUs' and the pools' kinks at these sizes of nudge
    check_gradients(layers, rng.standard_normal((2,) + (shape if len(shape) == 3 else (12,))))


def test_build_reads_a_spec_into_layers():
    net = L.build("conv8,pool,conv16,pool,dense10")
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2", "Conv2d", "ReLU", "MaxPool2", "Flatten", "Dense"]
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 1)).astype(np.float32)
    assert L.forward(net, x).shape == (3, 10)
    assert net[-1].W.shape == (10, 7 * 7 * 16)
    emlearn = L.build("conv8s2,conv12s2,conv18s2,gap,dense10")  # emlearn-micropython's MNIST CNN's shape
    assert [layer.out_shape for layer in emlearn] and L.forward(emlearn, x).shape == (3, 10)
    assert emlearn[4].W.shape == (18, 3, 3, 12)


@pytest.mark.parametrize("spec,words", [
    ("conv8,pool", "must end with a dense"),
    ("conv8,wobble,dense10", "part 2 'wobble': unknown kind"),
    ("conv8s3,dense10", "stride 1 or 2"),
    ("dense10,conv8,dense10", "a conv needs a picture"),
    ("pool,pool,pool,pool,pool,dense10", "nothing left of the picture"),
])
def test_build_names_what_is_wrong(spec, words):
    with pytest.raises(ValueError, match=words):
        L.build(spec)


def test_the_mlp_is_a_stack_of_dense_layers():
    # Dense, Act, Dense, ...: its W and b are the layers' own arrays, and its backward is
    # the layers' (the book's way too, which takes the error through W, not the delta)
    from trainer.mlp import MLP

    for kw in (dict(), dict(hidden="sigmoid", output="sigmoid", bias=False)):
        m = MLP([12, 7, 5, 3], seed=3, **kw)
        assert [type(layer).__name__ for layer in m.layers] == ["Dense", "Act", "Dense", "Act", "Dense"]
        assert all(a is d.W for a, d in zip(m.W, m.dense)) and all(a is d.b for a, d in zip(m.b, m.dense))
        x = np.random.default_rng(1).random((4, 12), dtype=np.float32)
        h1 = m.act.forward(x @ m.W[0].T + (m.b[0] if m.bias else 0))
        h2 = m.act.forward(h1 @ m.W[1].T + (m.b[1] if m.bias else 0))
        acts = m.forward(x)
        assert np.allclose(m.layers[3].a, h2)
        _, delta, error = m.loss_and_delta(acts[-1], np.array([0, 1, 2, 0]))
        g = m.backward(acts, delta)
        assert np.allclose(g[0], (m.act.backprop(m.act.backprop(delta @ m.W[2], h2) @ m.W[1], h1)).T @ x, atol=1e-6)
        if error is not None:  # the book's: the error goes back through W, the slope only where W is updated
            g = m.backward(acts, delta, error)
            assert np.allclose(g[0], m.act.backprop((error @ m.W[2]) @ m.W[1], h1).T @ x, atol=1e-6)
            assert not np.allclose(g[0], m.backward(acts, delta)[0], atol=1e-6)


def test_multiply_adds_are_counted_per_layer():
    # conv8 on 28x28x1: 28*28*8 outputs of 9 products; conv16 on 14x14x8: 14*14*16 of 72; dense 784 -> 10
    assert L.macs(L.build("conv8,pool,conv16,pool,dense10")) == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 72 + 7 * 7 * 16 * 10


def test_a_convnet_learns_digits(mnist):
    """Net trains with the MLP's loop (momentum SGD, the same updates) and learns: on 1,000
    training digits, 5 epochs, a small ConvNet reads at least 80 % of 500 test digits (an
    untrained one reads about 10 %)."""
    from trainer.preprocess import to_input

    tr, te = mnist
    net = L.Net("conv4s2,conv8s2,dense10", seed=0)
    vel = [np.zeros_like(p) for p in net.params]
    rng = np.random.default_rng(0)
    some = rng.permutation(len(tr))[:1000]  # the sample is sorted by label
    for epoch in range(5):
        order = some[rng.permutation(1000)]
        for k in range(0, 1000, 20):
            idx = order[k:k + 20]
            acts = net.forward(to_input(tr.images[idx]))
            _, delta, _ = net.loss_and_delta(acts[-1], tr.labels[idx])
            for p, g, v in zip(net.params, net.backward(acts, delta), vel):
                v *= 0.9
                v -= 0.05 * g
                p += v
    pred = net.forward(to_input(te.images[:500]))[-1].argmax(axis=1)
    assert (pred == te.labels[:500]).mean() >= 0.8, (pred == te.labels[:500]).mean()


def test_train_takes_a_layer_stack_and_checkpoints_it(mnist, tmp_path):
    """trainer/train.py's loop trains a Net when the settings name an arch; without one it
    builds the MLP exactly as before (test_train.py's pinned results). Its checkpoint reads
    back to the same layers and weights (resume: tests/test_cli.py)."""
    from trainer import train
    from trainer.data import Split

    tr = mnist[0]
    some = np.random.default_rng(0).permutation(len(tr))[:256]
    part = Split(tr.images[some], tr.labels[some])
    model, history, _ = train.train(part, None, dict(arch="conv4s2,dense10", epochs=2, seed=0),
                                    log=lambda *a: None, show_progress=False)
    assert isinstance(model, L.Net) and len(history) == 2 and history[1]["loss"] < history[0]["loss"]
    from trainer import mlp

    mlp.save(model, str(tmp_path / "c.npz"))
    back, _ = mlp.load(str(tmp_path / "c.npz"))
    assert isinstance(back, L.Net) and back.spec == "conv4s2,dense10"
    assert all(np.array_equal(a, b) for a, b in zip(model.params, back.params))
    x = np.random.default_rng(1).random((3, 784), np.float32)
    assert np.array_equal(model.forward(x)[-1], back.forward(x)[-1])  # the layers hold the loaded arrays


def test_integer_conv_is_its_loops_and_int8_reads_as_float(mnist):
    """trainer/qlayers.py: a trained ConvNet's integer records read 500 test digits as its
    float self does (within 1.5 points, 97 % the same answers), and the conv's integer sum
    equals plain loops over the windows, padded with the input's zero point."""
    from trainer import qlayers

    te = mnist[1]
    net, digits = small_convnet(mnist, "conv4s2,pool,conv8,dense10", 1000, 4)
    rec = qlayers.quantize_net(net, digits)
    assert [r["kind"] for r in rec] == ["conv", "pool", "conv", "dense"]
    scores = qlayers.reference(rec, te.images[:500])
    floats = net.forward(te.images[:500].reshape(500, -1).astype(np.float32) / 255)[-1].argmax(axis=1)
    right = lambda p: (p == te.labels[:500]).mean()  # noqa: E731
    assert right(scores.argmax(axis=1)) >= right(floats) - 0.015 and right(floats) > 0.5
    assert (scores.argmax(axis=1) == floats).mean() >= 0.97

    # the first conv, by loops: stride 2, 'same' on 28x28 pads one pixel after, none before
    r = rec[0]
    x = te.images[:2].astype(np.int64).reshape(2, 28, 28, 1) - 128
    xp = np.full((2, 29, 29, 1), -128, np.int64)  # the pixels' zero point
    xp[:, :28, :28] = x
    want = np.zeros((2, 14, 14, len(r["W"])), np.int64)
    for n, i, j, o in np.ndindex(want.shape):
        acc = int(r["bias"][o]) + int((xp[n, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * r["W"][o]).sum())
        y = ((acc * int(r["M"][o]) + (1 << (int(r["S"][o]) - 1))) >> int(r["S"][o])) + r["zero"]
        want[n, i, j, o] = min(max(y, r["zero"]), 127)  # ReLU's clamp
    assert np.array_equal(qlayers.reference(rec[:1], te.images[:2]), want.astype(np.int8))


def test_integer_global_average_rounds_half_up():
    from trainer import qlayers

    img = np.random.default_rng(7).integers(0, 256, (3, 5, 4), dtype=np.uint8)
    got = qlayers.reference([dict(kind="gap")], img, input_shape=(5, 4, 1))
    for n in range(3):
        total = sum(int(v) - 128 for v in img[n].ravel())
        assert got[n, 0] == (2 * total + 20) // 40  # floor((mean) + 1/2)
