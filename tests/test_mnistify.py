"""device/mnistify.py: the integer MNIST-style conversion, on CPython and on real MicroPython."""
import os
import struct

import numpy as np
import pytest
from conftest import ROOT, on_micropython

from device import mnistify as m
from trainer import preprocess


def _com(img):
    img = img.astype(np.float64)
    s = img.sum()
    ys, xs = np.mgrid[0:28, 0:28]
    return (img * xs).sum() / s, (img * ys).sum() / s


def test_mnist_digits_survive_conversion(mnist):
    _, test = mnist
    diffs = []
    for img in test.images[:100]:
        out = preprocess.mnistify(img.tobytes(), 28, 28)
        diffs.append(np.abs(out.astype(int) - img).mean())
        cx, cy = _com(out)
        assert abs(cx - 14) <= 0.5 + 1e-9 and abs(cy - 14) <= 0.5 + 1e-9
    assert np.mean(diffs) < 6, "MNIST digits should come out nearly as they went in"


def test_camera_like_photo_becomes_the_digit(mnist):
    from PIL import Image

    _, test = mnist
    digit = test.images[0]
    # dark ink on lit paper, 4x larger, off centre, with a little noise
    page = np.full((120, 160), 200, np.int32)
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.BILINEAR), np.int32)
    page[4:116, 10:122] -= big * 170 // 255
    page += np.random.default_rng(1).integers(-6, 7, page.shape)
    out = preprocess.mnistify(np.clip(page, 0, 255).astype(np.uint8).tobytes(), 160, 120)
    corr = np.corrcoef(out.ravel().astype(float), digit.ravel().astype(float))[0, 1]
    assert corr > 0.9


def test_blank_and_flat_images_give_zeros():
    assert not preprocess.mnistify(bytes(40 * 30), 40, 30).any()
    noise = np.random.default_rng(0).integers(120, 130, 40 * 30).astype(np.uint8)
    assert not preprocess.mnistify(noise.tobytes(), 40, 30).any()


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="bytes for a 10x10 image"):
        m.mnistify(bytes(50), 10, 10)


def test_taps_weights_sum_to_side():
    from array import array

    for L in (1, 7, 20, 21, 33, 640):
        k = L // 20 + 2
        taps = m._taps(L, k, array("H", [7]) * (40 * k))
        for i in range(20):
            t = taps[2 * k * i:2 * k * (i + 1)]
            assert sum(t[1::2]) == L, (L, i)
            assert all(L * i < 20 * j + 20 and 20 * j < L * (i + 1) for j, w in zip(t[::2], t[1::2]) if w), (L, i)


def _frames(mnist):
    """(w, h, pixels) test frames: real digits, enlarged and inverted, noise, stripes, extremes."""
    from PIL import Image

    _, test = mnist
    rng = np.random.default_rng(7)
    frames = [(28, 28, test.images[i].tobytes()) for i in range(40)]
    for i in range(40, 60):
        im = Image.fromarray(255 - test.images[i]).resize((80, 60))
        frames.append((80, 60, im.tobytes()))
    frames += [(33, 17, rng.integers(0, 256, 33 * 17).astype(np.uint8).tobytes()) for _ in range(10)]
    frames.append((28, 28, bytes(784)))
    frames.append((28, 28, b"\xff" * 784))
    frames.append((5, 3, bytes([0, 255] * 7 + [0])))
    stripes = np.zeros((30, 40), np.uint8)
    stripes[:, ::4] = 255
    frames.append((40, 30, stripes.tobytes()))
    one = np.zeros((28, 28), np.uint8)
    one[3, 25] = 255
    frames.append((28, 28, one.tobytes()))
    return frames


def test_micropython_gives_the_same_bytes(mnist, tmp_path):
    frames = _frames(mnist)
    blob = tmp_path / "frames.bin"
    with open(blob, "wb") as f:
        for w, h, px in frames:
            f.write(struct.pack("<HH", w, h) + px)
    r = on_micropython("run_mnistify", blob, tmp_path / "out.bin")
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "out.bin").read_bytes()
    assert len(out) == 784 * len(frames)
    for k, (w, h, px) in enumerate(frames):
        assert out[784 * k:784 * (k + 1)] == bytes(m.mnistify(px, w, h)), "frame %d (%dx%d) differs" % (k, w, h)


def _hard_scene(mnist):
    from firmware_tools import scene

    _, test = mnist
    order = np.random.default_rng(1).permutation(len(test.images))[:300]
    return scene.Scene(test.images[order].reshape(-1, 28, 28), test.labels[order], seed=1, look=scene.Hard())


