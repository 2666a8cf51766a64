"""The parity machinery (firmware_tools/parity.py; `make test-parity` runs it on everything)
must be able to fail: a one-LSB change in one weight, in the requantisation's rounding,
or in the confidence's rounding, is caught."""
import os
import shutil
import struct

import numpy as np
import pytest

from conftest import ROOT, micropython, wasm
from firmware_tools import parity
from test_qformat import SHIPPED, reseal
from trainer import qformat, quantize


@pytest.fixture(scope="module")
def images(mnist):
    _, test = mnist
    return np.concatenate([test.images[:1500].reshape(1500, -1), parity.edge_cases(n_random=50)])


@pytest.fixture(scope="module")
def labels(mnist, images):
    """The test digits' labels, -1 for the edge cases (parity gives the slow runtimes, pure
    Python on webassembly and CPython, the first few digits and every edge case)."""
    _, test = mnist
    return np.concatenate([test.labels[:1500], -np.ones(len(images) - 1500, int)])


def test_parity_on_the_real_interpreter(images, labels, tmp_path):
    mp = micropython()
    rows = parity.run([SHIPPED], images, labels, mp, str(tmp_path), wasm=bool(wasm()), wasm_python_digits=200)
    runtimes = {(r["runtime"], r["backend"], r["stream"]) for r in rows}
    assert {("micropython", "viper", False), ("micropython", "python", False), ("cpython", "python", False),
            ("micropython", "viper", True), ("numpy", "reference", False), ("micropython-wasm", "ulab", False),
            ("micropython-wasm", "ulab", True), ("micropython-wasm", "python", False)} <= runtimes
    for r in rows:
        assert r["compared"] == r["images"] and r["mismatches"] == 0, r
        slow = r["runtime"] == "cpython" or (r["runtime"] == "micropython-wasm" and r["backend"] == "python")
        assert r["images"] == (len(images) - 1300 if slow else len(images)), r
    small = [r for r in rows if r["stream"] and r["runtime"] == "micropython"][0]
    assert small["heapsize"] == parity.SMALL_HEAP and small["heap_model"] < 64 * 1024


def test_one_lsb_in_one_weight_is_detected(images, tmp_path):
    data = open(SHIPPED, "rb").read()
    q = qformat.from_bytes(data)
    ref = quantize.reference(q, images)
    # layer 1, class 0, the hidden unit that is most often active: +1 (one LSB)
    hidden = (quantize.reference(qformat.QModel(q.layers[:1], [str(i) for i in range(100)]), images)
              > -128).mean(axis=0)
    j = int(hidden.argmax())
    w_off = qformat.LAYER.unpack_from(data, qformat.HEADER.size + qformat.LAYER.size)[6]
    mutated = bytearray(data)
    w = struct.unpack_from("<b", mutated, w_off + j)[0]
    struct.pack_into("<b", mutated, w_off + j, w + 1 if w < 127 else w - 1)
    path = tmp_path / "mutated.gnet"
    path.write_bytes(reseal(mutated))
    changed = (quantize.reference(qformat.load(str(path)), images) != ref).any(axis=1)
    conf = quantize.confidence(q, ref)
    # every image on the unix port and with ulab; the first 500 with pure Python on
    # webassembly (an interpreter in webassembly: slow)
    for interp, backend, n in ((micropython(), "viper", len(images)), (wasm(), "ulab", len(images)),
                               (wasm(), "python", 500)):
        expected = int(changed[:n].sum())
        assert expected > 0  # the change does reach the scores
        images[:n].tofile(str(tmp_path / "images.bin"))
        info, got = parity.run_device(interp, str(path), str(tmp_path / "images.bin"), str(tmp_path / "out"), backend)
        bad, _ = parity.compare(ref[:n], conf[:n], got)
        assert bad == expected, (interp, backend)


def _mutated_device(tmp_path, edits):
    """A copy of device/ with one rule changed: edits, [(file, rule, mutant)] (a rule the
    fused viper kernel holds too is changed there as well)."""
    os.makedirs(tmp_path / "device")
    for name in os.listdir(os.path.join(ROOT, "device")):
        if name.endswith(".py"):
            shutil.copy(os.path.join(ROOT, "device", name), tmp_path / "device")
    for name, rule, mutant in edits:
        src = (tmp_path / "device" / name).read_text()  # (with the edits before it: two may touch one file)
        assert src.count(rule) == 1, "the rule moved: update this test (%s)" % name
        (tmp_path / "device" / name).write_text(src.replace(rule, mutant))
    return str(tmp_path / "device")


