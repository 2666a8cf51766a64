"""Forged .gnet files that pass the CRC: only validation can catch them.

Seeded and bounded. Every forged file goes through trainer/qformat.py (numpy) and
device/gnet.py on CPython (in RAM and streamed) and on the real MicroPython (in RAM,
streamed, and in a small heap). What must hold, for every file:
- a reader raises only its own error type (FormatError, ModelError), never anything else;
- the readers agree: a file one refuses, every one refuses;
- an accepted file keeps FORMAT.md's 2^30 bounds (checked here independently) and gives
  the numpy reference's scores and confidence on every runtime.
"""
import os
import random
import re
import struct

import numpy as np

from conftest import ROOT, micropython, mpy_cross, on_micropython
from test_qformat import edit, reseal
from device import gnet
from trainer import mlp, qformat, quantize

LIMIT = (1 << 30) - 1
N_FUZZ = 600        # forged files (about 200 of each base); MicroPython loads each three ways
SEED = 9


CONVNET = "conv2s2,conv3,pool,conv3v,gap,dense4"  # every kind and geometry of a version 2 file, small


def small_models():
    """Three small real models: ReLU 784-12-10, sigmoid 784-8-6-3 and a ConvNet of every
    layer kind (fast to load and run many times)."""
    from trainer import layers, qlayers

    rng = np.random.default_rng(0)
    calib = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    a = quantize.quantize(mlp.MLP([784, 12, 10], seed=1), calib)
    b = quantize.quantize(mlp.MLP([784, 8, 6, 3], hidden="sigmoid", output="sigmoid", seed=2), calib,
                          labels=["zéro", "one", ""])
    c = qlayers.to_qmodel(layers.Net(CONVNET, seed=3), calib)
    return [qformat.to_bytes(a), qformat.to_bytes(b), qformat.to_bytes(c)]


def fields(data):
    """(offset, struct format) of every number a forger might change: the header, the
    layer table, labels, the output table, and per-neuron bias/M/S."""
    out = [(off, fmt) for off, fmt in ((4, "<H"), (6, "<H"), (8, "<I"), (12, "<H"), (14, "<H"), (16, "<B"),
                                       (17, "<b"), (18, "<B"), (19, "<B"), (20, "<B"), (21, "<B"), (22, "<B"),
                                       (23, "<B"), (24, "<I"), (28, "<I"), (32, "<I"), (36, "<I"))]
    n_layers = data[20]
    layer_fmts = [(0, "<B"), (1, "<B"), (2, "<b"), (3, "<B"), (4, "<H"), (6, "<H"), (8, "<I"), (12, "<I"),
                  (16, "<I"), (20, "<I"), (24, "<I"), (28, "<I")]
    for l in range(n_layers):
        base = 40 + 32 * l
        out += [(base + o, f) for o, f in layer_fmts]
        rec = qformat.LAYER.unpack_from(data, base)
        n_out = rec[5] if rec[0] in (qformat.DENSE, qformat.CONV) else 0  # a pool or gap has no sections
        out += [(rec[7] + 4 * c, "<i") for c in range(0, n_out, 3)]   # bias
        out += [(rec[8] + 2 * c, "<H") for c in range(0, n_out, 3)]   # M
        out += [(rec[9] + c, "<B") for c in range(0, n_out, 3)]       # S
    labels_off, table_off = struct.unpack_from("<I", data, 24)[0], struct.unpack_from("<I", data, 36)[0]
    out += [(labels_off + k, "<B") for k in range(4)]
    out += [(table_off + 2 * k, "<H") for k in (0, 1, 2, 128, 200, 255)]
    return out