def test_desk_camera_frames_read_nearly_as_well_as_clean_digits(mnist):
    """scene.Hard (light from one side up to 40 %, vignette, soft shadow, small and tilted
    digits, specks, a ruled line, noise): mnistify v1 read 31.7 % of such frames with the
    shipped model; v2 must stay within 2.5 points of the clean digits (it measures ~1.6 on
    these 300; bench/frames.py measures 1,000)."""
    from trainer import qformat, quantize

    q = qformat.load(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    sc = _hard_scene(mnist)
    digits = np.array([preprocess.mnistify(sc.frame(i, 160, 120).tobytes(), 160, 120) for i in range(len(sc))])
    seen = (quantize.argmax(quantize.reference(q, digits)) == sc.labels).mean()
    clean = (quantize.argmax(quantize.reference(q, sc.images)) == sc.labels).mean()
    assert seen >= clean - 0.025, (seen, clean)


def _box(frame):
    info = {}
    out = preprocess.mnistify(frame.tobytes(), frame.shape[1], frame.shape[0], info=info)
    return out, info["box"]


def test_what_is_not_a_digit_is_left_out(mnist):
    sc = _hard_scene(mnist)
    # a page, and a page with only a shadow edge across it: no digit
    page = np.full((120, 160), 200, np.uint8)
    assert not _box(page)[0].any() and _box(page)[1] is None
    shade = page.copy()
    shade[:, 70:] = 130
    assert not _box(shade)[0].any(), "a shadow edge is not a digit"
    # a digit alone, then with specks and a ruled line: the same box
    from PIL import Image

    digit = np.asarray(Image.fromarray(sc.images[0]).resize((70, 70), Image.BILINEAR), np.int32)
    clean = page.astype(np.int32)
    clean[25:95, 45:115] -= digit * 150 // 255
    _, box = _box(clean.clip(0, 255).astype(np.uint8))
    busy = clean.copy()
    busy[110:112, :] -= 60                      # a ruled line across the page
    for y, x in ((10, 10), (100, 150), (60, 20)):
        busy[y:y + 3, x:x + 3] -= 150           # specks
    _, busy_box = _box(busy.clip(0, 255).astype(np.uint8))
    assert busy_box == box, (box, busy_box)
    # the page's edge, a dark desk beyond it: still the digit's box
    desk = busy.copy()
    desk[:, 140:] = 50
    _, desk_box = _box(desk.clip(0, 255).astype(np.uint8))
    assert desk_box == box, (box, desk_box)
    # lit from one side: the far side of the page is 40 % darker, and the box stays
    ramp = (1 - 0.4 * np.linspace(0, 1, 160))[None, :]
    lit = (clean * ramp).clip(0, 255).astype(np.uint8)
    _, lit_box = _box(lit)
    assert all(abs(a - b) <= 2 for a, b in zip(lit_box, box)), (box, lit_box)


def test_a_large_picture_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="shrink it first"):
        m.mnistify(bytes(1100 * 1100), 1100, 1100)


def test_a_strip_is_refused_and_a_thin_stroke_in_a_tall_frame_reads():
    """A 20x1024 frame (one dark column) made the board's resample work for seconds (its
    cost was the box side squared): strips past 16:1 are refused; a thin stroke in a
    16:1 frame still gives a digit (a '1')."""
    for w, h in ((20, 1024), (10, 2048), (2048, 10)):
        with pytest.raises(ValueError, match="strip"):
            m.mnistify(bytes(w * h), w, h)
    w, h = 64, 1024
    g = bytearray(b"\xc8" * (w * h))
    for y in range(100, 900):
        g[y * w + 30] = g[y * w + 31] = 20
    out = bytes(m.mnistify(g, w, h))
    cols = [x for x in range(28) if any(out[y * 28 + x] for y in range(28))]
    assert 1 <= len(cols) <= 4 and 12 <= sum(cols) / len(cols) <= 15, cols


def _world(mnist, n, seed=2):
    from trainer import world

    _, test = mnist
    order = np.random.default_rng(seed).permutation(len(test.images))[:n]
    return world.World(test.images[order].reshape(-1, 28, 28), test.labels[order], seed=seed)


def _read(q, frames):
    from trainer import quantize

    digits = np.array([preprocess.mnistify(f.tobytes(), f.shape[1], f.shape[0]) for f in frames])
    return quantize.argmax(quantize.reference(q, digits)), digits


def test_the_world_reads_nearly_as_well_as_clean_digits(mnist):
    """trainer/world.py: 19 conditions (a marker, pencil, noise, the desk, glare,
    a neighbour, ...) at 80x60 to 640x480, 228 frames (every condition at every
    resolution thrice). mnistify v2 read 73 % of such frames (36 % at 640x480); v3 must
    stay within 4 points of the clean digits overall and within 6 at each resolution
    (bench/world.py measures 10,000 frames)."""
    from trainer import qformat, quantize

    q = qformat.load(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    w = _world(mnist, 228)
    pred, _ = _read(q, [w.frame(i) for i in range(len(w))])
    ok = pred == w.labels
    clean = quantize.argmax(quantize.reference(q, w.images)) == w.labels
    assert ok.mean() >= clean.mean() - 0.04, (ok.mean(), clean.mean())
    for res in w.resolutions:
        s = np.array([w.resolution(i) == res for i in range(len(w))])
        assert ok[s].mean() >= clean[s].mean() - 0.06, (res, ok[s].mean(), clean[s].mean())


def test_the_same_digit_at_any_resolution_gives_the_same_28x28(mnist):
    """A digit drawn by the same pen at the same place in the frame, seen at 80x60,
    160x120, 320x240 and 640x480 (strokes 1.5 to 12 px wide, and a marker's 3x that):
    nearly the same 28x28 at every size, read as the same digit."""
    from trainer import world
    from trainer import qformat

    q = qformat.load(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    w = _world(mnist, 20, seed=3)
    for cond in ("clean", "thick"):
        seen = {}
        for res in world.RESOLUTIONS:
            frames = [world.render(w.images[i], res[0], res[1], cond, np.random.default_rng(i)) for i in range(20)]
            seen[res] = _read(q, frames)
        ref_pred, ref = seen[(160, 120)]
        for res, (pred, digits) in seen.items():
            assert (pred == ref_pred).mean() >= 0.9, (cond, res, pred, ref_pred)
            diff = np.abs(digits.astype(int) - ref.astype(int)).mean()
            assert diff < 12, (cond, res, diff)  # v2 at 640x480: fragments of the strokes
