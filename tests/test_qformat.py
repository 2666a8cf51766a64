"""The .gnet format: round trip, and every kind of damage rejected with a clear error by
both readers: trainer/qformat.py (numpy) and device/gnet.py (on CPython and on the real
MicroPython interpreter)."""
import binascii
import json
import os
import re
import struct

import numpy as np
import pytest

from conftest import ROOT, on_micropython, wasm
from device import gnet
from trainer import mlp, qformat, quantize

SHIPPED = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")


def reseal(data):
    """Fix the CRC after a deliberate edit, so that the check under test is the one that fires."""
    data = bytearray(data)
    data[-4:] = struct.pack("<I", binascii.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    return bytes(data)


def edit(data, off, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, off, value)
    return reseal(data)


def layer_field(l, field_off):
    return qformat.HEADER.size + qformat.LAYER.size * l + field_off


def corruptions(data):
    """(name, damaged bytes, pattern the error message must match)."""
    labels_off = struct.unpack_from("<I", data, 24)[0]
    rec1 = qformat.LAYER.unpack_from(data, layer_field(1, 0))
    rec0 = qformat.LAYER.unpack_from(data, layer_field(0, 0))
    flip = bytearray(data)
    flip[rec0[6] + 5000] ^= 0x10  # one bit of one weight
    w128 = bytearray(data)
    w128[rec0[6] + 123] = 0x80
    return [
        ("empty", b"", r"too short"),
        ("header only", data[:30], r"too short"),
        ("truncated", data[:-1000], r"truncated"),
        ("truncated by one byte", data[:-1], r"truncated"),
        ("extra bytes", data + b"\0" * 8, r"extra bytes"),
        ("bit flip", bytes(flip), r"CRC32 mismatch"),
        ("wrong magic", b"PK\3\4" + data[4:], r"magic"),
        ("a text file", open(os.path.join(ROOT, "weights", "FORMAT.md"), "rb").read(), r"magic"),
        ("wrong version", edit(data, 4, "<H", 2), r"version 2"),
        ("unknown flags", edit(data, 6, "<H", 1), r"flags"),
        ("no layers", edit(data, 20, "<B", 0), r"0 layers"),
        ("shapes do not add up", edit(data, layer_field(1, 4), "<H", 99), r"shapes do not add up"),
        ("input shape", edit(data, 12, "<H", 27), r"shapes do not add up"),
        ("classes", edit(data, 21, "<B", 9), r"9 classes|labels for 9"),
        ("weights past the end", edit(data, layer_field(0, 8), "<I", len(data) - 100), r"outside"),
        ("bias past the end", edit(data, layer_field(1, 12), "<I", 0xFFFFFF00), r"outside"),
        ("labels past the end", edit(data, 28, "<I", 1 << 20), r"outside"),
        ("offset into the header", edit(data, layer_field(0, 8), "<I", 8), r"outside"),
        ("misaligned bias", edit(data, layer_field(0, 12), "<I", rec0[7] + 1), r"aligned"),
        ("overlapping sections", edit(data, layer_field(1, 12), "<I", rec0[7]), r"overlaps"),
        ("unknown activation", edit(data, layer_field(0, 1), "<B", 7), r"activation"),
        ("sigmoid without table", edit(data, layer_field(0, 1), "<B", 2), r"lookup table"),
        ("last layer relu", edit(data, layer_field(1, 1), "<B", 1), r"last layer"),
        ("unknown layer type", edit(data, layer_field(0, 0), "<B", 2), r"type 2"),
        ("reserved layer field", edit(data, layer_field(1, 28), "<I", 5), r"reserved"),
        ("weight -128", reseal(w128), r"-128"),
        ("multiplier 0", edit(data, rec1[8], "<H", 0), r"multiplier"),
        ("shift 31", edit(data, rec1[9], "<B", 31), r"shift"),
        ("bias too big", edit(data, rec1[7], "<i", (1 << 30) - 5), r"2(\^|\*\*)30"),
        ("label not utf-8", edit(data, labels_off + 1, "<B", 0xFF), r"UTF-8"),
    ]


@pytest.fixture(scope="module")
def shipped():
    with open(SHIPPED, "rb") as f:
        return f.read()


@pytest.mark.parametrize("name,spec,most_bytes,least", [
    ("mnist-784-100-10", "784-100-10", 81000, 0.97),
    ("mnist-cnn-8s2-16s2-32s2-10", "conv8s2,conv16s2,conv32s2,dense10", 16 * 1024, 0.986),  # issue 22's floors
])
def test_shipped_model_and_card(mnist, name, spec, most_bytes, least):
    import hashlib

    data = open(os.path.join(ROOT, "weights", name + ".gnet"), "rb").read()
    card = json.load(open(os.path.join(ROOT, "weights", name + ".json")))
    assert card["sha256"] == hashlib.sha256(data).hexdigest() and card["bytes"] == len(data)
    assert len(data) <= most_bytes  # the shipped model stays this small
    q = qformat.from_bytes(data)
    assert q.spec == card["architecture"] == spec and q.labels == [str(i) for i in range(10)]
    _, test = mnist
    acc = float((quantize.argmax(quantize.reference(q, test.images)) == test.labels).mean())
    assert acc == pytest.approx(card["accuracy"]["int8"], abs=1e-5)  # the card tells the truth
    assert acc >= least and card["accuracy"]["float"] - acc <= 0.001
    if "board_heap" in card:  # what the demo and `gentlenet board` print: the card's estimate is today's
        assert card["board_heap"] == dict(qformat.board_heap(q), note=card["board_heap"]["note"])


def test_heap_line_names_the_frame_of_each_estimate():
    # a ConvNet's in-RAM estimate is the smallest heap that holds it in RAM at all, beside
    # an 80x60 frame; an MLP's is the heap where the app has a 160x128 frame beside it
    from gentlenet.common import heap_line

    for name, in_ram in (("mnist-784-100-10", "160x128"), ("mnist-cnn-8s2-16s2-32s2-10", "80x60")):
        line = heap_line(qformat.board_heap(qformat.load(os.path.join(ROOT, "weights", name + ".gnet"))))
        assert "(in RAM, %s frames)" % in_ram in line and "(streamed, 80x60 frames)" in line, line


def test_round_trip(tmp_path):
    m = mlp.MLP([784, 20, 7, 3], hidden="sigmoid", seed=3)
    rng = np.random.default_rng(0)
    q = quantize.quantize(m, rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), labels=["a", "bé", ""])
    p = str(tmp_path / "m.gnet")
    qformat.save(q, p)
    r = qformat.load(p)
    assert r.labels == ["a", "bé", ""] and r.sizes == [784, 20, 7, 3] and r.output == "softmax"
    for a, b in zip(q.layers, r.layers):
        for k in ("W", "bias", "M", "S", "lut"):
            assert np.array_equal(a[k], b[k]), k
    x = rng.integers(0, 256, (50, 784), dtype=np.uint8)
    assert np.array_equal(quantize.reference(q, x), quantize.reference(r, x))
    assert os.listdir(tmp_path) == ["m.gnet"]  # no temporary file left behind


