import os

import numpy as np
import pytest
from conftest import rashid_dir, write_idx

from trainer import data
from trainer.data import DataError


def _pair(tmp_path, n=5, prefix="train", compress=True, labels=None):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28))
    lab = np.arange(n) % 10 if labels is None else labels
    ext = ".gz" if compress else ""
    i = write_idx(str(tmp_path / ("%s-images-idx3-ubyte%s" % (prefix, ext))), imgs, compress)
    l_ = write_idx(str(tmp_path / ("%s-labels-idx1-ubyte%s" % (prefix, ext))), lab, compress)
    return i, l_, imgs, lab


@pytest.mark.parametrize("compress", [True, False])
def test_idx_roundtrip_uint8(tmp_path, compress):
    i, l_, imgs, lab = _pair(tmp_path, compress=compress)
    s = data.load_idx_pair(i, l_)
    assert s.images.dtype == np.uint8 and s.labels.dtype == np.uint8
    assert (s.images == imgs).all() and (s.labels == lab).all()


def test_idx_wrong_magic(tmp_path):
    p = write_idx(str(tmp_path / "x-images-idx3-ubyte"), np.zeros((2, 28, 28)), magic=b"\x50\x4b\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(p, 3)


def test_idx_wrong_element_type(tmp_path):
    p = write_idx(str(tmp_path / "x"), np.zeros((2, 28, 28)), magic=bytes([0, 0, 0x0D, 3]))
    with pytest.raises(DataError, match="element type 0x0d"):
        data.read_idx(p, 3)


def test_idx_labels_file_given_as_images(tmp_path):
    _, l_, _, _ = _pair(tmp_path)
    with pytest.raises(DataError, match="1 dimensions, expected an images file"):
        data.read_idx(l_, 3)


def test_idx_truncated(tmp_path):
    i, _, _, _ = _pair(tmp_path, compress=False)
    raw = open(i, "rb").read()
    open(i, "wb").write(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(i, 3)


def test_idx_truncated_gzip_stream(tmp_path):
    i, _, _, _ = _pair(tmp_path, compress=True)
    raw = open(i, "rb").read()
    open(i, "wb").write(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cannot read"):
        data.read_idx(i, 3)


def test_idx_trailing_bytes(tmp_path):
    i, _, _, _ = _pair(tmp_path, compress=False)
    with open(i, "ab") as f:
        f.write(b"junk")
    with pytest.raises(DataError, match="4 unexpected bytes"):
        data.read_idx(i, 3)


def test_idx_count_mismatch(tmp_path):
    i, _, _, _ = _pair(tmp_path, n=5)
    l_ = write_idx(str(tmp_path / "other-labels-idx1-ubyte"), np.zeros(4))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        data.load_idx_pair(i, l_)


def test_idx_label_out_of_range(tmp_path):
    i, l_, _, _ = _pair(tmp_path, n=3, labels=np.array([1, 12, 3]))
    with pytest.raises(DataError, match="label 12 at index 1"):
        data.load_idx_pair(i, l_)


def test_find_idx_files_names(tmp_path):
    _pair(tmp_path, prefix="train-5k")
    _pair(tmp_path, prefix="t10k")
    pairs = data.find_idx_files(str(tmp_path))
    assert os.path.basename(pairs["train"][0]) == "train-5k-images-idx3-ubyte.gz"
    assert os.path.basename(pairs["test"][1]) == "t10k-labels-idx1-ubyte.gz"
    _pair(tmp_path, prefix="train")  # the official full set wins over a sample
    assert os.path.basename(data.find_idx_files(str(tmp_path))["train"][0]) == "train-images-idx3-ubyte.gz"


def test_find_idx_files_dot_variant_and_missing_partner(tmp_path):
    write_idx(str(tmp_path / "t10k-images.idx3-ubyte"), np.zeros((1, 28, 28)))
    with pytest.raises(DataError, match="no matching labels file"):
        data.find_idx_files(str(tmp_path))
    write_idx(str(tmp_path / "t10k-labels.idx1-ubyte"), np.zeros(1))
    assert set(data.find_idx_files(str(tmp_path))) == {"test"}


def test_rashid_csv():
    d = rashid_dir()
    s = data.read_csv(os.path.join(d, "mnist_train_100.csv"))
    assert s.images.shape == (100, 28, 28) and s.images.dtype == np.uint8
    t = data.read_csv(os.path.join(d, "mnist_test_10.csv"))
    assert len(t) == 10
    first = open(os.path.join(d, "mnist_test_10.csv")).readline().split(",")
    assert t.labels[0] == int(first[0]) and t.images[0].ravel()[300] == int(first[301])


def _csv(tmp_path, rows):
    p = tmp_path / "d.csv"
    p.write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return str(p)


def test_csv_wrong_field_count(tmp_path):
    with pytest.raises(DataError, match="line 2: 784 values, expected 785"):
        data.read_csv(_csv(tmp_path, [[1] + [0] * 784, [2] + [0] * 783]))


def test_csv_pixel_out_of_range(tmp_path):
    row = [3] + [0] * 784
    row[11] = 256
    with pytest.raises(DataError, match="line 1: pixel 10 is 256"):
        data.read_csv(_csv(tmp_path, [row]))


def test_csv_negative_and_bad_label(tmp_path):
    with pytest.raises(DataError, match="pixel 0 is -1"):
        data.read_csv(_csv(tmp_path, [[3, -1] + [0] * 783]))
    with pytest.raises(DataError, match="label 10"):
        data.read_csv(_csv(tmp_path, [[10] + [0] * 784]))


def test_csv_not_a_number_and_header(tmp_path):
    header = ["label"] + ["px%d" % i for i in range(784)]
    s = data.read_csv(_csv(tmp_path, [header, [4] + [7] * 784]))
    assert list(s.labels) == [4] and s.images.max() == 7
    with pytest.raises(DataError, match="line 2: 'x' is not a whole number"):
        data.read_csv(_csv(tmp_path, [[4] + [7] * 784, [4, "x"] + [7] * 783]))


def test_csv_label_last(tmp_path):
    s = data.read_csv(_csv(tmp_path, [[9] * 784 + [2]]), label_last=True)
    assert s.labels[0] == 2 and s.images.max() == 9


def _digit_png(path, ink_dark=True):
    from PIL import Image, ImageDraw

    im = Image.new("L", (64, 48), 230 if ink_dark else 10)
    ImageDraw.Draw(im).line([(30, 8), (34, 40)], fill=20 if ink_dark else 240, width=4)  # a "1"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im.save(path)


def test_image_folder_labels(tmp_path):
    _digit_png(str(tmp_path / "1" / "a.png"))
    _digit_png(str(tmp_path / "mixed" / "1_bob.jpg"))
    _digit_png(str(tmp_path / "mixed" / "1-light.png"), ink_dark=False)
    s = data.load_split(str(tmp_path))
    assert list(s.labels) == [1, 1, 1] and s.images.shape == (3, 28, 28)
    # ink ends up white on black, the digit in the middle, whichever the polarity
    for img in s.images:
        assert img[:, :4].max() == 0 and img[10:18, 12:16].max() > 200


def test_image_folder_unlabelled_and_unreadable(tmp_path):
    _digit_png(str(tmp_path / "photo.png"))
    with pytest.raises(DataError, match="cannot tell the digit in 1 image"):
        data.load_split(str(tmp_path))
    os.remove(str(tmp_path / "photo.png"))
    (tmp_path / "7_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="7_broken.png: cannot read this image"):
        data.load_split(str(tmp_path))


def test_load_split_unknown_things(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load_split(str(tmp_path / "nope.csv"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="not a dataset I know"):
        data.load_split(str(tmp_path / "notes.txt"))
    with pytest.raises(DataError, match="no images"):
        data.load_split(str(tmp_path))


def test_holdout_balanced_and_disjoint(tmp_path):
    labels = np.repeat(np.arange(10), 50).astype(np.uint8)
    images = np.arange(500 * 784, dtype=np.int64).reshape(500, 28, 28).astype(np.uint8)
    images[:, 0, 0] = np.arange(500) % 256
    images[:, 0, 1] = np.arange(500) // 256
    tr, te = data.holdout(data.Split(images, labels), 0.2)
    assert len(te) == 100 and len(tr) == 400
    assert all((te.labels == c).sum() == 10 for c in range(10))
    key = lambda s: set(map(tuple, s.images[:, 0, :2].tolist()))  # noqa: E731
    assert not key(tr) & key(te)
