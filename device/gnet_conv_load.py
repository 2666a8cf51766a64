# The checks of a ConvNet's layer records (.gnet version 2, weights/FORMAT.md) for
# gnet_load.py: the layer table read, each conv, pool and average record checked against
# what it reads, before anything is allocated. Load-time only: gnet_load.py imports this
# for a version-2 file and drops it after its pass, so a board keeps only gnet_conv.py,
# the kernels (5.8 KB of a board's heap was both together). An MLP's board never loads it.
#
# A layer's geometry g = (h, w, c, oh, ow, co, stride, pt, pl): its input (h, w, c), its
# output (oh, ow, co), and for a conv its stride and the padding before the first row and
# column (gnet_conv.py reads it).

import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_CONV = const(2)
_POOL = const(3)
_VALID = const(4)  # byte 3 of a conv's record: stride 1 or 2, plus 4 for 'valid' padding
_KINDS = ("", "dense", "conv", "pool", "gap")  # as trainer/qformat.py names them


def _pads(n, stride, valid):
    # (outputs, padding before) of a 3-wide window along an axis of n: trainer/layers.py's
    # pads ('same' as TensorFlow: ceil(n / stride) outputs, the odd pixel of padding after)
    if valid:
        return (n - 3) // stride + 1, 0
    out = (n + stride - 1) // stride
    return out, max((out - 1) * stride + 3 - n, 0) // 2


def table(m, f, n, n_classes, spans, end, dense, span):
    # gnet_load.py's reading of the layer table (n records), for a version-2 file: a dense
    # record checked by its dense(), the others by check() below; here, not there, so that
    # a board running an MLP loads none of it
    shape = (m.height, m.width, m.channels)  # what a picture layer reads, or None: a vector
    n_prev = m.height * m.width * m.channels
    pictures = 0
    for l in range(n):
        f.seek(40 + 32 * l)  # the layer table follows the 40-byte header; 32 bytes a record
        rec = struct.unpack("<BBbBHHIIIIII", f.read(32))
        L = m.Layer(rec, l)
        if L.typ != 1:
            # byte 3 (a conv's stride and padding) and the last reserved word
            shape = check(m, L, rec[3], rec[11], shape, l == n - 1, spans, end, span)
            n_prev = shape[0] * shape[1] * shape[2] if shape else L.n_out
            pictures += 1
        else:
            dense(m, L, n_prev, l == n - 1, n_classes, spans, end)
            n_prev = L.n_out
            shape = None
            m.weight_bytes += L.n_out * L.n_in
        m.layers.append(L)
        m._max_out = max(m._max_out, L.n_out)
        m._max_in = max(m._max_in, L.n_in)
    if not pictures:
        m._bad("a version 2 file of dense layers only; an MLP is version 1")
    # gnet.Model's own scores() runs dense layers only; the ConvNet's loop is gnet_conv's
    m.scores = m._module(b"gnet_conv".decode()).bind(m)


def check(m, L, geo, reserved, shape, last, spans, end, span):
    # L, a conv, pool or average record of a version-2 file, against what it reads: shape
    # (h, w, c), or None after a dense or average layer; its sections through gnet_load's
    # span(); geo: its byte 3, a conv's stride and padding. Sets L.g, L.size (its output
    # values) and L.n_in: for a conv 9 * c, a row of its weights (as a dense layer's
    # n_in), for the others 1 (no weights: gnet.py's streaming divides by it). Returns its
    # output's shape, None after an average (a flat vector).
    l, t = L.index, L.typ
    if t >= len(_KINDS):
        m._bad("layer %d has type %d; 1 (dense), 2 (conv), 3 (max pool) and 4 (global average) exist" % (l, t))
    if reserved or (geo and t != _CONV):
        m._bad("layer %d: reserved fields must be 0" % l)
    if last:
        m._bad("the last layer is a %s layer; it must be dense (its outputs are the scores)" % _KINDS[t])
    if L.lo is None:
        m._bad("layer %d: unknown activation code %d" % (l, L.act))
    c = L.n_in
    if shape is None or c != shape[2]:
        m._bad("layer %d (%s) takes %d channels but gets %s: shapes do not add up" % (
            l, _KINDS[t], c, "x".join([str(v) for v in shape]) if shape else "a flat vector"))
    h, w = shape[0], shape[1]
    if t != _CONV:
        if L.act or L.zero or L.w_off or L.b_off or L.m_off or L.s_off or L.lut_off:
            m._bad("layer %d (%s) has weights, an activation or a zero point; it has none" % (l, _KINDS[t]))
        if L.n_out != c:
            m._bad("layer %d (%s) has %d outputs for %d channels; it keeps the channels" % (l, _KINDS[t], L.n_out, c))
        if t == _POOL and min(h, w) < 2:
            m._bad("layer %d (pool) gets %dx%dx%d: too small for a 2x2 window" % (l, h, w, c))
        L.n_in = 1  # (no weights)
        if t == _POOL:
            L.g = (h, w, c, h >> 1, w >> 1, c, 0, 0, 0)
            L.size = (h >> 1) * (w >> 1) * c
            return h >> 1, w >> 1, c
        L.g = (h, w, c, 1, 1, c, 0, 0, 0)
        L.size = c
        return None
    if geo not in (1, 2, 1 | _VALID, 2 | _VALID):
        m._bad("layer %d (conv): byte 3 is %d; stride 1 or 2, plus %d for 'valid' padding" % (l, geo, _VALID))
    if L.has_lut:
        m._bad("layer %d (conv): activation %d has a lookup table; a conv's is none or relu" % (l, L.act))
    stride = geo & 3
    oh, pt = _pads(h, stride, geo & _VALID)
    ow, pl = _pads(w, stride, geo & _VALID)
    co = L.n_out
    if oh < 1 or ow < 1:
        m._bad("layer %d (conv) leaves nothing of its %dx%dx%d input" % (l, h, w, c))
    if not co:
        m._bad("layer %d has no outputs" % l)
    if L.lut_off:
        m._bad("layer %d has a lookup table it does not use" % l)
    L.n_in = 9 * c
    m.weight_bytes += co * 9 * c
    L.g = (h, w, c, oh, ow, co, stride, pt, pl)
    L.size = oh * ow * co
    span(m, spans, "layer %d weights" % l, L.w_off, co * 9 * c, 1, end)
    span(m, spans, "layer %d bias" % l, L.b_off, 4 * co, 4, end)
    span(m, spans, "layer %d multipliers" % l, L.m_off, 2 * co, 2, end)
    span(m, spans, "layer %d shifts" % l, L.s_off, co, 1, end)
    return oh, ow, co
