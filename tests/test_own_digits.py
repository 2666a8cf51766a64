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


def _scripted(answers):
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return answers.pop(0)
    return ask, prompts


def test_collect_against_the_virtual_board_keeps_the_labels_it_asked_for(tmp_path):
    """A simulated camera shows continental digits 0-9 in turn; the user keeps each. The
    names carry the label asked for (a misread 1 is saved as a 1), each frame is the
    camera's bytes, and its 28x28 is the one the board computed (checked by CRC on the way)."""
    import binascii

    from conftest import micropython
    from firmware_tools import camsim, scene
    from firmware_tools.vboard import VirtualBoard

    shown = str(tmp_path / "shown")
    assert gentlenet("writers", "continental", "--count", "10", "--out", shown).returncode == 0
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    try:
        r = gentlenet("flash", "--port", b.port, "--model", CNN, "-q", cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        with camsim.UCamSim(scene.load_scene(shown, look="gentle", shuffle=False)) as sim:
            out = str(tmp_path / "my_digits")
            p = __import__("subprocess").run(
                [os.path.join(os.path.dirname(__import__("sys").executable), "gentlenet"), "collect", "--camera",
                 sim.port, "--board", b.port, "--model", CNN, "--out", out],
                input="\n" * 20, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
            sent = list(sim.sent)
    finally:
        b.stop()
    assert p.returncode == 0, p.stderr + p.stdout
    assert "10 digits kept in %s" % out in p.stdout and "gentlenet train --from" in p.stdout
    files = sorted(os.listdir(out))
    assert files == ["mine_%04d_%d.png" % (i, i) for i in range(10)]
    assert [label for _, label, _ in sent] == list(range(10))
    split = data.load_image_folder(out)
    assert list(split.labels) == list(range(10))
    for i, f in enumerate(files):
        grey, w, h = data.read_grey(os.path.join(out, f))
        assert binascii.crc32(grey) & 0xFFFFFFFF == sent[i][2]  # the frame the camera sent, as it was
        seen, _, _ = data.read_grey(os.path.join(out + "-2828", "2828_" + f))
        assert np.array_equal(255 - np.frombuffer(seen, np.uint8).reshape(28, 28), split.images[i])
    # the shipped ConvNet misreads the continental 1; it is kept as the 1 the user wrote
    assert "it will learn that this is a 1" in p.stderr, p.stderr


def test_collect_redo_skip_and_stop_keep_only_what_the_user_kept(tmp_path):
    from firmware_tools import cameras, camsim, collect, scene

    shown = str(tmp_path / "shown")
    assert gentlenet("writers", "school", "--count", "10", "--out", shown).returncode == 0
    q = qformat.load(CNN)
    out = str(tmp_path / "mine")
    with camsim.UCamSim(scene.load_scene(shown, look="gentle", shuffle=False)) as sim:
        cam = cameras.open_camera("ucam", sim.port)
        try:
            # 7: shown (frame 0), taken again (frame 1), kept; 3: skipped; 5: shown (frame 2), kept; then stop
            ask, prompts = _scripted(["", "r", "", "", "s", "", "", "q"])
            kept = collect.run(cam, q, [7, 3, 5, 9], out, ask=ask, log=lambda *a: None)
            # a second session numbers on after the first
            ask2, _ = _scripted(["", ""])
            kept += collect.run(cam, q, [4], out, ask=ask2, log=lambda *a: None)
        finally:
            cam.close()
    assert [(os.path.basename(p), label) for p, label, _ in kept] == [
        ("mine_0000_7.png", 7), ("mine_0001_5.png", 5), ("mine_0002_4.png", 4)]
    assert sorted(os.listdir(out)) == ["mine_0000_7.png", "mine_0001_5.png", "mine_0002_4.png"]
    assert [r for _, _, r in kept] == ["1", "2", "3"]  # what the network read: frames 1, 2 and 3 showed 1, 2, 3
    assert any("write a 9" in p for p in prompts) and sum("keep it as a 7" in p for p in prompts) == 2
