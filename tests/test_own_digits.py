"""Digits by writers outside MNIST (trainer/writers.py) and fine-tuning on a user's own
digits (`gentlenet train --from`)."""
import json
import os

import numpy as np
import pytest
from conftest import ROOT, mnist_dir
from test_cli import gentlenet

from trainer import data, mlp, qformat, quantize, writers

CNN = os.path.join(ROOT, "weights", "mnist-cnn-8s2-16s2-32s2-10.gnet")


def test_a_style_is_a_pure_function_of_its_seed():
    a, b, c = (writers.pages("continental", 20, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a[0], b[0]) and list(a[1]) == list(range(10)) * 2
    assert not np.array_equal(a[0], c[0])  # other writers
    assert a[0].dtype == np.uint8 and a[0].shape == (20, 64, 64)
    with pytest.raises(ValueError, match="unknown writing style 'gothic'"):
        writers.pages("gothic", 10)


def test_the_shipped_convnet_reads_school_digits_but_not_continental_ones():
    """The generator draws digits (MNIST's own style is read), and its continental 1 (a
    flag, often a base) is the style MNIST lacks: most are misread."""
    q = qformat.load(CNN)
    for style, lo, hi in (("school", 0.95, 1.0), ("continental", 0.0, 0.6)):
        s = writers.generate(style, 200, seed=7)
        pred = quantize.argmax(quantize.reference(q, s.images))
        ones = s.labels == 1
        right = float((pred[ones] == 1).mean())
        assert lo <= right <= hi, (style, right)
        if style == "school":
            assert (pred == s.labels).mean() >= 0.95


def test_writers_command_writes_photos_named_by_their_label(tmp_path):
    r = gentlenet("writers", "looped", "--count", "12", "--seed", "2", "--out", str(tmp_path / "mine"))
    assert r.returncode == 0, r.stderr
    files = data.image_files(str(tmp_path / "mine"))
    assert len(files) == 12 and os.path.basename(files[3]) == "looped_0003_3.png"
    split = data.load_image_folder(str(tmp_path / "mine"))
    want = writers.generate("looped", 12, seed=2)  # read back through the photo path: the same digits
    assert list(split.labels) == list(want.labels) and np.array_equal(split.images, want.images)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    out = str(d / "base.npz")
    r = gentlenet("train", "--data", mnist_dir(), "--epochs", "2", "--layers", "784,32,10", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    return out


def test_fine_tuning_on_a_users_digits_learns_their_style(base_model, tmp_path):
    mine, held = str(tmp_path / "mine"), str(tmp_path / "held")
    assert gentlenet("writers", "continental", "--count", "60", "--out", mine).returncode == 0
    assert gentlenet("writers", "continental", "--count", "100", "--seed", "9", "--out", held).returncode == 0
    out = str(tmp_path / "mine.npz")
    r = gentlenet("train", "--from", base_model, "--data", mine, "--test-data", held, "--mix", mnist_dir(),
                  "--epochs", "4", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    assert "your digits (held out)" in r.stdout and "MNIST test" in r.stdout and "fine-tuned" in r.stdout
    model, meta = mlp.load(out)
    assert model.architecture()["sizes"] == [784, 32, 10]  # the trained network, not a new one
    ft = meta["finetune"]
    assert ft["from"] == "base.npz" and meta["data"]["own_n"] == 60 and meta["training"]["lr"] == 0.01
    own, mnist = ft["tests"]
    assert own["n"] == 100 and mnist["n"] == 10000
    assert own["after"] >= own["before"] + 0.04, ft  # the continental 1 is learnt
    assert mnist["after"] >= mnist["before"] - 0.02, ft  # ...without forgetting MNIST
    # and it exports to a .gnet like any checkpoint
    r = gentlenet("export", out, "--out", str(tmp_path / "mine.gnet"), "--data", mnist_dir())
    assert r.returncode == 0, r.stderr
    assert json.load(open(str(tmp_path / "mine.json")))["training"]["epochs"] == 4


@pytest.mark.parametrize("args, message", [
    (["--arch", "cnn"], "--from keeps the trained network's architecture: drop --arch"),
    ([], "--from needs your digits: --data"),
])
def test_fine_tuning_refuses_what_cannot_be(base_model, args, message):
    extra = ["--data", mnist_dir()] if args else []
    r = gentlenet("train", "--from", base_model, *(args + extra), "--out", os.devnull + ".npz")
    assert r.returncode != 0 and message in r.stderr, r.stderr


def test_fine_tuning_from_a_gnet_says_to_give_the_checkpoint(tmp_path):
    r = gentlenet("train", "--from", CNN, "--data", str(tmp_path), "--out", str(tmp_path / "x.npz"))
    assert r.returncode != 0 and "not a gentlenet checkpoint" in r.stderr and ".npz" in r.stderr, r.stderr
