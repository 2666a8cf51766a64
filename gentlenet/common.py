"""What the model commands and the board commands share: where things go, how a failure
is said, the argument types, finding the data."""
from __future__ import annotations

import argparse
import os
import sys

from firmware_tools import ports

OUT = "out"
DEFAULT_MODEL = os.path.join(OUT, "model.npz")
DEFAULT_GNET = os.path.join(OUT, "model.gnet")
# the pretrained models in the source tree (weights/), for predicting and flashing before
# training: the ConvNet (the better reader of clean digits and of camera frames), and the
# MLP, which a board whose heap cannot hold the ConvNet beside its frames gets instead
_WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
SHIPPED_GNET = os.path.join(_WEIGHTS, "mnist-cnn-8s2-16s2-32s2-10.gnet")
SHIPPED_MLP = os.path.join(_WEIGHTS, "mnist-784-100-10.gnet")
# the shipped ConvNet's float checkpoint, which `gentlenet train --from shipped` fine-tunes
SHIPPED_NPZ = os.path.splitext(SHIPPED_GNET)[0] + ".npz"
BOARD_DIR = os.path.join(OUT, "board")  # the virtual board's flash
BOARD_PORT = ports.VIRTUAL_BOARD_FILE  # where a running virtual board says which pty it is
CAMERA_PORT = os.path.join(OUT, "camera.port")  # where a running simulated camera says which pty it is


class CommandError(Exception):
    """Something the user can put right (no model yet, no board, a file that is not a
    model): main prints "error: <message>" and exits 2, as for the libraries' own errors."""

    status = 2


class Disagreement(CommandError):
    """A check that ran and failed (the board and the host reference disagree): exit 1."""

    status = 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def _number(convert, ok, rule):
    """An argparse type: `convert` the text, then insist on `ok(value)` (said as `rule`)."""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError("a number, not %r" % text) from None
        if not ok(v):
            raise argparse.ArgumentTypeError("must be %s, not %s" % (rule, text))
        return v
    return parse


positive_int = _number(int, lambda v: v >= 1, "1 or more")
positive_float = _number(float, lambda v: 0 < v < float("inf"), "above 0")
fraction = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")


def data_args(p, test=True):
    p.add_argument(
        "--data", metavar="PATH", help="a folder of MNIST IDX files, a Rashid-style CSV, or a folder of digit "
        "images (default: $GENTLENET_DATA, the cache, a download, the offline sample)")
    if test:
        p.add_argument("--test-data", metavar="PATH", help="a separate test set (same kinds as --data)")
    p.add_argument("--cache", metavar="DIR", help="download cache (default: $GENTLENET_CACHE or ~/.cache/gentlenet)")
    p.add_argument("--no-download", action="store_true", help="never try to download MNIST")


def find_data(args, log=log):
    from trainer import sources

    ds = sources.find(args.data, getattr(args, "test_data", None), args.cache, not args.no_download, log=log)
    log("data: %s (%d training, %d test digits)" %
        (ds.source, len(ds.train) if ds.train else 0, len(ds.test) if ds.test else 0))
    if ds.note:
        log("NOTE: " + ds.note)
    return ds


def load_gnet(path):
    """A .gnet model, checked (qformat.FormatError names what is wrong), and fit for this
    gentlenet's camera pipeline."""
    from trainer import qformat

    q = qformat.load(path)
    if qformat.preprocess_problem(q):
        raise CommandError("%s: %s" % (path, qformat.preprocess_problem(q)))
    return q


def shown(path):
    """A path as a user reads it: relative when below the current folder."""
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir) else rel


def board_model(path):
    """The .gnet for a board: `path` when given; else out/model.gnet once `gentlenet export`
    has written it; else the shipped model, said so (a fresh folder flashes and classifies
    with it before any training)."""
    if path:
        return path
    if os.path.exists(DEFAULT_GNET):
        return DEFAULT_GNET
    log("no %s yet (gentlenet train, then gentlenet export): using the shipped model %s" % (
        DEFAULT_GNET, shown(SHIPPED_GNET)))
    return SHIPPED_GNET


def heap_line(h):
    """What a board needs for a model (qformat.board_heap), in one line (export, demo, flash)."""
    kb = lambda n: "%.0f KB" % (n / 1024)  # noqa: E731
    frames = h.get("frames", {"in_ram": "160x128", "streamed": "80x60"})  # (a card from before they were given)
    return ("board heap: the model takes %s in RAM or %s streamed from flash; with the board app, about %s "
            "(in RAM, %s frames) or %s (streamed, %s frames), estimated for 64-bit MicroPython "
            "(bench/board_heap.py). The app streams when RAM is short." % (
                kb(h["model"]["in_ram"]), kb(h["model"]["streamed"]), kb(h["app"]["in_ram"]), frames["in_ram"],
                kb(h["app"]["streamed"]), frames["streamed"]))


def network_name(model):
    """A float network in a few words: "784-100-10 relu" (an MLP), or its layer spec (a ConvNet)."""
    if hasattr(model, "spec"):
        return "ConvNet %s" % model.spec
    return "%s %s" % ("-".join(map(str, model.sizes)), model.hidden)