def test_trainer_reader_rejects_damage(shipped):
    qformat.from_bytes(shipped)  # the intact file is fine
    for name, data, pattern in corruptions(shipped):
        with pytest.raises(qformat.FormatError) as e:
            qformat.from_bytes(data, "m.gnet")
        assert re.search(pattern, str(e.value)), (name, str(e.value))
        assert str(e.value).startswith("m.gnet: ")


def test_device_reader_rejects_damage_on_cpython(shipped, tmp_path):
    for name, data, pattern in corruptions(shipped):
        p = tmp_path / "bad.gnet"
        p.write_bytes(data)
        for stream in (False, True):
            with pytest.raises(gnet.ModelError) as e:
                gnet.Model(str(p), stream=stream)
            assert re.search(pattern, str(e.value)), (name, str(e.value))


@pytest.mark.parametrize("where,backend", [("unix", "viper"), ("unix", "python"), ("wasm", "ulab"), ("wasm", "python")])
def test_device_reader_rejects_damage_on_micropython(shipped, tmp_path, where, backend):
    """Every damaged file is refused on MicroPython, with the reason: the 64-bit unix port
    and the 32-bit webassembly one (small ints end at 2**30 there, as on a board: a bias
    forged past the 2**30 bound is refused, never computed), each backend."""
    cases = corruptions(shipped)
    for i, (_, data, _) in enumerate(cases):
        (tmp_path / ("%d.gnet" % i)).write_bytes(data)
    (tmp_path / "zeros.bin").write_bytes(bytes(3 * 784))
    r = on_micropython("verdicts", tmp_path, len(cases), tmp_path / "zeros.bin", "alternate", backend,
                       interpreter=wasm() if where == "wasm" else None)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(cases), r.stdout
    for (name, _, pattern), line in zip(cases, lines):
        i, kind, msg = line.split("|", 2)
        assert kind == "ModelError" and re.search(pattern, msg), (name, line)


