# ulab kernels for a ConvNet's 3x3 convolutions, max pools and global averages (gnet_conv.py
# uses them with the ulab backend): the integers of gnet_conv.conv3x3, maxpool2 and gap, the
# reference, with ulab's dot products, take and maximum. ulab here may hold 2-dimensional
# arrays only, so a picture is (pixels, channels).
#
# The input, as floats (h * w, c), gets one row more: the input's zero point, what the
# padding reads. Each of the 9 taps (ky, kx) then takes the pixel under it for every output
# position, (oh * ow, c) (np.take with the row numbers made at load: that extra row where
# the tap is off the picture), and adds dot(that, the tap's weights (c, co)): about 20
# calls a layer, none per row or pixel. Exact in float32: every product w * x is at most
# 127 * 128 and every partial sum of a window at most 127 * 128 * 9c < 2**24 for c < 1128
# (prepare checks it; a wider conv keeps the reference loops). The requantisation:
# gnet_conv's, in integers, or in float64 the whole layer at once (exact there, below).
from array import array

try:
    from ulab import numpy as np
except ImportError:  # no ulab here: gnet_conv.prepare uses this module only with the ulab backend
    np = None

_EXACT = 1 << 24  # float32 holds every integer below this
# A float64 ulab requantises a whole layer at once, exactly: (K + acc) * M + 2**(S-1) is an
# integer below 2**30 (FORMAT.md's bounds), times 2**-S is exact, and floor is the shift.
_F64 = np is not None and np.array([0.0]).itemsize == 8


def prepare(m, L, vmin, V):
    # L.T: for each tap, its weights (c, co) float and the input row under it for every
    # output position, (oh * ow,) (h * w: the zero point's row); L.P: that row, (1, c)
    if L.typ != 2:  # a max pool or global average
        return prepare_pool(m, L, V)
    h, w, c, oh, ow, co, stride, pt, pl = L.g
    if 127 * 128 * 9 * c >= _EXACT:
        return
    taps = []
    for t in range(9):
        Wt = np.zeros((c, co))
        for c0, rows, W in L.chunks:
            for r in range(rows):
                for ch in range(c):
                    Wt[ch, c0 + r] = W[r * 9 * c + t * c + ch]
        under = []
        for i in range(oh):
            y = i * stride - pt + t // 3
            for j in range(ow):
                x = j * stride - pl + t % 3
                under.append(y * w + x if 0 <= y < h and 0 <= x < w else h * w)
        taps.append((Wt, np.array(under, dtype=np.uint16)))
    L.P = np.full((1, c), L.zx, dtype=np.float)
    L.T, L.V = taps, V
    if _F64:  # (co,) K, M, 2**(S-1) and 2**-S as floats, for the whole-layer requantisation
        L.F = (np.array([L.K[k] for k in range(co)]), np.array([L.M[k] for k in range(co)]),
               np.array([1 << (L.S[k] - 1) for k in range(co)]), np.array([2.0 ** -L.S[k] for k in range(co)]))


def prepare_pool(m, L, V):
    # a max pool's L.T: for each pixel of a 2x2 window (top left, top right, bottom left,
    # bottom right), the input row under it for every output position, (oh * ow,); a
    # global average's: empty. None for the model's first layer (the picture's uint8 bytes:
    # the reference loops make them int8 first), nor for an average on a float32 ulab.
    if not L.index or (L.typ == 4 and not _F64):
        return
    h, w, c, oh, ow, co, stride, pt, pl = L.g
    L.T = [np.array([(2 * i + dy) * w + 2 * j + dx for i in range(oh) for j in range(ow)], dtype=np.uint16)
           for dy in (0, 1) for dx in (0, 1)] if L.typ == 3 else []
    L.V = V


def layer(L, x, offset):
    # gnet_conv.layer for a prepared layer: L.out <- the layer of x (int8 values; for a
    # conv that is the first layer, the picture's bytes, uint8, and offset, the model's
    # input offset)
    h, w, c, oh, ow, co, stride, pt, pl = L.g
    if L.typ == 3:  # max pool: the largest of the four pixels' rows
        X = np.frombuffer(x, dtype=np.int8).reshape((h * w, c))
        a, b, d, e = L.T
        y = np.maximum(np.maximum(np.take(X, a, axis=0), np.take(X, b, axis=0)),
                       np.maximum(np.take(X, d, axis=0), np.take(X, e, axis=0)))
        L.out[:] = array("b", np.array(y.flatten(), dtype=np.int8).tobytes())
        return L.out
    if L.typ == 4:  # global average: each channel's sum, then (2 sum + n) // 2n in integers.
        # ulab's float64 sum is not exact (-4924.999999999999 for -4925) but within far less
        # than 0.5 of the integer: rounded, it is (prepare_pool takes only a float64 ulab)
        n = h * w
        S = np.sum(np.array(np.frombuffer(x, dtype=np.int8).reshape((n, c)), dtype=np.float), axis=0)
        out = L.out
        for ch in range(c):
            out[ch] = (2 * int(round(S[ch])) + n) // (2 * n)
        return out
    X = np.array(np.frombuffer(x, dtype=np.uint8 if offset else np.int8).reshape((h * w, c)), dtype=np.float)
    if offset:
        X = X + offset
    X = np.concatenate((X, L.P))  # (h * w + 1, c): the zero point's row last
    acc = None
    for Wt, under in L.T:
        d = np.dot(np.take(X, under, axis=0), Wt)  # (oh * ow, co)
        if acc is None:
            acc = d
        else:
            acc += d
    out = L.out
    if _F64:
        Kf, Mf, Hf, Rf = L.F
        y = np.clip(np.floor(((acc + Kf) * Mf + Hf) * Rf) + L.zero, L.lo, 127)
        out[:] = array("b", np.array(y.flatten(), dtype=np.int8).tobytes())
        return out
    K, M, S, zero, lo = L.K, L.M, L.S, L.zero, L.lo
    o = 0
    for a in acc.tolist():
        for k in range(co):
            s = S[k]
            v = zero + (((K[k] + int(a[k])) * M[k] + (1 << (s - 1))) >> s)
            out[o] = lo if v < lo else (127 if v > 127 else v)
            o += 1
    return out
