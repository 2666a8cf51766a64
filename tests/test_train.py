import io
import json
import zipfile

import numpy as np
import pytest

from conftest import central_difference
from trainer import mlp, train
from trainer.augment import Augment
from trainer.data import Split
from trainer.mlp import MLP, CheckpointError


def _f64(model):
    # the MLP's layers in float64 (its W and b are theirs)
    for d in model.dense:
        d.W, d.b = d.W.astype(np.float64), d.b.astype(np.float64)
        d.params = [d.W, d.b]
    model.W = [d.W for d in model.dense]
    model.b = [d.b for d in model.dense]
    return model


@pytest.mark.parametrize("hidden,output", [("relu", "softmax"), ("sigmoid", "sigmoid"), ("sigmoid", "softmax"),
                                           ("relu", "sigmoid")])
def test_gradients_match_finite_differences(hidden, output):
    rng = np.random.default_rng(0)
    model = _f64(MLP([6, 5, 4, 3], hidden, output, bias=True, seed=1))
    for b in model.b:
        b[:] = rng.normal(0, 0.1, b.shape)
    x = rng.random((7, 6))
    y = rng.integers(0, 3, 7)

    def loss():
        return model.loss_and_delta(model.forward(x)[-1], y)[0]

    acts = model.forward(x)
    _, delta, _ = model.loss_and_delta(acts[-1], y)
    grads = model.backward(acts, delta)
    eps = 1e-6
    for p, g in zip(model.params, grads):
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            num[i] = central_difference(p, i, loss, eps)
        assert np.allclose(g, num, atol=1e-7, rtol=1e-5)


def test_book_update_is_the_books_code():
    """One --rashid step equals the book's train() written out literally (float64)."""
    rng = np.random.default_rng(3)
    model = _f64(MLP([784, 20, 10], "sigmoid", "sigmoid", bias=False, input_scaling="rashid", seed=2, init="rashid"))
    wih, who = model.W[0].copy(), model.W[1].copy()
    x = rng.random(784) * 0.99 + 0.01
    label = 4
    # the book
    inputs = x.reshape(-1, 1)
    targets = np.full((10, 1), 0.01)
    targets[label] = 0.99
    hidden = 1 / (1 + np.exp(-(wih @ inputs)))
    final = 1 / (1 + np.exp(-(who @ hidden)))
    output_errors = targets - final
    hidden_errors = who.T @ output_errors
    who_book = who + 0.1 * (output_errors * final * (1 - final)) @ hidden.T
    wih_book = wih + 0.1 * (hidden_errors * hidden * (1 - hidden)) @ inputs.T
    # ours
    acts = model.forward(x[None])
    _, delta, error = model.loss_and_delta(acts[-1], np.array([label]), (0.01, 0.99))
    gW0, gW1 = model.backward(acts, delta, error)[:2]
    assert np.allclose(wih - 0.1 * gW0, wih_book, atol=1e-12)
    assert np.allclose(who - 0.1 * gW1, who_book, atol=1e-12)
    # the true gradient differs from the book's in the hidden layer
    gW0_true = model.backward(acts, delta)[0]
    assert not np.allclose(gW0_true, gW0)


def _small(mnist, n_train=1000, n_test=2000):
    tr, te = mnist
    idx = np.random.default_rng(0).permutation(len(tr))[:n_train]
    return Split(tr.images[idx], tr.labels[idx]), Split(te.images[:n_test], te.labels[:n_test])


def test_same_seed_same_network(mnist):
    tr, _ = _small(mnist, 300)
    runs = [
        train.train(tr, None, dict(epochs=2, seed=s), log=lambda *a: None, show_progress=False)[0] for s in (5, 5, 6)
    ]
    for a, b in zip(runs[0].params, runs[1].params):
        assert np.array_equal(a, b)
    assert not np.array_equal(runs[0].W[0], runs[2].W[0])


def test_default_training_learns(mnist):
    tr, te = _small(mnist)
    model, history, used = train.train(tr, te, dict(epochs=15), log=lambda *a: None, show_progress=False)
    assert model.W[0].dtype == np.float32 and model.W[0].shape == (100, 784)
    assert len(history) == 15 and history[-1]["loss"] < history[0]["loss"]
    assert train.accuracy(model, te) > 0.88


def test_rashid_preset_learns(mnist):
    tr, te = _small(mnist, 1000)
    model, _, used = train.train(tr, te, dict(train.RASHID, epochs=1), log=lambda *a: None, show_progress=False)
    assert model.sizes == [784, 200, 10] and not model.bias and used["batch"] == 1
    assert not model.b[0].any()  # no biases, never updated
    assert train.accuracy(model, te) > 0.75


def test_auto_epochs():
    assert train.auto_epochs(5000) == 200 and train.auto_epochs(60000) == 17 and train.auto_epochs(100) == 200


def test_augment_identity_and_shapes():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    same = Augment(rotate=0, shift=0, scale=0, shear=0, elastic=0)(imgs, np.random.default_rng(0))
    assert np.allclose(same, imgs, atol=1e-3)
    moved = Augment()(imgs, np.random.default_rng(0))
    assert moved.shape == (5, 28, 28) and moved.dtype == np.float32 and not np.allclose(moved, imgs)
    assert moved.min() >= 0 and moved.max() <= 255.001



