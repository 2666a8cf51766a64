# Viper kernels for gnet.py: the same integers as its pure-Python loops, much faster.
# Imported only where MicroPython's native emitter exists (gnet.py falls back otherwise).
# At most 4 arguments each (the native emitter's limit on some architectures). Pointer
# loads are unsigned, so int8/int16 values are sign-extended by hand; every sum stays
# within +/-2**30 (FORMAT.md's bounds), so 32-bit machine ints never wrap.
import micropython


@micropython.viper
def gather_u8(x: ptr8, pairs: ptr16, n: int, delta: int) -> int:
    # x: (n,) uint8 pixels. pairs <- (i, x[i] + delta) where nonzero; returns the count.
    k = 0
    i = 0
    while i < n:
        v = int(x[i]) + delta
        if v:
            pairs[k] = i
            pairs[k + 1] = v      # stored as int16 bits
            k += 2
        i += 1
    return k >> 1


@micropython.viper
def gather_s8(x: ptr8, pairs: ptr16, n: int, delta: int) -> int:
    # x: (n,) int8 activations. Same as gather_u8.
    k = 0
    i = 0
    while i < n:
        v = int(x[i])
        if v > 127:
            v -= 256              # sign-extend the int8
        v += delta
        if v:
            pairs[k] = i
            pairs[k + 1] = v
            k += 2
        i += 1
    return k >> 1


@micropython.viper
def accumulate(W: ptr8, pairs: ptr16, p: ptr32, acc: ptr32):
    # p = (n_in, rows, nnz, c0). For r < rows: acc[c0 + r] = sum_j W[r*n_in + i_j] * v_j.
    # W: (rows, n_in) int8 row-major; pairs: (nnz, 2) int16.
    n_in = int(p[0])
    rows = int(p[1])
    end = int(p[2]) * 2
    c0 = int(p[3])
    base = 0
    r = 0
    while r < rows:
        s = 0
        j = 0
        while j < end:
            w = int(W[base + int(pairs[j])])
            if w > 127:
                w -= 256          # sign-extend the int8 weight
            v = int(pairs[j + 1])
            if v > 32767:
                v -= 65536        # sign-extend the int16 value
            s += w * v
            j += 2
        acc[c0 + r] = s
        base += n_in
        r += 1
