"""weights/FORMAT.md version 2: a ConvNet's conv, max pool and global average records in a
.gnet. Written and read back to the same integers; an MLP is still version 1, byte for
byte; a damaged or inconsistent record is refused naming what is wrong, by the trainer's
reader and by a board's runtime alike; the runtime reads a good one to the same scores."""
import re
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


DAMAGE = [  # (where, struct format, value written, what both readers' messages say)
    (4, "<H", 1, r"layer 0 has type 2"),
    (4, "<H", 3, r"format version 3; this \w+ reads versions 1 and 2"),
    (("type", 1), "<B", 5, "layer 1 has type 5"),
    (("geo", 0), "<B", 3, "byte 3 is 3; stride 1 or 2"),
    (("geo", 1), "<B", 1, "layer 1: reserved fields must be 0"),
    (("res", 2), "<I", 1, "layer 2: reserved fields must be 0"),
    (("act", 0), "<B", 2, "has a lookup table; a conv's is none or relu"),
    (("n_in", 2), "<H", 5, r"layer 2 \(conv\) takes 5 channels but gets 7x7x4"),
    (("n_out", 1), "<H", 3, r"layer 1 \(pool\) has 3 outputs for 4 channels"),
    (("w", 4), "<I", 64, r"layer 4 \(gap\) has weights"),
    (("type", 5), "<B", 2, "the last layer is a conv layer"),
    (("type", 5), "<B", 3, "the last layer is a pool layer"),
    (("type", 4), "<B", 1, r"layer 4 takes 5 inputs but (gets|layer 3 gives) 125: shapes"),
    (("n_out", 4), "<H", 7, r"layer 4 \(gap\) has 7 outputs for 5 channels"),
]


def damaged(data):
    """The DAMAGE files, each resealed (a right CRC: only the checks can catch it)."""
    return [edit(data, record(off[1], off[0]) if isinstance(off, tuple) else off, fmt, value)
            for off, fmt, value, _ in DAMAGE]


@pytest.mark.parametrize("k", range(len(DAMAGE)))
def test_a_bad_convnet_record_is_refused_by_name(convnet, k):
    _, data = convnet
    with pytest.raises(qformat.FormatError, match=DAMAGE[k][3]):
        qformat.from_bytes(damaged(data)[k])


def test_a_boards_runtime_refuses_the_same_records_by_name(convnet, tmp_path):
    """device/gnet.py, on CPython and the real MicroPython (in RAM, streamed, and from the
    precompiled .mpy files a board gets, in a 96 KB heap), says what qformat says."""
    from test_fuzz_models import device_verdicts

    _, data = convnet
    files = damaged(data)
    for i, d in enumerate(files):
        (tmp_path / ("%d.gnet" % i)).write_bytes(d)
    for stream in (False, True):
        for i in range(len(files)):
            with pytest.raises(gnet.ModelError, match=DAMAGE[i][3]):
                gnet.Model(str(tmp_path / ("%d.gnet" % i)), stream=stream)
    for kw in ({}, {"stream": True}, {"stream": True, "heap": "96k"}):
        rows = device_verdicts(tmp_path, len(files), **kw)
        for i in range(len(files)):
            kind, msg = rows[i]
            assert kind == "ModelError" and re.search(DAMAGE[i][3], msg), (kw, i, kind, msg)


def test_a_boards_runtime_reads_a_convnet_to_the_references_scores(convnet, mnist, tmp_path):
    """The undamaged file on the same readers: every score and confidence as the numpy
    reference's (make test-parity runs every test digit on every interpreter)."""
    from test_fuzz_models import IMAGES, device_verdicts

    q, data = convnet
    (tmp_path / "0.gnet").write_bytes(data)
    images = IMAGES[:, :784]
    s = quantize.reference(q, images)
    want = ";".join("%s/%d" % (bytes(si.astype(np.int8).tobytes()).hex(), ci)
                    for si, ci in zip(s, quantize.confidence(q, s)))
    for stream in (False, True):
        m = gnet.Model(str(tmp_path / "0.gnet"), stream=stream)
        got = ";".join("%s/%d" % (bytes(m.scores(bytes(img))).hex(), m.confidence(m.scores(bytes(img))))
                       for img in images)
        assert got == want
    for kw in ({}, {"stream": True}, {"stream": True, "heap": "96k"}):
        assert device_verdicts(tmp_path, 1, **kw)[0] == ("LOADED", want), kw