def test_stroke_augment_draws_wider_and_thinner_pens(mnist):
    digits = mnist[0].images[:400].reshape(-1, 28, 28)
    still = dict(rotate=0, shift=0, scale=0, shear=0, elastic=0)
    plain = Augment(**still)(digits, np.random.default_rng(3))
    pens = Augment(stroke=1.0, **still)(digits, np.random.default_rng(3))
    assert pens.dtype == np.float32 and pens.min() >= 0 and pens.max() <= 255.001
    ink = pens.reshape(400, -1).sum(1) / plain.reshape(400, -1).sum(1)
    wider, thinner = (ink > 1.02).sum(), (ink < 0.98).sum()
    assert 120 < wider < 280 and 120 < thinner < 280, (wider, thinner)  # about half each
    assert wider + thinner > 360  # every digit drawn again, but those moved a tiny part of the way
    # off, it draws no random numbers: the network trained is the one trained without it
    assert np.array_equal(Augment(stroke=0.0)(digits[:50], np.random.default_rng(4)),
                          Augment()(digits[:50], np.random.default_rng(4)))
    half = Augment(stroke=0.5, **still)(digits, np.random.default_rng(3))
    changed = np.abs(half - plain).reshape(400, -1).max(1) > 1
    assert 150 < changed.sum() < 250, changed.sum()
    # the command line takes the share (the flag alone: 0.3) into the run's settings
    from gentlenet import model_commands
    from gentlenet.cli import parser
    args = parser().parse_args(["train", "--stroke"])
    assert model_commands._train_settings(args)["augment"]["stroke"] == 0.3
    args = parser().parse_args(["train", "--stroke", "0.6", "--rotate", "5"])
    s = model_commands._train_settings(args)["augment"]
    assert s["stroke"] == 0.6 and s["rotate"] == 5 and s["shift"] == Augment().shift

def test_checkpoint_roundtrip_without_pickle(tmp_path):
    model = MLP([784, 16, 10], "sigmoid", "sigmoid", bias=False, input_scaling="rashid", seed=4)
    p = str(tmp_path / "m.npz")
    mlp.save(model, p, {"history": [{"epoch": 1}]})
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
    assert meta["architecture"]["sizes"] == [784, 16, 10]
    back, meta = mlp.load(p)
    assert back.architecture() == model.architecture() and meta["history"] == [{"epoch": 1}]
    for a, b in zip(back.params, model.params):
        assert np.array_equal(a, b)


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    change(entries)
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_bad_checkpoints_are_refused(tmp_path):
    p = str(tmp_path / "m.npz")
    mlp.save(MLP([784, 8, 10]), p)
    raw = open(p, "rb").read()
    bad = str(tmp_path / "bad.npz")
    open(bad, "wb").write(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="not a gentlenet checkpoint"):
        mlp.load(bad)
    _rewrite(p, bad, lambda e: e.pop("W1.npy"))
    with pytest.raises(CheckpointError, match="W1 is missing"):
        mlp.load(bad)
    _rewrite(p, bad, lambda e: e.update({"W0.npy": _npy(np.zeros((8, 700), np.float32))}))
    with pytest.raises(CheckpointError, match=r"W0 has shape \(8, 700\)"):
        mlp.load(bad)
    _rewrite(p, bad, lambda e: e.update({"b0.npy": _npy(np.full(8, np.nan, np.float32))}))
    with pytest.raises(CheckpointError, match="NaN"):
        mlp.load(bad)
    _rewrite(p, bad, lambda e: e.update({"meta.npy": _npy(np.frombuffer(b'{"format": "x"}', np.uint8))}))
    with pytest.raises(CheckpointError, match="format 'x'"):
        mlp.load(bad)
    _rewrite(p, bad, lambda e: e.update({"meta.npy": _npy(np.array(["x"], dtype=object))}))
    with pytest.raises(CheckpointError):
        mlp.load(bad)
    with pytest.raises(CheckpointError, match="no such file"):
        mlp.load(str(tmp_path / "none.npz"))


def test_training_through_the_camera_uses_the_boards_own_digits(mnist, tmp_path):
    """camera_aug: each training digit drawn twice as a world frame and read back by the
    real device/mnistify.py, cached beside the checkpoint (a second run reads the cache; a
    damaged cache is drawn again, loudly); a share of each batch comes from them, so the
    run differs from one without; the same settings give the same network."""
    from device import mnistify
    from trainer import camera, world

    tr, _ = _small(mnist, 60)
    ck = str(tmp_path / "m.resume.npz")
    logs = []

    def run(share, log=logs.append):
        return train.train(tr, None, dict(epochs=2, sizes=[784, 16, 10], camera_aug=share), log=log,
                           show_progress=False, checkpoint=ck)[0]

    a = run(0.5)
    cache = tmp_path / camera.cache_name(train.fingerprint(tr), 0, train.CAMERA_COPIES)
    assert cache.exists() and any("drawing 120" in line for line in logs), logs
    with np.load(str(cache), allow_pickle=False) as z:
        frames = z["digits"]
    assert frames.shape == (2 * 60, 28, 28) and frames.dtype == np.uint8
    w = world.World(tr.images, tr.labels, seed=0)
    for m in (0, 59, 61, 119):  # row m: digit m % 60 through the camera, as the board reads it
        f = w.frame(m)
        assert bytes(frames[m]) == bytes(mnistify.mnistify(f.tobytes(), f.shape[1], f.shape[0])), m
    assert (frames.reshape(120, -1).max(1) > 0).mean() > 0.9  # a digit was found in nearly every frame
    logs.clear()
    b = run(0.5)
    assert any("from %s" % cache in line for line in logs) and not any("drawing" in line for line in logs), logs
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))
    plain = run(0.0)
    assert not np.array_equal(plain.W[0], a.W[0])
    cache.write_bytes(b"PK\x03\x04 not a whole zip")
    logs.clear()
    c = run(0.5)
    assert any("unreadable" in line for line in logs) and any("drawing 120" in line for line in logs), logs
    assert all(np.array_equal(p, q) for p, q in zip(a.params, c.params))
    with pytest.raises(ValueError, match="camera_aug is a share"):
        run(1.5)
