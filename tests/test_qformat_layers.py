"""weights/FORMAT.md version 2: a ConvNet's conv, max pool and global average records in a
.gnet. Written and read back to the same integers; an MLP is still version 1, byte for
byte; a damaged or inconsistent record is refused naming what is wrong; a board's runtime,
which does not run these layers yet, refuses the file by its version."""
import struct

import numpy as np
import pytest

from conftest import small_convnet
from test_qformat import SHIPPED, edit
from device import gnet
from trainer import qformat, qlayers, quantize

SPEC = "conv4s2,pool,conv6,conv5v,gap,dense10"
LAYER0 = qformat.HEADER.size  # the first layer record's offset


@pytest.fixture(scope="module")
def convnet(mnist):
    q = qlayers.to_qmodel(*small_convnet(mnist, SPEC))
    return q, qformat.to_bytes(q)


def test_a_convnet_file_reads_back_to_the_same_scores(convnet, mnist):
    q, data = convnet
    assert struct.unpack_from("<H", data, 4)[0] == qformat.VERSION_LAYERS
    back = qformat.from_bytes(data)
    assert back.spec == SPEC and [L.get("kind", "dense") for L in back.layers] == [
        "conv", "pool", "conv", "conv", "gap", "dense"]
    assert back.layers[2]["W"].shape == (6, 3, 3, 4) and back.layers[3]["padding"] == "valid"
    images = mnist[1].images[:300]
    assert np.array_equal(quantize.reference(back, images), qlayers.reference(q.layers, images))
    assert qformat.to_bytes(back) == data


def test_an_mlp_is_still_version_1_byte_for_byte():
    data = open(SHIPPED, "rb").read()
    assert struct.unpack_from("<H", data, 4)[0] == qformat.VERSION == 1
    assert qformat.to_bytes(qformat.from_bytes(data)) == data


def record(l, field):
    # the offset of a field of layer l's record (<BBbBHHIIIIII)
    return LAYER0 + qformat.LAYER.size * l + {"type": 0, "act": 1, "zero": 2, "geo": 3, "n_in": 4, "n_out": 6,
                                              "w": 8, "res": 28}[field]


@pytest.mark.parametrize("off,fmt,value,words", [
    (4, "<H", 1, r"type 2 \(conv\), which a version 1 file does not hold"),
    (4, "<H", 3, "format version 3"),
    (("type", 1), "<B", 5, "layer 1 has type 5"),
    (("geo", 0), "<B", 3, "byte 3 is 3; stride 1 or 2"),
    (("geo", 1), "<B", 1, "layer 1: reserved fields must be 0"),
    (("act", 0), "<B", 2, "has a lookup table; a conv's is none or relu"),
    (("n_in", 2), "<H", 5, "layer 2 .conv. takes 5 channels but gets"),
    (("n_out", 1), "<H", 3, "layer 1 .pool. takes 4 channels"),
    (("w", 4), "<I", 64, "layer 4 .gap. has weights"),
    (("type", 5), "<B", 2, "the last layer is a conv layer"),
])
def test_a_bad_convnet_record_is_refused_by_name(convnet, off, fmt, value, words):
    _, data = convnet
    if isinstance(off, tuple):
        off = record(off[1], off[0])
    with pytest.raises(qformat.FormatError, match=words):
        qformat.from_bytes(edit(data, off, fmt, value))


def test_a_boards_runtime_refuses_a_convnet_by_its_version(convnet, tmp_path):
    _, data = convnet
    p = tmp_path / "cnn.gnet"
    p.write_bytes(data)
    with pytest.raises(gnet.ModelError, match="format version 2; this runtime reads version 1"):
        gnet.Model(str(p))


def test_flash_refuses_a_convnet_before_touching_the_board(convnet, tmp_path):
    from firmware_tools import flash

    _, data = convnet
    p = tmp_path / "cnn.gnet"
    p.write_bytes(data)
    with pytest.raises(flash.FlashError, match="is a ConvNet .conv4s2,pool,conv6,conv5v,gap,dense10, .gnet version 2"):
        flash.flash("/dev/nonexistent-port", str(p), log=lambda *a: None)