@pytest.mark.parametrize("what,edits", [
    ("requantisation: round down instead of half up", [
        ("gnet.py", "* M[c] + (1 << (s - 1))) >> s)", "* M[c]) >> s)"),
        ("gnet_viper.py", "* (ms & 0xFFFF) + (1 << (shift - 1))) >> shift)", "* (ms & 0xFFFF)) >> shift)")]),
    ("confidence: round down instead of to nearest", [
        ("gnet.py", "(T[0] * 10000 + total // 2) // total", "(T[0] * 10000) // total")]),
])
def test_one_rounding_rule_is_detected(images, labels, tmp_path, what, edits):
    """A device runtime that rounds one thing differently must fail parity, on every
    interpreter and backend (the confidence is part of the contract, as the scores are)."""
    device = _mutated_device(tmp_path, edits)
    work = tmp_path / "work"
    work.mkdir()
    rows = parity.run([SHIPPED], images, labels, micropython(), str(work), device=device,
                      wasm=bool(wasm()), wasm_python_digits=200)
    device_rows = [r for r in rows if r["runtime"] != "numpy"]
    assert len(device_rows) >= 7 and all(r["mismatches"] > 0 for r in device_rows), (what, device_rows)


def test_without_mnist_it_makes_at_least_1000_images(tmp_path, capsys):
    images, labels, train, desc = parity.find_images(str(tmp_path / "nothing-here"), log=print)
    assert len(images) >= 1000 and train is None
    assert "WARNING" in capsys.readouterr().out
    kinds = {"black": (images == 0).all(axis=1).any(), "white": (images == 255).all(axis=1).any(),
             "single pixel": ((images > 0).sum(axis=1) == 1).any()}
    assert all(kinds.values()), kinds


def test_ulab_cuts_a_wide_layer_into_exact_spans(mnist, tmp_path):
    """A layer of more than 1032 inputs (FORMAT.md, "Exact in float32") goes through ulab in
    spans whose integer sums are added; the bytes must still be the reference's. (This
    webassembly ulab computes in float64, where one span would be exact too: what is
    checked here is the span code's arithmetic, not float32's need of it.)"""
    from trainer import mlp

    wasm()

    train, test = mnist
    path = str(tmp_path / "784-1100-10.gnet")
    q = quantize.quantize(mlp.MLP([784, 1100, 10], hidden="relu", seed=3), train.images[:500])
    qformat.save(q, path)
    images = test.images[:60].reshape(60, -1)
    images.tofile(str(tmp_path / "images.bin"))
    ref = quantize.reference(qformat.load(path), images)
    for stream in (False, True):
        info, got = parity.run_device("wasm", path, str(tmp_path / "images.bin"), str(tmp_path / "out"), "ulab",
                                      stream)
        bad, _ = parity.compare(ref, quantize.confidence(q, ref), got)
        assert info["backend"] == "ulab" and bad == 0, (stream, info)


# ------------------------------------------------------------------ a ConvNet (.gnet version 2)

CNN = "conv4s2,pool,conv6,conv5v,gap,dense10"  # every kind and geometry but a dense over a picture


@pytest.fixture(scope="module")
def convnet(mnist, tmp_path_factory):
    from conftest import small_convnet
    from trainer import qlayers

    q = qlayers.to_qmodel(*small_convnet(mnist, CNN))
    path = str(tmp_path_factory.mktemp("cnn") / "cnn.gnet")
    qformat.save(q, path)
    return path


def _convnet_rows(convnet, images, labels, work, device=None):
    rows = parity.run([convnet], images, labels, micropython(), str(work), device=device,
                      wasm=bool(wasm()), wasm_python_digits=200)
    return [r for r in rows if r["runtime"] != "numpy"]


def test_a_convnet_has_parity_on_every_runtime(convnet, images, labels, tmp_path):
    rows = _convnet_rows(convnet, images, labels, tmp_path)
    runtimes = {(r["runtime"], r["backend"], r["stream"]) for r in rows}
    assert {("micropython", "viper", False), ("micropython", "python", False), ("cpython", "python", False),
            ("micropython", "viper", True)} <= runtimes, runtimes
    if wasm():
        assert {("micropython-wasm", "ulab", False), ("micropython-wasm", "python", False),
                ("micropython-wasm", "ulab", True)} <= runtimes, runtimes
    for r in rows:
        # pure Python and ulab: 200 digits and every edge case; pure Python on webassembly and
        # CPython: 100 and 100
        few = r["runtime"] == "cpython" or r["backend"] == "python" and r["runtime"] == "micropython-wasm"
        slow = r["backend"] in ("python", "ulab")
        assert r["compared"] == r["images"] == (2 * parity.FEW if few else len(images) - (1300 if slow else 0)), r
        assert r["mismatches"] == 0, r


