# A ConvNet's layers on the board (.gnet version 2, weights/FORMAT.md): its scores loop and
# the reference kernels of its conv, pool and average layers in plain Python,
# trainer/qlayers.py's integer arithmetic written once. Loaded only for a model that has such
# a layer (gnet_conv_load.py checks their records first, and goes after the load): an MLP's
# board never holds it. Dense layers stay gnet.py's (any backend).
#
# Pictures are channels-last int8 values in flat arrays: x[(y * w + x) * c + ch]. A layer's
# geometry g = (h, w, c, oh, ow, co, stride, pt, pl): its input (h, w, c), its output
# (oh, ow, co), and for a conv its stride and the padding before the first row and column.
# A conv's weights are always in RAM (9 * c * co bytes, a few KB; its activations are
# larger): streaming keeps the dense layers' weights in the file.

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_CONV = const(2)
_POOL = const(3)


def bind(m):
    # m.scores for a ConvNet (gnet_conv_load.table sets it): made here, so that it holds
    # this module, not the loader, which goes after the load
    return lambda image: scores(m, image)


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


def layer(L, x, offset):
    # L.out <- layer L of x (its input, int8; the picture's bytes 0..255 when offset, the
    # input's offset, is not 0: made int8 first, in L.x0); returns L.out
    if L.T is not None:  # a conv, by the backend's kernel (its prepare, gnet_weights.py)
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
