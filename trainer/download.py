"""Download the official MNIST files into a cache, safely.

Each file is fetched into `<name>.part`, resumed with an HTTP Range request when a
connection drops, checked against its MD5, and only then renamed to its real name: the
cache never holds a partial or corrupt file under a real name. Mirrors are tried in turn;
an unreachable host (no network) fails at once rather than after long time-outs.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request

from trainer import progress

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# name: (md5, size in bytes) of the official files
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
CHUNK = 64 * 1024


class DownloadError(RuntimeError):
    pass


def default_cache():
    """$GENTLENET_CACHE, else $XDG_CACHE_HOME/gentlenet, else ~/.cache/gentlenet."""
    if os.environ.get("GENTLENET_CACHE"):
        return os.environ["GENTLENET_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gentlenet")


def md5sum(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unreachable(err):
    """True for errors that say the host cannot be reached at all (retrying is pointless)."""
    reason = getattr(err, "reason", err)
    return isinstance(reason, (socket.gaierror, ConnectionRefusedError)) or (
        isinstance(reason, OSError) and getattr(reason, "errno", None) in (101, 113))  # ENETUNREACH, EHOSTUNREACH


MAX_UNKNOWN = 64 * 1024 * 1024  # bytes accepted from a mirror when the file's size is not known
MIN_RATE = 20 * 1024            # bytes/s: a mirror slower than this over a whole file is given up


class TooMuch(DownloadError):
    pass


class TooSlow(DownloadError):
    pass


def _fetch_once(url, part, size, timeout, show_progress, label, deadline):
    """Append the rest of `url` to `part` (resuming from its size). Raises on a short read,
    on more bytes than the file can have, and when `deadline` (time.monotonic()) passes."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(url, headers={"User-Agent": "gentlenet"})
    if have:
        req.add_header("Range", "bytes=%d-" % have)  # ask only for what we lack
    with urllib.request.urlopen(req, timeout=timeout) as r:
        if have and r.status != 206:  # server ignored the range: start over
            have = 0
        total = size or (have + int(r.headers.get("Content-Length") or 0)) or None
        cap = size or min(total or MAX_UNKNOWN, MAX_UNKNOWN)
        bar = progress.Bar((total or 1), label, enabled=show_progress)
        with open(part, "ab" if have else "wb") as f:
            done = have
            while True:
                block = r.read1(CHUNK)  # what has arrived: a trickling mirror cannot hold us in one read
                if not block:
                    break
                if done + len(block) > cap:
                    raise TooMuch("%s: the mirror sent more than the %d bytes %s" % (
                        url, cap, "the file has" if size else "gentlenet accepts"))
                f.write(block)
                done += len(block)
                bar.update(done, "%.1f MB" % (done / 1e6))
                if time.monotonic() > deadline:
                    raise TooSlow("%s: too slow (%d bytes by the deadline)" % (url, done))
            bar.close()
        length = r.headers.get("Content-Length")
        if length is not None and done - have < int(length) and r.status in (200, 206):
            raise http.client.IncompleteRead(b"", int(length) - (done - have))


def download_file(name, md5, dest_dir, mirrors=MIRRORS, size=None, timeout=15, retries=3, show_progress=None,
                  log=print):
    """Fetch `name` from the first mirror that gives the right bytes; returns its path."""
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, name)
    if os.path.exists(dest) and md5sum(dest) == md5:
        return dest
    part = dest + ".part"
    problems = []
    for mirror in mirrors:
        url = mirror + name
        # the whole file from this mirror, retries included, within this many seconds
        deadline = time.monotonic() + max(60.0, (size or MAX_UNKNOWN / 8) / MIN_RATE)
        for attempt in range(retries + 1):
            try:
                _fetch_once(url, part, size, timeout, show_progress, name, deadline)
            except (TooMuch, TooSlow) as e:
                if os.path.exists(part) and isinstance(e, TooMuch):
                    os.remove(part)  # never resume from bytes that cannot be right
                problems.append(str(e))
                break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                if isinstance(e, urllib.error.HTTPError) or _unreachable(e):
                    problems.append("%s: %s" % (url, getattr(e, "reason", e)))
                    break  # this mirror will not work: next one
                problems.append("%s: %s (attempt %d)" % (url, e.__class__.__name__, attempt + 1))
                log("  connection to %s broke (%s); resuming" % (mirror, e.__class__.__name__))
                continue
            got = md5sum(part)
            if got == md5:
                os.replace(part, dest)
                return dest
            os.remove(part)  # wrong bytes are never kept
            problems.append("%s: checksum mismatch (md5 %s, expected %s)" % (url, got, md5))
            break
    # A .part left by broken connections stays, so that the next run resumes it.
    raise DownloadError("could not download %s:\n  %s" % (name, "\n  ".join(problems)))


OFFLINE_HINT = ("Offline? Point gentlenet at MNIST files you have: --data DIR or GENTLENET_DATA=DIR, "
                "where DIR holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not); "
                "or a Rashid-style CSV file; or a folder of digit images.")


def fetch_mnist(cache_dir=None, mirrors=None, files=None, log=print, show_progress=None, timeout=15):
    """Make sure the four official files are in <cache>/mnist; returns that folder."""
    d = os.path.join(cache_dir or default_cache(), "mnist")
    files = MNIST_FILES if files is None else files
    mirrors = MIRRORS if mirrors is None else mirrors
    for name, (md5, size) in files.items():
        try:
            download_file(name, md5, d, mirrors, size, timeout=timeout, show_progress=show_progress, log=log)
        except DownloadError as e:
            raise DownloadError("%s\n%s" % (e, OFFLINE_HINT)) from None
    return d


def cached_mnist(cache_dir=None):
    """The cache folder if it holds all four official files, else None (no checksums: fast)."""
    d = os.path.join(cache_dir or default_cache(), "mnist")
    return d if all(os.path.exists(os.path.join(d, n)) for n in MNIST_FILES) else None
