"""Hostile data files: every loader ends with a DataError that names the file, or with
digits; never a traceback, a hang, or a runaway memory bill. Seeded and bounded; the fuzz
runs in its own process so that its peak memory is its own."""
import gzip
import io
import json
import os
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from conftest import ROOT
from trainer import data

N_FUZZ = 300
SEED = 11


def csv_line(label, pixels):
    return (",".join(str(v) for v in [label] + list(pixels)) + "\n").encode()


def png_bytes(a, mode=None):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, "PNG") if mode else Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def seeds():
    """(suffix, valid bytes) that the fuzzer mutates."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    idx3 = bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 28, 28) + imgs.tobytes()
    csv = b"".join(csv_line(int(l), im.ravel()) for l, im in zip(labels, imgs))
    digit = np.full((40, 30), 230, np.uint8)
    digit[8:32, 12:18] = 20
    return [("-images-idx3-ubyte", idx3), ("-images-idx3-ubyte.gz", gzip.compress(idx3)), (".csv", csv),
            (".csv.gz", gzip.compress(csv)), (".png", png_bytes(digit))], labels


def mutate(blob, rng):
    b = bytearray(blob)
    for _ in range(rng.choice((1, 1, 2, 4))):
        k = rng.randrange(6)
        if k == 0 and b:        # flip bits
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif k == 1:            # cut
            b = b[:rng.randrange(len(b) + 1)]
        elif k == 2:            # forge a big number in the first 32 bytes
            i = rng.randrange(min(len(b), 29) or 1)
            b[i:i + 4] = struct.pack(">I", rng.choice([0, 1, 0xFFFFFFFF, 1 << 20, 60000, 28]))
        elif k == 3:            # insert junk
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 20)))
        elif k == 4 and b:      # replace a byte with a CSV troublemaker
            i = rng.randrange(len(b))
            b[i:i + 1] = rng.choice([b"-", b"--3", b"99999999999999999999999", b"\xef\xbb\xbf", b",", b"\n", b" "])
        else:                   # duplicate a piece
            i = rng.randrange(len(b) + 1)
            b[i:i] = b[i:i + rng.randrange(1, 100)]
    return bytes(b)


RUNNER = r"""
import json, os, resource, sys
sys.path.insert(0, %(root)r)
from trainer import data
out = []
for path in json.load(open(sys.argv[1])):
    try:
        s = data.load_split(path)
        out.append(["ok", len(s)])
    except data.DataError as e:
        out.append(["DataError", str(e)])
    except BaseException as e:
        out.append([type(e).__name__, str(e)[:300]])