def test_device_error_names_the_file(shipped, tmp_path):
    p = tmp_path / "model.gnet"
    p.write_bytes(shipped[:40000])
    with pytest.raises(gnet.ModelError, match=r"model\.gnet.*truncated"):
        gnet.Model(str(p))


def test_the_heap_estimate_matches_micropython(tmp_path):
    """qformat.runtime_heap (what `gentlenet export` prints) against gc.mem_free() around
    gnet.Model on the real MicroPython, for four MLPs and two ConvNets, in RAM and
    streamed: within 5 %."""
    from trainer import layers, qlayers

    rng = np.random.default_rng(0)
    cal = rng.integers(0, 256, (50, 28, 28), np.uint8)
    mlps, convnets = [], []
    for sizes, hidden in (([784, 32, 10], "relu"), ([784, 100, 10], "relu"), ([784, 200, 10], "sigmoid"),
                          ([784, 64, 32, 10], "sigmoid")):
        path = str(tmp_path / ("%s.gnet" % "-".join(map(str, sizes))))
        qformat.save(quantize.quantize(mlp.MLP(sizes, hidden=hidden, seed=1), cal), path)
        mlps.append(path)
    for spec in ("conv8s2,conv16s2,conv32s2,dense10", "conv4s2,pool,conv6,conv5v,gap,dense10"):
        path = str(tmp_path / ("%s.gnet" % spec.replace(",", "-")))
        qformat.save(qlayers.to_qmodel(layers.Net(spec, seed=1), cal), path)
        convnets.append(path)
    # the first model once beforehand, so that gnet's own code (and a ConvNet's gnet_conv)
    # is not counted (its lines dropped); MLPs and ConvNets apart, each in a fresh heap
    for backend in ("viper", "python"):
        for names in (mlps, convnets):
            r = on_micropython("heap", backend, names[0], *names, heap="1024k")
            assert r.returncode == 0, r.stdout + r.stderr
            rows = [line.split() for line in r.stdout.splitlines()][2:]
            assert len(rows) == 2 * len(names), r.stdout
            for name, stream, used, rows_buffer in rows:
                q = qformat.load(name)
                est = qformat.runtime_heap(q, backend)["streamed" if stream == "1" else "in_ram"]
                dense = [L for L in q.layers if L.get("kind", "dense") == "dense"]
                est += int(rows_buffer) - max(L["W"].shape[1] for L in dense) if stream == "1" else 0
                assert abs(int(used) - est) <= 0.05 * int(used), (backend, os.path.basename(name), stream, used, est)
