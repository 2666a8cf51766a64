# Reading and checking a .gnet model's structure (weights/FORMAT.md) for gnet.py: the
# header, the CRC-32, every layer's shape, codes and where its sections lie (inside the
# file, aligned, not overlapping), the labels (strict UTF-8) and the output table, before
# anything is trusted or allocated. gnet.Model imports this only while a model loads and
# drops it afterwards on MicroPython (then gnet_weights.py reads the weights), so a small
# board gets this code's RAM back for frames.
#
#   load(model, f, stream)   # fills model's fields from the open file f, or raises
#                            # gnet.ModelError (via model._bad) naming what is wrong

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

import struct
import sys
from array import array

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32: a table-driven CRC-32 (IEEE)
    _CRC_TABLE = None

    def _crc32(data, crc=0):
        global _CRC_TABLE
        if _CRC_TABLE is None:
            _CRC_TABLE = array("I", [0] * 256)
            for n in range(256):
                c = n
                for _ in range(8):
                    c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
                _CRC_TABLE[n] = c
        crc ^= 0xFFFFFFFF
        for b in data:
            crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

_MAGIC = b"GNTL"
_VERSION = const(1)
_LAYERS = const(2)                # a ConvNet's version: its layer table is gnet_conv_load.py's to read
# the header's and a layer record's struct formats are written where they are read: a
# global's name would stay in a board's RAM (gnet_viper_load.py says why)
_HEADER_SIZE = const(40)
_LAYER_SIZE = const(32)
_TABLE_SIZE = const(512)          # output table: 256 uint16
_DENSE = const(1)
_ACT_NONE = const(0)
_MAX_LAYERS = const(16)
_MAX_IN = const(32767)            # inputs per layer: indices are int16
_OUTPUTS = ("softmax", "sigmoid")
_PREPROCESS = ("none", "mnistify")
_CHUNK = const(512)               # bytes per read while checking the CRC


def _utf8_ok(b):
    # Strict UTF-8 as CPython's decoder reads it: no overlong forms (C0 80), no surrogates
    # (ED A0..BF), nothing above U+10FFFF. MicroPython's str() does not check all of this.
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        lo, hi = 0x80, 0xBF          # the allowed range of the second byte
        if 0xC2 <= c <= 0xDF:
            k = 1
        elif 0xE0 <= c <= 0xEF:
            k = 2
            if c == 0xE0:
                lo = 0xA0            # E0 80..9F would be overlong
            elif c == 0xED:
                hi = 0x9F            # ED A0..BF would be a surrogate
        elif 0xF0 <= c <= 0xF4:
            k = 3
            if c == 0xF0:
                lo = 0x90            # overlong
            elif c == 0xF4:
                hi = 0x8F            # above U+10FFFF
        else:
            return False             # 80..C1 (continuation or overlong lead), F5..FF
        if i + k >= n:
            return False             # cut short
        if not lo <= b[i + 1] <= hi:
            return False
        for j in range(i + 2, i + k + 1):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += k + 1
    return True


def load(m, f, stream):
    # the header, the layer table, the labels and the output table, all checked; the
    # layers' contents are gnet_weights.py's
    m.weight_bytes = 0
    size = f.seek(0, 2)
    if size < _HEADER_SIZE + 4:
        m._bad("%d bytes, too short for a .gnet model (truncated?)" % size)
    f.seek(0)
    head = f.read(_HEADER_SIZE)
    (magic, version, flags, fsize, m.width, m.height, m.channels, m.input_offset, prep,
     m.preprocess_version, n_layers, n_classes, output, reserved, labels_off, labels_size,
     layers_off, table_off) = struct.unpack("<4sHHIHHBbBBBBBBIIII", head)  # FORMAT.md "Header"
    if magic != _MAGIC:
        m._bad("magic %r is not %r: not a .gnet model" % (magic, _MAGIC))
    if version != _VERSION and version != _LAYERS:
        m._bad("format version %d; this runtime reads versions 1 and 2" % version)
    if fsize != size:
        m._bad("the header says %d bytes but the file has %d (%s)" % (
            fsize, size, "truncated" if size < fsize else "extra bytes"))
    _check_crc(m, f, size)
    if flags or reserved:
        m._bad("unknown flags or nonzero reserved header fields")
    if prep >= len(_PREPROCESS) or output >= len(_OUTPUTS):
        m._bad("unknown preprocessing or output code")
    if not (1 <= n_layers <= _MAX_LAYERS) or not n_classes:
        m._bad("%d layers and %d classes" % (n_layers, n_classes))
    if m.width < 1 or m.height < 1 or m.channels < 1:
        m._bad("input shape %dx%dx%d" % (m.width, m.height, m.channels))
    if m.input_offset not in (-128, -127):
        m._bad("input_offset %d: the bounds need -128 or -127 (|x| <= 128)" % m.input_offset)
    if layers_off != _HEADER_SIZE:
        m._bad("layer table at offset %d" % layers_off)
    m.preprocess = _PREPROCESS[prep]
    m.output = _OUTPUTS[output]
    end = size - 4
    spans = []
    _span(m, spans, "layer table", layers_off, _LAYER_SIZE * n_layers, 4, end)
    _span(m, spans, "labels", labels_off, labels_size, 1, end)
    _span(m, spans, "output table", table_off, _TABLE_SIZE, 4, end)
    # First the structure of every layer (shapes, codes, where its sections lie) ...
    m.layers = []
    n_prev = m.width * m.height * m.channels
    m._max_out = m._max_in = 0
    if version == _LAYERS:
        # (the name as bytes: a str constant would be one more name in every board's RAM,
        # and a 64 KB board's fifth pool of names costs 3.6 KB: test_board.py)
        name = b"gnet_conv_load".decode()
        try:
            m._module(name).table(m, f, n_layers, n_classes, spans, end, _check_layer, _span)
        finally:  # load-time code: its RAM back for the weights (on the host, a module is kept)
            if sys.implementation.name == "micropython":
                sys.modules.pop(name, None)
    else:  # version 1: dense layers
        for l in range(n_layers):
            f.seek(layers_off + _LAYER_SIZE * l)
            L = m.Layer(struct.unpack("<BBbBHHIIIIII", f.read(_LAYER_SIZE)), l)
            _check_layer(m, L, n_prev, l == n_layers - 1, n_classes, spans, end)
            m.layers.append(L)
            n_prev = L.n_out
            m._max_out = max(m._max_out, L.n_out)
            m._max_in = max(m._max_in, L.n_in)
            m.weight_bytes += L.n_out * L.n_in
    spans.sort()
    for i in range(1, len(spans)):
        if spans[i - 1][0] + spans[i - 1][1] > spans[i][0]:
            m._bad("%s overlaps %s" % (spans[i - 1][2], spans[i][2]))
    # ... then the labels and the output table, in small reads ...
    m.labels = _read_labels(m, f, labels_off, labels_size, n_classes)
    m.table = array("H", bytes(_TABLE_SIZE))  # (256,) uint16 output table
    f.seek(table_off)
    m._read(f, m.table, "output table")
    _check_table(m)
    m.n_classes = n_classes