def interesting(fmt, old, rng):
    bits = struct.calcsize(fmt) * 8
    signed = fmt[-1].islower() and fmt[-1] != "b" or fmt[-1] in "bhi"
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    choices = [lo, hi, 0, 1, -1, old + 1, old - 1, old * 2, old // 2, hi // 2 + 1, 1 << rng.randrange(bits - 1),
               rng.randint(lo, hi), 0xC0, 0xED, 255, 32767, 32768, 40000]
    while True:
        v = rng.choice(choices)
        if lo <= v <= hi and v != old:
            return v


def forge(data, rng):
    data = bytearray(data)
    fs = fields(bytes(data))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        off, fmt = rng.choice(fs)
        if off + struct.calcsize(fmt) > len(data) - 4:
            continue
        old = struct.unpack_from(fmt, data, off)[0]
        struct.pack_into(fmt, data, off, interesting(fmt, old, rng))
    return reseal(data)


def within_bounds(q):
    """FORMAT.md's bounds, checked here without the readers' code."""
    if q.input_offset not in (-128, -127):
        return False
    for L in q.layers:
        if "W" not in L:
            continue  # a pool or gap: no arithmetic to bound
        W = L["W"].reshape(len(L["W"]), -1).astype(np.int64)  # (n_out, n_in) or (c_out, 9 c_in)
        s = np.abs(W).sum(axis=1)
        b = np.abs(L["bias"].astype(np.int64))
        A, B = b + 128 * s, b + 384 * s
        if (B > LIMIT).any() or (A * L["M"].astype(np.int64) + (1 << (L["S"].astype(np.int64) - 1)) > LIMIT).any():
            return False
    return True


# three test images, as many pixels as a forged header may ask of a ConvNet (its picture's
# size is the header's); a model that takes more is only loaded ("big"), in every reader
IMAGES = np.random.default_rng(1).integers(0, 256, (3, 8192), dtype=np.uint8)
IMAGES[0] = 0


def expected(q):
    """'scores hex/confidence' per test image, from the numpy reference."""
    n = q.width * q.height * q.channels
    if n > IMAGES.shape[1]:
        return "big"
    x = IMAGES[:, :n]
    s = quantize.reference(q, x)
    c = quantize.confidence(q, s)
    return ";".join("%s/%d" % (bytes(si.astype(np.int8).tobytes()).hex(), ci) for si, ci in zip(s, c))


def host_device(path, stream):
    """What device/gnet.py on CPython says of a file: ("LOADED", answers) or (error type, message)."""
    try:
        m = gnet.Model(path, stream=stream)
    except gnet.ModelError as e:
        return "ModelError", str(e)
    except Exception as e:  # noqa: anything else is a finding
        return type(e).__name__, str(e)
    try:
        n = m.width * m.height * m.channels
        if n > IMAGES.shape[1]:
            return "LOADED", "big"
        out = []
        for img in IMAGES:
            s = m.scores(bytes(img[:n]))
            out.append("%s/%d" % (bytes(s).hex(), m.confidence(s)))
        return "LOADED", ";".join(out)
    except Exception as e:  # noqa
        return "CRASH " + type(e).__name__, str(e)
    finally:
        m.close()


def precompiled(tmp_path):
    """The runtime as .mpy, as `gentlenet flash` sends it to a board: compiling the source
    alone needs more than a 64 KB heap."""
    from firmware_tools import flash

    mpy_cross()
    d = tmp_path / "mpy"
    if not d.exists():
        flash.precompile(str(d), micropython())
    assert any(n.endswith(".mpy") for n in os.listdir(str(d))), "mpy-cross and the interpreter disagree"
    return str(d)


def device_verdicts(tmp_path, n, stream=False, heap=None, timeout=300):
    """firmware_tools/onboard/verdicts.py on MicroPython: {i: (kind, message)} for i.gnet."""
    (tmp_path / "images.bin").write_bytes(IMAGES.tobytes())
    r = on_micropython("verdicts", tmp_path, n, tmp_path / "images.bin", "stream" if stream else "ram",
                       device=precompiled(tmp_path) if heap else None, heap=heap, timeout=timeout)
    assert r.returncode == 0, "MicroPython itself failed: " + r.stdout[-1000:] + r.stderr[-1000:]
    rows = {}
    for line in r.stdout.splitlines():
        i, kind, msg = line.split("|", 2)
        rows[int(i)] = (kind, msg)
    assert len(rows) == n, r.stdout[-2000:]
    return rows


