"""Train through the camera: every training digit drawn as a camera frame by
trainer/world.py (one of its conditions, at 80x60 to 640x480) and made MNIST-style again by
device/mnistify.py, exactly the bytes the board will feed the network. A share of each
batch is taken from these instead of the clean digits, so the network learns what
mnistify's output of a real frame looks like: a marker's blob, a stroke thinned by blur,
a loop half lost under glare.

Rendering a frame and reading it back costs milliseconds (tens at 640x480), far too much
for every digit of every batch: the frames are drawn once before training (`copies` per
digit, on every core), kept as uint8 28x28 digits (copies x 784 bytes a digit: 9.4 MB for
6,000 digits and 2 copies, 94 MB for 60,000), and cached beside the checkpoint, named by
the data's fingerprint, the seed, the copies and mnistify's version, so that a resumed
or repeated run does not draw them again. The cache is an .npz of one uint8 array, read
with allow_pickle=False; a file that does not match is drawn again.
"""
from __future__ import annotations

import os
import time
import zipfile
from multiprocessing import get_all_start_methods, get_context

import numpy as np

from device import mnistify
from trainer import progress, world

_W = None


def _init(images, labels, seed):
    global _W
    _W = world.World(images, labels, seed=seed)


def _one(m):
    # frame m of the world (digit m % n, condition m % 19, resolution (m // 19) % 4) -> 28x28
    f = _W.frame(m)
    return bytes(mnistify.mnistify(f.tobytes(), f.shape[1], f.shape[0]))


def cache_name(fingerprint, seed, copies):
    return "camera-%s-seed%d-x%d-mnistify%d.npz" % (fingerprint, seed, copies, mnistify.VERSION)


def frames(split, copies, seed, fingerprint, cache_dir=None, jobs=None, log=print, show_progress=None):
    """(copies * n, 28, 28) uint8: row j * n + i is training digit i seen through the camera
    (its j-th frame). From cache_dir when a cache for this data, seed and mnistify is there."""
    n = len(split)
    path = os.path.join(cache_dir, cache_name(fingerprint, seed, copies)) if cache_dir else None
    if path and os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                got = z["digits"]
            if got.shape == (copies * n, 28, 28) and got.dtype == np.uint8:
                log("camera frames: %d from %s" % (len(got), path))
                return got
            log("camera frames: %s holds %s %s, not (%d, 28, 28) uint8: drawing them again" % (
                path, got.dtype, got.shape, copies * n))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            log("camera frames: %s unreadable (%s): drawing them again" % (path, e))
    images = split.images.reshape(-1, 28, 28)
    jobs = max(1, jobs or os.cpu_count() or 1)
    total = copies * n
    log("camera frames: drawing %d (%d per digit, %d conditions at 80x60 to 640x480; mnistify v%d) on %d core%s" % (
        total, copies, len(world.CONDITIONS), mnistify.VERSION, jobs, "s" if jobs > 1 else ""))
    out = np.zeros((total, 28, 28), np.uint8)
    t0 = time.time()
    bar = progress.Bar(total, "camera frames", enabled=show_progress)
    # fork where there is one (Linux, a Pi): the workers share the digits without copying
    ctx = get_context("fork" if "fork" in get_all_start_methods() else None)
    with ctx.Pool(jobs, initializer=_init, initargs=(images, split.labels, seed)) as pool:
        for m, d in enumerate(pool.imap(_one, range(total), chunksize=16)):
            out[m] = np.frombuffer(d, np.uint8).reshape(28, 28)
            if m % 64 == 0 or m == total - 1:
                bar.update(m + 1, "%.0f s" % (time.time() - t0))
    bar.close()
    log("camera frames: %d drawn in %.0f s" % (total, time.time() - t0))
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            np.savez(f, digits=out)
        os.replace(tmp, path)  # whole or not at all
    return out