print(json.dumps({"results": out, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_loaders(paths, tmp_path, timeout=240):
    lst = tmp_path / "paths.json"
    lst.write_text(json.dumps([str(p) for p in paths]))
    r = subprocess.run([sys.executable, "-c", RUNNER % {"root": ROOT}, str(lst)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_loader_fuzz_no_traceback_every_error_names_the_file(tmp_path):
    rng = random.Random(SEED)
    base, _ = seeds()
    paths = []
    for i in range(N_FUZZ):
        suffix, blob = rng.choice(base)
        p = tmp_path / ("f%03d%s" % (i, suffix))
        p.write_bytes(mutate(blob, rng))
        if suffix.startswith("-images"):  # its labels file beside it, intact or not
            lab = bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + bytes(range(5))
            (tmp_path / ("f%03d-labels-idx1-ubyte" % i)).write_bytes(lab if rng.random() < 0.7 else mutate(lab, rng))
        paths.append(p)
    out = run_loaders(paths, tmp_path)
    bad = []
    for p, (kind, msg) in zip(paths, out["results"]):
        if kind == "ok":
            continue
        if kind != "DataError":
            bad.append("%s: %s %s" % (p.name, kind, msg))
        elif p.name not in msg and p.name.replace("images-idx3", "labels-idx1") not in msg:
            bad.append("%s: the error does not name the file: %s" % (p.name, msg))
    kinds = [k for k, _ in out["results"]]
    assert kinds.count("ok") > 5 and kinds.count("DataError") > 50, kinds  # the fuzz reaches both sides
    assert not bad, "\n".join(bad[:20])
    assert out["maxrss_kb"] < 500 * 1024, out["maxrss_kb"]


def test_the_reported_loader_failures(tmp_path):
    """Each of these gave a traceback, a hang, a silent wrong answer or GBs of RAM before."""
    row = list(range(784))
    row = [v % 256 for v in row]
    cases = {}
    cases["minus-minus.csv"] = csv_line(1, row).replace(b",3,", b",--3,", 1)
    cases["huge.csv"] = csv_line(1, row).replace(b",3,", b",99999999999999999999,", 1)
    cases["cut.csv.gz"] = gzip.compress(csv_line(1, row) * 50)[:-200]
    cases["bitflip.csv.gz"] = bytes(b ^ (0x10 if i == 40 else 0)
                                    for i, b in enumerate(gzip.compress(csv_line(1, row) * 50)))
    cases["zero-images-idx3-ubyte"] = bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 28, 28)
    cases["forged-images-idx3-ubyte"] = bytes([0, 0, 8, 3]) + struct.pack(">3I", 0xFFFFFFFF, 0xFFFF, 0xFFFF)
    # a 2 MB gzip that inflates to 4 GB: only the header's bytes (+1) may be inflated
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [bomb.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28))]
    zero = bytes(1 << 20)
    for _ in range(4096):
        parts.append(bomb.compress(zero))
    parts.append(bomb.flush())
    cases["bomb-images-idx3-ubyte.gz"] = b"".join(parts)
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    (tmp_path / "bomb-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 60000) + bytes(60000)))
    for prefix in ("zero", "forged"):
        (tmp_path / ("%s-labels-idx1-ubyte" % prefix)).write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 0))
    fifo = tmp_path / "3_pipe.png"
    os.mkfifo(str(fifo))
    paths = [tmp_path / n for n in cases] + [fifo]
    out = run_loaders(paths, tmp_path, timeout=120)
    for p, (kind, msg) in zip(paths, out["results"]):
        assert kind == "DataError" and str(p) in msg, (p.name, kind, msg)
    assert out["maxrss_kb"] < 500 * 1024, out["maxrss_kb"]


def test_images_as_people_make_them(tmp_path):
    from PIL import Image

    digit = np.zeros((40, 30), np.uint8)
    digit[8:32, 12:18] = 255  # a "1"
    # a drawing app's PNG: black ink only in the alpha channel, transparent paper
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[..., 3] = digit
    Image.fromarray(rgba, "RGBA").save(str(tmp_path / "1_alpha.png"))
    # a 16-bit scan: white paper at 65535, dark ink
    g16 = (65535 - digit.astype(np.uint32) * 250).astype(np.uint16)
    Image.fromarray(g16).save(str(tmp_path / "1_sixteen.png"))
    ref = data.load_image(str(tmp_path / "1_alpha.png"))
    assert ref.max() == 255 and ref.sum() < 0.5 * 255 * 784  # a digit, not a blank or a filled square
    assert data.load_image(str(tmp_path / "1_sixteen.png")).sum() < 0.5 * 255 * 784
    assert data.load_image(str(tmp_path / "1_sixteen.png")).max() == 255
    # a CSV saved by a Windows editor keeps its first digit
    row = [0] * 784
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + csv_line(7, row) + csv_line(3, row))
    s = data.load_split(str(tmp_path / "bom.csv"))
    assert list(s.labels) == [7, 3]


def test_a_decompression_bomb_png_is_refused(tmp_path):
    from PIL import Image

    p = tmp_path / "3_bomb.png"
    Image.new("L", (20000, 20000), 255).save(str(p), optimize=True)
    assert p.stat().st_size < 2_000_000
    with pytest.raises(data.DataError, match="3_bomb.png"):
        data.load_image(str(p))