def test_one_lsb_in_one_conv_weight_is_detected(convnet, images, tmp_path):
    """The first conv's most used weight of its busiest channel, +1: every backend sees it."""
    data = open(convnet, "rb").read()
    q = qformat.from_bytes(data)
    some = images[np.r_[:200, 1500:len(images)]]  # 200 digits and every edge case
    ref = quantize.reference(q, some)
    first = quantize.reference(qformat.QModel(q.layers[:1], [str(i) for i in range(4)]), some)  # (n, 196 * 4)
    c = int((first.reshape(len(some), -1, 4) > q.layers[0]["zero"]).mean(axis=(0, 1)).argmax())
    w_off = qformat.LAYER.unpack_from(data, qformat.HEADER.size)[6]
    j = w_off + c * 9 + 4  # channel c's centre tap (one input channel): (c_out, 3, 3, 1)
    mutated = bytearray(data)
    w = struct.unpack_from("<b", mutated, j)[0]
    struct.pack_into("<b", mutated, j, w + 1 if w < 127 else w - 1)
    path = tmp_path / "mutated.gnet"
    path.write_bytes(reseal(mutated))
    changed = (quantize.reference(qformat.load(str(path)), some) != ref).any(axis=1)
    conf = quantize.confidence(q, ref)
    assert changed.sum() > 0  # the change does reach the scores
    runs = [(micropython(), "viper"), (micropython(), "python")] + ([(wasm(), "ulab"), (wasm(), "python")]
                                                                   if wasm() else [])
    for interp, backend in runs:
        n = 200 if (interp, backend) == (wasm(), "python") else len(some)  # (pure Python in webassembly: slow)
        some[:n].tofile(str(tmp_path / "images.bin"))
        info, got = parity.run_device(interp, str(path), str(tmp_path / "images.bin"), str(tmp_path / "out"), backend)
        bad, _ = parity.compare(ref[:n], conf[:n], got)
        assert bad == int(changed[:n].sum()) > 0, (interp, backend)


def test_a_conv_whose_weights_come_in_chunks_has_parity(convnet, images, labels, tmp_path):
    """A heap in pieces gives a conv's weights in chunks of output channels (gnet_weights.py
    halves a block it cannot get): the viper kernel runs chunk by chunk. Forced here to 5
    channels a chunk (the four-a-step loop and the rest), on the unix port."""
    device = _mutated_device(tmp_path, [("gnet_weights.py", "if L.typ == 1 else n_out", "if L.typ == 1 else 5")])
    (tmp_path / "work").mkdir()
    rows = [r for r in parity.run([convnet], images, labels, micropython(), str(tmp_path / "work"), device=device,
                                  wasm=False) if r["runtime"] == "micropython"]
    assert {r["backend"] for r in rows} >= {"viper", "python"} and all(r["mismatches"] == 0 for r in rows), rows


@pytest.mark.parametrize("what,edits", [
    ("the average rounded down", [("gnet_conv.py", "out[ch] = (2 * s + n) // (2 * n)", "out[ch] = s // n"),
                                  ("gnet_conv_viper.py", "(2 * T[9 + ch] + n) // (2 * n)", "T[9 + ch] // n"),
                                  ("gnet_conv_ulab.py", "(2 * int(round(S[ch])) + n) // (2 * n)",
                                   "int(round(S[ch])) // n")]),
    ("the pool's bottom right pixel left out", [
        ("gnet_conv.py", "x[b + ch], x[b + c + ch])", "x[b + ch])"),
        ("gnet_conv_viper.py", "t = int(x[a + wc + c]) ^ 0x80", "t = 0"),
        ("gnet_conv_ulab.py", "np.maximum(np.take(X, d, axis=0), np.take(X, e, axis=0))", "np.take(X, d, axis=0)")]),
])
def test_a_change_in_the_pool_or_average_is_detected(convnet, images, labels, tmp_path, what, edits):
    """The max pool and the global average have a kernel in every backend: a change to one
    rule in each (in all of them at once) makes every runtime fail."""
    device = _mutated_device(tmp_path, edits)
    (tmp_path / "work").mkdir()
    rows = _convnet_rows(convnet, images, labels, tmp_path / "work", device=device)
    assert len(rows) >= (7 if wasm() else 4) and all(r["mismatches"] > 0 for r in rows), (what, rows)


def test_a_rounding_change_in_the_conv_is_detected(convnet, images, labels, tmp_path):
    """gnet_conv.py's requantisation rounding down instead of half up: every runtime fails."""
    device = _mutated_device(tmp_path, [("gnet_conv.py", "half = 1 << (s - 1)", "half = 0"),
                                        ("gnet_conv_viper.py", "+ (1 << (shift - 1))) >> shift)", ") >> shift)"),
                                        ("gnet_conv_ulab.py", "+ (1 << (s - 1))) >> s)", ") >> s)"),
                                        ("gnet_conv_ulab.py", "np.array([1 << (L.S[k] - 1) for k in range(co)])",
                                         "np.zeros(co)")])
    work = tmp_path / "work"
    work.mkdir()
    rows = _convnet_rows(convnet, images, labels, work, device=device)
    assert len(rows) >= (7 if wasm() else 4) and all(r["mismatches"] > 0 for r in rows), rows