def _read_labels(m, f, off, size, n_classes):
    # n_classes labels, each a length byte and that many UTF-8 bytes, read one at a time
    labels = []
    one = bytearray(1)
    f.seek(off)
    p = 0
    while p < size:
        if len(labels) == n_classes:
            m._bad("more labels than the %d classes" % n_classes)
        m._read(f, one, "labels")
        k = one[0]
        if p + 1 + k > size:
            m._bad("label %d runs past the labels block" % len(labels))
        raw = bytearray(k)
        m._read(f, raw, "labels")
        if not _utf8_ok(raw):
            m._bad("label %d is not UTF-8" % len(labels))
        labels.append(str(raw, "utf-8"))
        p += 1 + k
    if len(labels) != n_classes:
        m._bad("%d labels for %d classes" % (len(labels), n_classes))
    return labels


def _check_table(m):
    # The confidence divides by T[0] (softmax) and must stay within 0..10000.
    T = m.table
    if m.output == "softmax":
        if T[0] == 0:
            m._bad("softmax output table starts with 0 (the confidence would divide by zero)")
        for k in range(1, 256):
            if T[k] > T[k - 1]:
                m._bad("softmax output table rises at entry %d; it must not increase" % k)
    else:
        for k in range(256):
            if T[k] > 10000 or (k and T[k] < T[k - 1]):
                m._bad("sigmoid output table entry %d is %d; it must rise from 0 to at most 10000" % (k, T[k]))


def _check_crc(m, f, size):
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    f.seek(0)
    crc = 0
    left = size - 4
    while left > 0:
        k = min(left, _CHUNK)
        m._read(f, mv[:k], "model")
        crc = _crc32(mv[:k], crc)
        left -= k
    stored = struct.unpack("<I", f.read(4))[0]
    if stored != crc & 0xFFFFFFFF:
        m._bad("CRC32 mismatch (stored %08x, computed %08x): the file is corrupt" % (stored, crc & 0xFFFFFFFF))


def _span(m, spans, what, off, length, align, end):
    if off % align:
        m._bad("%s at offset %d is not aligned to %d bytes" % (what, off, align))
    if off < _HEADER_SIZE or off + length > end:
        m._bad("%s at offset %d, %d bytes, lies outside the file's data" % (what, off, length))
    spans.append((off, length, what))


def _check_layer(m, L, n_prev, last, n_classes, spans, end):
    l = L.index
    if L.typ != _DENSE:
        m._bad("layer %d has type %d; only 1 (dense) exists" % (l, L.typ))
    if L.lo is None:  # gnet.py's _ACTS has no row for it
        m._bad("layer %d: unknown activation code %d" % (l, L.act))
    if L.reserved:
        m._bad("layer %d: reserved fields must be 0" % l)
    if L.n_in > _MAX_IN:
        m._bad("layer %d has %d inputs; at most %d (the runtime's int16 index)" % (l, L.n_in, _MAX_IN))
    if L.n_in != n_prev:
        m._bad("layer %d takes %d inputs but gets %d: shapes do not add up" % (l, L.n_in, n_prev))
    if not L.n_out:
        m._bad("layer %d has no outputs" % l)
    if last and L.n_out != n_classes:
        m._bad("the last layer has %d outputs for %d classes: shapes do not add up" % (L.n_out, n_classes))
    if last and L.act != _ACT_NONE:
        m._bad("the last layer's activation must be none (the scores are its int8 logits)")
    n_in, n_out = L.n_in, L.n_out
    _span(m, spans, "layer %d weights" % l, L.w_off, n_out * n_in, 1, end)
    _span(m, spans, "layer %d bias" % l, L.b_off, 4 * n_out, 4, end)
    _span(m, spans, "layer %d multipliers" % l, L.m_off, 2 * n_out, 2, end)
    _span(m, spans, "layer %d shifts" % l, L.s_off, n_out, 1, end)
    if L.has_lut:
        if not L.lut_off:
            m._bad("layer %d has activation %d but no lookup table" % (l, L.act))
        _span(m, spans, "layer %d lookup table" % l, L.lut_off, 256, 1, end)
    elif L.lut_off:
        m._bad("layer %d has a lookup table it does not use" % l)
