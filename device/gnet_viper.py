# Viper kernels for gnet.py: the same integers as its pure-Python loops, much faster.
# Imported only where MicroPython's native emitter exists (gnet.py falls back otherwise).
# At most 4 arguments each (the native emitter's limit on some architectures).
#
# The inner loop has no branch: a gathered input is one 32-bit word, i | v << 16, with
# v = x[i] - zx in 0..255 (zx, the layer's input zero point, is the lowest value its
# inputs take), and a weight byte b is read as b ^ 0x80 = w + 128 (0..255), so
#   sum (w + 128) * v  =  sum w * v  +  128 * sum v,
# and 128 * sum v (gather stores it after the pairs) is taken off once per row. The
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


@micropython.viper
def gather(x: ptr8, pairs: ptr32, n: int, how: int) -> int:
    # gnet.py's _gather. how = delta << 8 | flip: x's bytes are int8 (flip 0x80) or uint8
    # (flip 0). pairs <- i | v << 16 for each v = x[i] + delta != 0 (v in 1..255), then
    # three words 0 (pairs that add nothing: dense reads four at a time), then the sum of
    # the v; returns their count.
    flip = how & 0xFF
    delta = (how >> 8) - flip        # (b ^ 0x80) - 128 is the int8 a byte b holds
    k = 0
    total = 0
    i = 0
    while i < n:
        v = (int(x[i]) ^ flip) + delta
        if v:
            pairs[k] = i | (v << 16)
            total += v
            k += 1
        i += 1
    pairs[k] = 0
    pairs[k + 1] = 0
    pairs[k + 2] = 0
    pairs[k + 3] = total
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
    corr = int(pairs[nnz + 3]) << 7   # 128 * sum v: what reading w as w + 128 added
    end = (nnz + 3) & ~3              # four pairs a step (gather's zero pairs fill the last)
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
