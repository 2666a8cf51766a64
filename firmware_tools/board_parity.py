"""Does my board compute the same bytes? Official test digits sent to the board's app as
28x28 digits (no preprocessing), every int8 score vector and confidence compared with the
numpy reference (trainer/quantize.py).

    python -m firmware_tools.board_parity --port /dev/ttyACM0 [--model M.gnet] [--n 1000 | --all]
    gentlenet parity --port /dev/ttyACM0            (the same)
    make test-parity PORT=/dev/ttyACM0               (the same, after the local checks)

The digits come from where `gentlenet demo` finds them (trainer/sources.py): --data or
$GENTLENET_DATA, the cache, a download of the official files, else the offline sample
(its held-out part); the first line says which.

The board must run the app (`gentlenet flash`); the model it has is compared with --model
by CRC-32, and a different one is said loudly (then every answer is still compared, so a
board whose copy differs by one weight shows its mismatches). Exit status 1 on any
mismatch.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The models the board may run without being told (gentlenet flash's: an exported one, the
# shipped ConvNet, or the shipped MLP on a board too small for it), by default the one whose
# CRC-32 the board reports
CANDIDATES = (os.path.join("out", "model.gnet"), os.path.join(ROOT, "weights", "mnist-cnn-8s2-16s2-32s2-10.gnet"),
              os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))


def run(port, model_path, images, labels, log=print, show=10):
    """Every image (n, 28, 28) uint8 classified on the board at `port`; returns a summary
    dict: mismatches (list of dicts), board and timing facts. model_path None: the one of
    CANDIDATES that the board runs (else the shipped ConvNet, with a warning)."""
    from firmware_tools import boardclient
    from trainer import qformat, quantize

    board = boardclient.BoardClient(port, log=log).start()
    try:
        info = board.info()
        if model_path is None:
            model_path = next((p for p in CANDIDATES if os.path.exists(p) and not board.other_model(p, info)),
                              CANDIDATES[1])
            log("model: %s" % model_path)
        q = qformat.load(model_path)
        ref = quantize.reference(q, images)           # (n, n_classes) int8
        conf = quantize.confidence(q, ref)            # (n,) in 1/10000
        other = board.other_model(model_path, info)
        if other:
            log("WARNING: %s; comparing anyway" % other)
        mismatches, us, t0 = [], [], time.time()
        for i, img in enumerate(images):
            a = board.classify(img, fmt="mnist")
            got = [int(v) for v in a["scores"]]
            want = [int(v) for v in ref[i]]
            if got != want or round(a["confidence"] * 10000) != int(conf[i]):
                mismatches.append({"index": i, "label": int(labels[i]), "board": got, "reference": want,
                                   "board_confidence": a["confidence"], "reference_confidence": int(conf[i]) / 10000})
                if len(mismatches) <= show:
                    log("mismatch: digit %d (label %d): board %s conf %.4f, reference %s conf %.4f" % (
                        i, labels[i], got, a["confidence"], want, conf[i] / 10000))
            us.append(a["us"])
        wall = time.time() - t0
    finally:
        board.close()
    return {"port": port, "model": model_path, "model_crc32": "%08x" % qformat.crc32_of(model_path),
            "board_model_crc32": (info.get("model") or {}).get("crc32"),
            "runtime": info.get("runtime"), "platform": info.get("platform"), "backend": info.get("backend"),
            "stream": (info.get("model") or {}).get("stream"), "images": len(images), "mismatches": mismatches,
            "board_ms_per_image": float(np.mean(us)) / 1000 if us else None,
            "wall_ms_per_image": 1000 * wall / max(1, len(images))}


def _at_least_one(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("a whole number of digits, at least 1, not %r" % text)
    return n


def add_args(ap):
    ap.add_argument("--port", required=True, help="the board's serial port (or the virtual board's pty)")
    ap.add_argument("--model", help="the .gnet the board should run (default: the one it runs, of out/model.gnet "
                    "and the shipped ConvNet and MLP)")
    ap.add_argument("--data", metavar="PATH", help="test digits: an MNIST IDX folder (its test set), a CSV, a folder "
                    "of images (default: $GENTLENET_DATA, the cache, a download, the offline sample)")
    ap.add_argument("--cache", metavar="DIR", help="download cache (default: $GENTLENET_CACHE or ~/.cache/gentlenet)")
    ap.add_argument("--no-download", action="store_true", help="never try to download MNIST")
    how_many = ap.add_mutually_exclusive_group()
    how_many.add_argument("--n", type=_at_least_one, default=1000, help="test digits to send (default: %(default)s)")
    how_many.add_argument("--all", action="store_true",
                          help="all of them (10,000: about a minute on a pty, far longer at 115200 baud)")


def test_digits(args, log=print):
    """The test digits, found as `gentlenet demo` finds its data; says which."""
    from trainer import data, sources

    if args.data:
        test = data.load_split(os.path.expanduser(args.data), "test")
        log("data: %s (%d test digits)" % (args.data, len(test)))
        return test
    ds = sources.find(None, None, args.cache, not args.no_download, log=log)
    if ds.test is None:
        raise data.DataError("%s has no test digits" % ds.source)
    log("data: %s (%d test digits)%s" % (ds.source, len(ds.test), " - " + ds.note if ds.note else ""))
    return ds.test


def check(args, log=print):
    """The check for parsed `args` (add_args); exit status: 1 on any mismatch."""
    test = test_digits(args, log)
    n = len(test) if args.all else min(args.n, len(test))
    r = run(args.port, args.model, test.images[:n].reshape(-1, 28, 28), test.labels[:n], log=log)
    log("board %s: %s, %s backend%s; %d test digits, %d mismatches; %.2f ms per image on the board, %.1f ms with the "
        "serial line" % (r["port"], r["runtime"], r["backend"], " (model streamed from flash)" if r["stream"] else "",
                         r["images"], len(r["mismatches"]), r["board_ms_per_image"], r["wall_ms_per_image"]))
    return 1 if r["mismatches"] else 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m firmware_tools.board_parity", description=__doc__.split("\n\n")[0],
                                 allow_abbrev=False)
    add_args(ap)
    from firmware_tools.boardclient import BoardError
    from trainer.data import DataError
    from trainer.download import DownloadError

    try:
        return check(ap.parse_args(argv))
    except (BoardError, DataError, DownloadError, ValueError) as e:  # ValueError: the model file's FormatError
        print("error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
