# A ConvNet's layers on the board (.gnet version 2, weights/FORMAT.md): the checks of their
# records for gnet_load.py, and their reference kernels in plain Python, trainer/qlayers.py's
# integer arithmetic written once. gnet.py imports this only for a model that has such a
# layer: an MLP's board never holds it. Dense layers stay gnet.py's (any backend).
#
# Pictures are channels-last int8 values in flat arrays: x[(y * w + x) * c + ch]. A layer's
# geometry g = (h, w, c, oh, ow, co, stride, pt, pl): its input (h, w, c), its output
# (oh, ow, co), and for a conv its stride and the padding before the first row and column.
# A conv's weights are always in RAM (9 * c * co bytes, a few KB; its activations are
# larger): streaming keeps the dense layers' weights in the file.

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
    m.scores = lambda image: scores(m, image)  # (gnet.Model's own runs dense layers only)


def scores(m, image):
    # gnet.Model.scores for a ConvNet: its dense layers by the model's backend, the others here
    n = m.width * m.height * m.channels
    if len(image) != n:
        raise ValueError("image has %d pixels, the model takes %d (%dx%d)" % (len(image), n, m.width, m.height))
    x = image
    offset = m.input_offset  # pixel p is the int8 value p + offset
    signed = False
    for L in m.layers:
        if L.typ != 1:
            x = layer(L, x, offset)
        else:
            m._dense(L, m._gather(x, L.n_in, offset - L.zx, signed))
            x = L.out
        offset = 0
        signed = True
    return x


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


def prepare(m, L, vmin):
    # Conv layer L's tables for the model's backend's conv kernel, gnet_conv_<backend>.py
    # (viper, ulab), when there is one and it runs here: its prepare(L, vmin) sets L.T
    # (then layer() hands L to it) and L.V, the module. vmin: the lowest value L's input
    # takes. Elsewhere nothing: the reference loops below run.
    if m.backend == "python":
        return
    try:
        V = m._module("gnet_conv_" + m.backend)
    except (ImportError, SyntaxError, ValueError, NotImplementedError):
        return
    L.V = V
    V.prepare(m, L, vmin)


def layer(L, x, offset):
    # L.out <- layer L of x (its input, int8; the picture's bytes 0..255 when offset, the
    # input's offset, is not 0: made int8 first, in L.x0); returns L.out
    if L.T is not None:  # a conv, by the backend's kernel (prepare)
        return L.V.layer(L, x, offset)
    if offset:
        x0 = L.x0
        for i in range(len(x0)):
            x0[i] = x[i] + offset
        x = x0
    if L.typ == _CONV:
        for c0, rows, W in L.chunks:
            conv3x3(x, L.g, W, c0, rows, L.K, L.M, L.S, L.zero, L.lo, L.zx, L.out)
    elif L.typ == _POOL:
        maxpool2(x, L.g, L.out)
    else:
        gap(x, L.g, L.out)
    return L.out


def conv3x3(x, g, W, c0, rows, K, M, S, zero, lo, zx, out):
    # out[:, :, c0:c0+rows] <- the requantised 3x3 convolution of x for those output
    # channels. W: (rows, 3, 3, c) int8, row-major; K: (co,) int32 biases (the input's
    # zero point folded in, trainer/qlayers.py); M, S: (co,) multipliers and shifts; zero:
    # the output's zero point; clamp lo..127; a window's part outside the picture reads
    # zx, the input's zero point.
    h, w, c, oh, ow, co, stride, pt, pl = g
    n = 9 * c
    for r in range(rows):
        k = c0 + r
        b, m, s = K[k], M[k], S[k]
        half = 1 << (s - 1)
        for i in range(oh):
            y0 = i * stride - pt
            for j in range(ow):
                x0 = j * stride - pl
                t = b
                wi = r * n
                for yy in range(y0, y0 + 3):
                    for xx in range(x0, x0 + 3):
                        if 0 <= yy < h and 0 <= xx < w:
                            xi = (yy * w + xx) * c
                            for ch in range(c):
                                t += W[wi + ch] * x[xi + ch]
                        else:
                            for ch in range(c):
                                t += W[wi + ch] * zx
                        wi += c
                v = zero + ((t * m + half) >> s)
                out[(i * ow + j) * co + k] = lo if v < lo else (127 if v > 127 else v)


def maxpool2(x, g, out):
    # out (h // 2, w // 2, c) <- the largest of each 2x2 window of x (h, w, c); an odd
    # last row or column is not read
    h, w, c, oh, ow, co, stride, pt, pl = g  # (all of it: a slice would be a new tuple per image)
    for i in range(oh):
        for j in range(ow):
            a = (2 * i * w + 2 * j) * c  # the window's top left, then top right,
            b = a + w * c                # bottom left,
            o = (i * ow + j) * c
            for ch in range(c):
                out[o + ch] = max(x[a + ch], x[a + c + ch], x[b + ch], x[b + c + ch])  # and bottom right


def gap(x, g, out):
    # out (c,) <- each channel's mean over the picture, rounded half up: (2 sum + hw) // 2hw
    h, w, c, oh, ow, co, stride, pt, pl = g
    n = h * w
    end = n * c
    for ch in range(c):
        s = 0
        p = ch
        while p < end:  # (a range with a variable step would be a new object per channel)
            s += x[p]
            p += c
        out[ch] = (2 * s + n) // (2 * n)