def verdicts(tmp_path, files):
    """Every reader's verdict on every file: {reader: [(kind, message)]}."""
    for i, data in enumerate(files):
        (tmp_path / ("%d.gnet" % i)).write_bytes(data)
    out = {"qformat": [], "cpython": [], "cpython-stream": []}
    for i, data in enumerate(files):
        try:
            q = qformat.from_bytes(data, "%d.gnet" % i)
            out["qformat"].append(("LOADED", expected(q), q))
        except qformat.FormatError as e:
            out["qformat"].append(("FormatError", str(e), None))
        except Exception as e:  # noqa
            out["qformat"].append((type(e).__name__, str(e), None))
        out["cpython"].append(host_device(str(tmp_path / ("%d.gnet" % i)), False))
        out["cpython-stream"].append(host_device(str(tmp_path / ("%d.gnet" % i)), True))
    n = len(files)
    for name, kw in (("micropython", {}), ("micropython-stream", {"stream": True}),
                     ("micropython-96k", {"stream": True, "heap": "96k"})):
        rows = device_verdicts(tmp_path, n, **kw)
        out[name] = [rows[i] for i in range(n)]
    return out


def check(files, v):
    """The findings: a list of strings, empty when all is well."""
    bad = []
    for i in range(len(files)):
        qk, qmsg, q = v["qformat"][i]
        if qk not in ("LOADED", "FormatError"):
            bad.append("%d qformat raised %s: %s" % (i, qk, qmsg))
        if q is not None and not within_bounds(q):
            bad.append("%d accepted but breaks the 2^30 bounds" % i)
        for name in ("cpython", "cpython-stream", "micropython", "micropython-stream", "micropython-96k"):
            kind, msg = v[name][i]
            if kind not in ("LOADED", "ModelError"):
                bad.append("%d %s: %s %s" % (i, name, kind, msg))
            elif name == "micropython-96k" and qk == "LOADED" and "not enough RAM" in msg:
                continue  # a good model too big for a small heap (a forged picture size): said so
            elif (kind == "LOADED") != (qk == "LOADED"):
                bad.append("%d readers disagree: qformat %s (%s), %s %s (%s)" %
                           (i, qk, qmsg[:80], name, kind, msg[:80]))
            elif kind == "LOADED" and msg != qmsg:
                bad.append("%d %s gives other scores or confidence than the reference" % (i, name))
    return bad


def test_forged_models_are_refused_or_exact(tmp_path):
    rng = random.Random(SEED)
    bases = small_models()
    files = bases + [forge(rng.choice(bases), rng) for _ in range(N_FUZZ)]
    v = verdicts(tmp_path, files)
    findings = check(files, v)
    accepted = sum(k == "LOADED" for k, _, _ in v["qformat"])
    assert all(v["qformat"][k][0] == "LOADED" for k in range(len(bases)))
    assert 2 < accepted < len(files), accepted  # the fuzzer reaches both sides
    assert not findings, "\n".join(findings[:30])


# ------------------------------------------------------------------ the cases


