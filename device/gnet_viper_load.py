# The viper backend's part of the load (gnet_weights.py imports it; gnet.py drops both
# after the load, so that their code takes a board's RAM only while a model loads):
# layout() makes a layer's table T, row_sums() checks a row of weights in machine code,
# prepare() completes T for gnet_viper.dense().
#
# T, array('i'), one per layer:
#   T[0:10]              n_in, rows, nnz, c0 (set per call), zero + 128, lo + 128, hi + 128
#                        (+ 128: a ptr32 load does not sign-extend on a 64-bit machine),
#                        has a LUT, n_out, 0
#   T[10:10+n]           K, int32 (the loader reads the biases into it and folds in zx * sum)
#   T[10+n:10+2n]        M | S << 16
#   T[10+2n:10+2n+64]    the lookup table's 256 bytes, when the layer has one
# Each name a module defines stays in a board's RAM (MicroPython's name pools grow by
# doubling, and one pool more did not fit the book's network at 64 KB): names here are few.
import micropython
from array import array
from micropython import const

_HEAD = const(10)


def layout(L):
    # L's table T, and the view of it that the loader fills as L.K
    n = L.n_out
    # array(range) has no temporary (array("i", bytes(k)) would hold k bytes twice); every
    # entry is written before dense() reads it
    T = array("i", range(_HEAD + 2 * n + (64 if L.has_lut else 0)))
    return T, memoryview(T)[_HEAD:_HEAD + n]


def prepare(L, T):
    # T's head, M | S << 16 and the LUT; L's separate M, S and LUT go
    n = L.n_out
    T[0] = L.n_in
    T[4] = L.zero + 128
    T[5] = L.lo + 128
    T[6] = L.hi + 128
    T[7] = 1 if L.has_lut else 0
    T[8] = n
    for c in range(n):
        T[_HEAD + n + c] = L.M[c] | L.S[c] << 16
    if L.has_lut:
        put_lut(memoryview(T)[_HEAD + 2 * n:], L.lut)
    L.K = L.M = L.S = L.lut = None


@micropython.viper
def put_lut(T: ptr8, lut: ptr8):
    # T[0:256] <- the 256 LUT bytes (T: the LUT part of a layer's table)
    i = 0
    while i < 256:
        T[i] = lut[i]
        i += 1


@micropython.viper
def row_sums(W: ptr8, out: ptr32, base: int, n: int):
    # the load's check of one row, W[base:base+n] (int8 read as bytes b): out <- sum w,
    # sum |w|, and how many w are -128 (gnet_weights.py refuses those). From the bytes:
    # w = b - 256 and |w| = 256 - b where b >= 128, so with S = sum b, and N, SN the count
    # and sum of the bytes >= 128: sum w = S - 256 N, sum |w| = S - 2 SN + 256 N.
    s = 0
    neg = 0
    sneg = 0
    bad = 0
    i = base
    end = base + n
    while i < end:
        b = int(W[i])
        s += b
        if b & 0x80:
            neg += 1
            sneg += b
            if b == 0x80:
                bad += 1
        i += 1
    out[0] = s - (neg << 8)
    out[1] = s - 2 * sneg + (neg << 8)
    out[2] = bad
