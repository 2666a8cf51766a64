# Viper kernels for gnet.py: the same integers as its pure-Python loops, much faster.
# Imported only where MicroPython's native emitter exists (gnet.py falls back otherwise).
# At most 4 arguments each (the native emitter's limit on some architectures).
#
# The inner loop has no branch: a gathered input is one 32-bit word, i | v << 16, with
# v = x[i] - zx in 0..255 (zx, the layer's input zero point, is the lowest value its
# inputs take), and a weight byte b is read as b ^ 0x80 = w + 128 (0..255), so
#   sum (w + 128) * v  =  sum w * v  +  128 * sum v,
# and 128 * sum v (gather stores sum v after the pairs) is taken off once per row. The
# sums stay below 255 * 255 * 32767 < 2**31 (FORMAT.md allows 32767 inputs per layer):
# 32-bit machine ints never wrap.
#
# dense() also requantises each row as soon as its sum is complete (FORMAT.md's
# arithmetic: (K + acc) * M + 2**(S-1) stays within 2**30, so no 32-bit product wraps)
# and writes the int8 output; a layer's constants live in one table T (its layout:
# gnet_viper_load.py).
import micropython

RAW = True     # buffers are bytearrays: ptr8 reads them without a copy
SPARSE = True  # inputs equal to the zero point are skipped (gather's pairs)
LOAD = "gnet_viper_load"  # the load's part: imported by gnet_weights.py, dropped with it


def gather(x, pairs, n, delta, signed):
    # gnet.py's _gather: pairs <- i | (x[i] + delta) << 16 where nonzero, then their sum;
    # returns their count. pairs: a bytearray of 4 * (n + 1) bytes.
    if signed:
        return gather_s8(x, pairs, n, delta)
    return gather_u8(x, pairs, n, delta)


@micropython.viper
def gather_u8(x: ptr8, pairs: ptr32, n: int, delta: int) -> int:
    # x: (n,) uint8 pixels; v = x[i] + delta in 0..255
    k = 0
    total = 0
    i = 0
    while i < n:
        v = int(x[i]) + delta
        if v:
            pairs[k] = i | (v << 16)
            total += v
            k += 1
        i += 1
    pairs[k] = total
    return k


@micropython.viper
def gather_s8(x: ptr8, pairs: ptr32, n: int, delta: int) -> int:
    # x: (n,) int8 activations, read as bytes: (b ^ 0x80) - 128 is the int8 value
    k = 0
    total = 0
    i = 0
    while i < n:
        v = (int(x[i]) ^ 0x80) - 128 + delta
        if v:
            pairs[k] = i | (v << 16)
            total += v
            k += 1
        i += 1
    pairs[k] = total
    return k


@micropython.viper
def dense(W: ptr8, pairs: ptr32, T: ptr32, out: ptr8):
    # T: the layer's table (gnet_viper_load.py). For r < rows, neuron c = c0 + r:
    # acc = sum_j W[r*n_in + i_j] * v_j, y = zero + (((K + acc) * M + 2**(S-1)) >> S),
    # clamped to lo..hi, through the LUT when there is one, stored as out[c] (int8).
    n_in = int(T[0])
    rows = int(T[1])
    nnz = int(T[2])
    c0 = int(T[3])
    zero = int(T[4]) - 128
    lo = int(T[5]) - 128
    hi = int(T[6]) - 128
    n = int(T[8])
    T16 = ptr16(T)
    T8 = ptr8(T)
    lut = 4 * (10 + 2 * n) + 128 if int(T[7]) else 0   # byte offset of LUT[128]
    corr = int(pairs[nnz]) << 7   # 128 * sum v: what reading w as w + 128 added
    end = nnz & ~3                # four inputs at a time: the loop unrolled four times
    base = 0
    r = 0
    while r < rows:
        s = 0
        j = 0
        while j < end:
            q = int(pairs[j])
            t = int(pairs[j + 1])
            u = int(pairs[j + 2])
            e = int(pairs[j + 3])
            s += ((int(W[base + (q & 0xFFFF)]) ^ 0x80) * (q >> 16) + (int(W[base + (t & 0xFFFF)]) ^ 0x80) * (t >> 16)
                  + (int(W[base + (u & 0xFFFF)]) ^ 0x80) * (u >> 16) + (int(W[base + (e & 0xFFFF)]) ^ 0x80) * (e >> 16))
            j += 4
        while j < nnz:
            q = int(pairs[j])
            s += (int(W[base + (q & 0xFFFF)]) ^ 0x80) * (q >> 16)
            j += 1
        c = c0 + r
        h = 2 * (10 + c)              # K[c] as two halfwords, the high one sign-extended
        k = int(T16[h]) | (((int(T16[h + 1]) ^ 0x8000) - 0x8000) << 16)
        ms = int(T[10 + n + c])
        shift = ms >> 16
        y = zero + (((k + s - corr) * (ms & 0xFFFF) + (1 << (shift - 1))) >> shift)
        if y > hi:
            y = hi
        elif y < lo:
            y = lo
        if lut:
            out[c] = T8[lut + y]
        else:
            out[c] = y
        base += n_in
        r += 1