def regressions():
    """(name, forged bytes, message pattern): each was accepted, or crashed a reader, before."""
    base = small_models()[0]
    table_off = struct.unpack_from("<I", base, 36)[0]
    zero_table = bytearray(base)
    zero_table[table_off:table_off + 512] = bytes(512)
    cases = [
        ("all-zero output table", reseal(zero_table), r"output table"),
        ("rising softmax table", edit(base, table_off + 2 * 5, "<H", 40000), r"output table"),
        ("input_offset 0", edit(base, 17, "<b", 0), r"input_offset"),
        ("input_offset 127", edit(base, 17, "<b", 127), r"input_offset"),
        ("forged n_out before the span check", edit(base, 40 + 4 + 2, "<H", 65535), r"shapes|outside"),
    ]
    # labels "0".."9" are one byte each: replace label 0 by a two-byte overlong C0 80 and
    # label 1 by a 3-byte surrogate (ED A0 80), keeping labels_size (the following labels move)
    raw = bytearray(base)
    n_classes = raw[21]
    labels = [b"\xc0\x80", b"\xed\xa0\x80"] + [str(i).encode() for i in range(2, n_classes)]
    for name, bad in (("overlong C0 80", [labels[0]] + [str(i).encode() for i in range(1, n_classes)]),
                      ("surrogate ED A0 80", [b"0", labels[1]] + [str(i).encode() for i in range(2, n_classes)])):
        q = qformat.from_bytes(base)
        q.labels = ["x" * len(b) for b in bad]
        good = bytearray(qformat.to_bytes(q))
        lo = struct.unpack_from("<I", good, 24)[0]
        blob = b"".join(bytes([len(b)]) + b for b in bad)
        good[lo:lo + len(blob)] = blob
        cases.append((name, reseal(good), r"UTF-8"))
    return cases


def big_input_model():
    """A model with 40,000 inputs (200x200): more than the int16 index holds."""
    W = np.ones((2, 40000), np.int8)
    layer = {"W": W, "bias": np.zeros(2, np.int32), "M": np.ones(2, np.uint16), "S": np.full(2, 20, np.uint8),
             "act": "none", "zero": 0, "lut": None}
    q = qformat.QModel([layer], ["a", "b"], table=quantize.output_table("softmax", 0.1), width=200, height=200,
                       preprocess="none")
    # to_bytes checks with the reader, which now refuses it: build the bytes by hand
    orig = qformat.from_bytes
    qformat.from_bytes = lambda *a, **k: None
    try:
        return qformat.to_bytes(q)
    finally:
        qformat.from_bytes = orig


def test_each_reported_forgery_is_refused_by_every_reader(tmp_path):
    import re

    cases = regressions() + [("40,000 inputs", big_input_model(), r"32767|int16")]
    files = [data for _, data, _ in cases]
    v = verdicts(tmp_path, files)
    for i, (name, _, pattern) in enumerate(cases):
        for reader in v:
            kind, msg = v[reader][i][:2]
            assert kind in ("FormatError", "ModelError"), (name, reader, kind, msg)
            assert re.search(pattern, msg), (name, reader, msg)


def test_a_forged_size_is_a_model_error_in_a_small_heap(tmp_path):
    """A layer table that claims 65535 outputs is refused before anything is allocated."""
    base = small_models()[0]
    forged = edit(base, 40 + 6, "<H", 65535)
    (tmp_path / "0.gnet").write_bytes(forged)
    rows = device_verdicts(tmp_path, 1, heap="64k")
    assert rows[0][0] == "ModelError", rows


def test_a_model_too_big_for_the_heap_is_a_model_error(tmp_path):
    """In RAM the shipped model needs more than a 64 KB heap: ModelError naming the sizes."""
    data = open(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"), "rb").read()
    (tmp_path / "0.gnet").write_bytes(data)
    rows = device_verdicts(tmp_path, 1, heap="64k")
    kind, msg = rows[0]
    assert kind == "ModelError" and "not enough RAM" in msg and "79400 bytes of weights" in msg, rows
    assert "bytes free" in msg and "stream=True" in msg, msg
    # the free total and the largest block, measured after the load gave back what it took:
    # a heap with more bytes free than the weights can still have no room for them
    free, largest = (int(v) for v in re.search(r"heap has (\d+) bytes free, the largest block (\d+)", msg).groups())
    assert 0 < largest <= free, msg
