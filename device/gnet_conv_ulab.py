# ulab kernel for a ConvNet's 3x3 convolutions (gnet_conv.py uses it with the ulab backend):
# the integers of gnet_conv.conv3x3, the reference, with ulab's dot products. ulab here may
# hold 2-dimensional arrays only, so a picture is (rows, columns * channels).
#
# The input is copied into a padded float picture P (its border, the padding, holds the
# input's zero point from the load on). Output row i is then the sum over the 9 taps
# (ky, kx) of dot(the c-channel pixels of P's row i*stride + ky at columns
# kx, kx + stride, ..., (ow, c)), that tap's weights (c, co)). Exact in float32: every
# product w * x is at most 127 * 128 and every partial sum of a window at most
# 127 * 128 * 9c < 2**24 for c < 1128 (prepare checks it; a wider conv keeps the
# reference loops). The requantisation is gnet_conv's, in integers.
from ulab import numpy as np

_EXACT = 1 << 24  # float32 holds every integer below this


def prepare(m, L, vmin):
    # L.T: the 9 taps' weights, each (c, co) float; L.P: the padded picture (hp, wp * c)
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
        taps.append(Wt)
    wp = (ow - 1) * stride + 3
    L.P = np.full(((oh - 1) * stride + 3, wp * c), L.zx, dtype=np.float)
    L.T = taps


def layer(L, x, offset):
    # gnet_conv.layer for a prepared conv: L.out <- the layer of x (int8 values; for the
    # first layer the picture's bytes, uint8, and offset, the model's input offset)
    h, w, c, oh, ow, co, stride, pt, pl = L.g
    P, taps = L.P, L.T
    hp = P.shape[0]
    rows = min(h, hp - pt)                     # the input rows and columns windows read
    cols = min(w, P.shape[1] // c - pl) * c
    X = np.frombuffer(x, dtype=np.uint8 if offset else np.int8)
    if offset:
        X = np.array(X, dtype=np.float) + offset
    for y in range(rows):
        P[pt + y, pl * c:pl * c + cols] = X[y * w * c:y * w * c + cols]
    K, M, S, zero, lo, out = L.K, L.M, L.S, L.zero, L.lo, L.out
    last = stride * (ow - 1) + 1
    for i in range(oh):
        acc = None
        for ky in range(3):
            row = P[i * stride + ky].reshape((P.shape[1] // c, c))  # (wp, c)
            for kx in range(3):
                d = np.dot(row[kx:kx + last:stride], taps[3 * ky + kx])  # (ow, co)
                acc = d if acc is None else acc + d
        o = i * ow * co
        for a in acc.tolist():
            for k in range(co):
                s = S[k]
                v = zero + (((K[k] + int(a[k])) * M[k] + (1 << (s - 1))) >> s)
                out[o] = lo if v < lo else (127 if v > 127 else v)
                o += 1
    return out
