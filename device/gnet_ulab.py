# ulab kernels for gnet.py: the int8 dot products with ulab.numpy, dense (ulab has no
# sparse gather), the requantisation left to gnet.py in integers (ulab has no int32, and
# A * M reaches ~2**30, beyond a float32's 24 bits). Used only where ulab is.
#
# Exact: each product w * x is at most 127 * 128, and with the layer's input zero point
# 0 (SPARSE False: gnet_weights then folds nothing into K) every partial sum of a row is
# at most 128 * sum|w| < 2**24, a float32's integers, when a row's dot product covers at
# most _SPAN = 1032 inputs (128 * 127 * 1032 < 2**24). Wider layers are cut into spans
# whose sums are added as Python ints (FORMAT.md, "Exact in float32").
try:
    from ulab import numpy as np
except ImportError:  # no ulab here: gnet.kernels checks for it before it uses this module
    np = None

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

RAW = False     # weight buffers are array('b'): frombuffer reads them as int8
SPARSE = False  # no zero-point gather: the input vector is dense, zero points are 0
_SPAN = const(1032)  # inputs per dot product: 128 * 127 * 1032 = 16,776,192 < 2**24


def gather(x, pairs, n, how):
    # x: (n,) uint8 pixels or int8 activations (how = delta << 8 | 0x80 for int8, as
    # gnet.py's _gather says) -> (n,) float vector of x[i] + delta
    delta = how >> 8
    v = np.array(np.frombuffer(x, dtype=np.int8 if how & 0x80 else np.uint8), dtype=np.float)
    if delta:
        v += delta
    return v


def accumulate(W, pairs, x, n_in, c0, rows, acc):
    # For r < rows: acc[c0 + r] = W[r] . x, exactly. W: (rows, n_in) int8 row-major (a
    # buffer); x: (n_in,) float from gather (gnet.py passes it where a sparse backend gets
    # its pair count; pairs is unused here).
    Wm = np.frombuffer(W, dtype=np.int8)
    if len(Wm) != rows * n_in:
        Wm = Wm[:rows * n_in]
    Wm = Wm.reshape((rows, n_in))
    if n_in <= _SPAN:
        d = np.dot(Wm, x)
        for r in range(rows):
            acc[c0 + r] = int(d[r])
        return
    for r in range(rows):
        acc[c0 + r] = 0
    a = 0
    while a < n_in:
        b = min(n_in, a + _SPAN)
        d = np.dot(Wm[:, a:b], x[a:b])
        for r in range(rows):
            acc[c0 + r] += int(d[r])
        a = b
