# Viper kernels for a ConvNet's 3x3 convolutions, max pools and global averages (gnet_conv.py
# imports this where the viper backend runs): the integers of gnet_conv.conv3x3, maxpool2 and
# gap, the reference, much faster (a pool: 1/2.2 of a pooled ConvNet's instructions; see
# docs/MEASUREMENTS.md). At most 4 arguments each (the native emitter's limit on some
# architectures).
#
# A conv's input is first copied into its padded picture P, (hp, wp, c) bytes holding
# v = x - vmin in 0..255 (vmin: the lowest value the input takes, its zero point after a
# ReLU), its border, the padding, zx - vmin. Every window then lies wholly in P, and a
# window row (3 pixels of c channels) is 3c consecutive bytes in P: no bounds test. The
# weights are held as w + 128 (0..255, no sign extension), so
#   sum w * x  =  sum (w + 128) * v  -  128 * sum v  +  vmin * sum w
# the window's sum of v is taken once per pixel for all channels, and vmin * sum w is in
# K (bias + vmin * sum w, prepared here). The sums stay below 255 * 255 * 9c < 2**31 for
# c < 3600: 32-bit machine ints never wrap.
#
# Memory: every conv of a model shares one P (the largest any of them needs) and one
# output buffer: a conv has copied all of its input into P before it writes its output,
# and the next layer reads that output before another conv writes it. (3.4 KB of the
# shipped ConvNet's 6.8 KB of pictures.) P is the dense layers' gather buffer where that
# is large enough. K, M and S live in T, not beside it.
#
# T, array('i'), one per conv layer (prepare):
#   T[0:10]           wp * c (a row of P), c, oh, ow, co, stride, c0 and n (the chunk of
#                     output channels being run), zero + 128, lo + 128
#   T[10:10+co]       K, int32 (read as two halfwords: a ptr32 load does not sign-extend
#                     on a 64-bit machine)
#   T[10+co:10+2co]   M | S << 16
#   T[10+2co:10+3co]  a pixel's sums
# G, array('i'), the copy's geometry: h, w, c, wp, pt, pl, hp, flip, delta + 256, border
import micropython
from array import array


def prepare(m, L, vmin, V):
    # conv layer L's T, G, and its weights transposed (in place of its rows in L.chunks);
    # L.P and L.out: the model's shared ones (made for its first conv); L.V = V, this
    # module (gnet_weights.py hands it over). vmin: the lowest value L's input takes.
    if L.typ != 2:  # a max pool or global average
        return prepare_pool(m, L, V)
    h, w, c, oh, ow, co, stride, pt, pl = L.g
    hp = (oh - 1) * stride + 3  # the rows and columns that windows read
    wp = (ow - 1) * stride + 3
    shared = None
    for Q in m.layers:
        if Q is L:
            break
        if Q.typ == 2 and Q.T is not None:
            shared = Q
    if shared is None:  # the model's first conv: buffers for the largest picture of any
        n_p = n_out = 0
        for Q in m.layers:
            if Q.typ == 2:
                g = Q.g
                n_p = max(n_p, ((g[3] - 1) * g[6] + 3) * ((g[4] - 1) * g[6] + 3) * g[2])
                n_out = max(n_out, g[3] * g[4] * g[5])
        # (hp, wp, c) uint8 of the conv running: v = x - vmin. The dense layers' gathered
        # inputs (m._pairs) where those are large enough: they are made only after the last
        # conv has run (1.8 KB of the shipped ConvNet's heap)
        pairs = m._pairs
        L.P = pairs if isinstance(pairs, bytearray) and len(pairs) >= n_p else bytearray(n_p)
        L.out = array("b", bytes(n_out))     # (oh, ow, co) int8 of the conv last run
    else:
        L.P, L.out = shared.P, shared.out
    # the input: the picture's bytes (uint8, the model's offset) or int8 bytes
    first = L.index == 0
    G = array("i", [h, w, c, wp, pt, pl, hp, 0 if first else 0x80, (m.input_offset if first else -128) - vmin + 256,
                    L.zx - vmin])
    T = array("i", range(10 + 3 * co))
    for i, v in enumerate((wp * c, c, oh, ow, co, stride, 0, 0, L.zero + 128, L.lo + 128)):
        T[i] = v
    n = 9 * c
    for c0, rows, W in L.chunks:
        for r in range(rows):
            k = c0 + r
            total = 0
            for i in range(r * n, (r + 1) * n):
                total += W[i]
            T[10 + k] = L.K[k] + vmin * total
            T[10 + co + k] = L.M[k] | L.S[k] << 16
    # each chunk (rows, 9c) int8, as gnet_weights.py reads a conv's weights (one, unless a
    # fragmented heap had no block that large), transposed in place: (9c, rows) bytes w + 128
    for c0, rows, W in L.chunks:
        _transpose(W, bytearray((n * rows + 7) >> 3), rows, n * rows)
    L.T, L.G, L.V = T, G, V
    L.K = L.M = L.S = None


@micropython.viper
def _transpose(W: ptr8, placed: ptr8, rows: int, n: int):
    # W (rows, cols) int8, n = rows * cols bytes <- its transpose (cols, rows), each byte
    # flipped (w ^ 0x80: the byte w + 128, which conv reads). In place, cycle by cycle:
    # the element at a (row r, column c) goes to c * rows + r, which for 0 < a < n - 1 is
    # a * rows mod (n - 1) (taken by subtraction: no divide instruction on a Cortex-M0);
    # placed: a bit per element, set once it is in its place. (A second buffer would need
    # a block as large as the weights, which a heap that has just read them may not have:
    # 4.6 KB for the shipped ConvNet's last conv.)
    n1 = n - 1
    s = 1
    while s < n1:
        if (int(placed[s >> 3]) & (1 << (s & 7))) == 0:
            a = s
            v = int(W[s])
            while True:
                a = a * rows
                while a >= n1:
                    a -= n1
                placed[a >> 3] = int(placed[a >> 3]) | (1 << (a & 7))
                t = int(W[a])
                W[a] = v ^ 0x80
                v = t
                if a == s:
                    break
        s += 1
    W[0] = int(W[0]) ^ 0x80   # the first and last elements stay where they are
    W[n1] = int(W[n1]) ^ 0x80


def prepare_pool(m, L, V):
    # a max pool's or global average's T: its geometry L.g, (9,) int32, and for an average
    # its (c,) channel sums after; none for the model's first layer (the picture's uint8
    # bytes: the reference loops make them int8 first)
    if L.index:
        L.T = array("i", L.g + ((0,) * L.g[2] if L.typ == 4 else ()))
        L.V = V


def layer(L, x, offset):
    # gnet_conv.layer for a prepared layer: L.out <- the layer of x (for a conv, the picture's
    # bytes if it is the first layer: G says how to read them, so offset is not needed here)
    if L.typ == 2:
        fill(x, L.P, L.G, 0)
        T = L.T
        for c0, rows, W in L.chunks:  # its output channels c0 .. c0 + rows - 1 (T[6], T[7])
            T[6] = c0
            T[7] = rows
            conv(L.P, W, T, L.out)
    elif L.typ == 3:
        pool(x, L.T, L.out)
    else:  # the average, rounded half up: (2 sum + n) // 2n, of the sums made >= 0 (+128 a
        # value, so that no rounding of a negative quotient is in question), less 128 after
        T = L.T
        sums(x, T, L.out)
        n = T[0] * T[1]
        out = L.out
        for ch in range(T[2]):
            out[ch] = (2 * T[9 + ch] + n) // (2 * n) - 128
    return L.out


@micropython.viper
def pool(x: ptr8, T: ptr32, out: ptr8):
    # out (oh, ow, c) <- the largest of each 2x2 window of x (h, w, c), both int8 bytes,
    # compared as x ^ 0x80 (0..255, the order of the int8 values: no sign extension); T:
    # the layer's geometry (h, w, c, oh, ow, ...). An odd last row or column is not read.
    w = int(T[1])
    c = int(T[2])
    oh = int(T[3])
    ow = int(T[4])
    wc = w * c
    o = 0
    i = 0
    while i < oh:
        a = 2 * i * wc            # the window's top left pixel
        j = 0
        while j < ow:
            end = a + c
            while a < end:        # each channel: top left, top right, bottom left, bottom right
                v = int(x[a]) ^ 0x80
                t = int(x[a + c]) ^ 0x80
                if t > v:
                    v = t
                t = int(x[a + wc]) ^ 0x80
                if t > v:
                    v = t
                t = int(x[a + wc + c]) ^ 0x80
                if t > v:
                    v = t
                out[o] = v ^ 0x80
                o += 1
                a += 1
            a += c                # past the window's right column: the next window
            j += 1
        i += 1


@micropython.viper
def sums(x: ptr8, T: ptr32, out: ptr8):
    # T[9 + ch] <- the sum over the picture x (h, w, c) int8 bytes of channel ch's values
    # plus 128 each (x ^ 0x80: 0..255); T: the geometry (h, w, c, ...), then the sums. out:
    # unused (the average is taken by layer(), in Python: c divisions an image).
    c = int(T[2])
    end = int(T[0]) * int(T[1]) * c
    ch = 0
    while ch < c:
        s = 0
        p = ch
        while p < end:
            s += int(x[p]) ^ 0x80
            p += c
        T[9 + ch] = s
        ch += 1


@micropython.viper
def fill(x: ptr8, P: ptr8, G: ptr32, n: int):
    # P (hp, wp, c): its inside <- v = (x ^ flip) + delta for the
    # input x (h, w, c): int8 bytes (flip 0x80, delta = -128 - vmin) or the picture's
    # uint8 (flip 0, delta = offset - vmin); rows and columns that no window reads ('valid'
    # padding) are left out; the rest <- the border value. n: unused.
    h = int(G[0])
    w = int(G[1])
    c = int(G[2])
    wp = int(G[3])
    pt = int(G[4])
    pl = int(G[5])
    hp = int(G[6])
    flip = int(G[7])
    delta = int(G[8]) - 256
    border = int(G[9])
    if h > hp - pt:
        h = hp - pt
    wc = w * c
    last = (wp - pl) * c      # bytes of an input row that fit in P's row
    if wc > last:
        wc = last
    # the border, which the copy below leaves: P is shared with the model's other convs, so
    # it is written for this one's geometry at every call (its rows above and below the
    # input, then the columns left and right of each input row)
    row = wp * c
    k = 0
    end = pt * row
    while k < end:
        P[k] = border
        k += 1
    k = (pt + h) * row
    end = hp * row
    while k < end:
        P[k] = border
        k += 1
    y = 0
    while y < h:
        dst = (y + pt) * row
        k = 0
        while k < pl * c:
            P[dst + k] = border
            k += 1
        k = pl * c + wc
        while k < row:
            P[dst + k] = border
            k += 1
        src = y * w * c
        dst += pl * c
        k = 0
        while k < wc:
            P[dst + k] = (int(x[src + k]) ^ flip) + delta
            k += 1
        y += 1


@micropython.viper
def conv(P: ptr8, W: ptr8, T: ptr32, out: ptr8):
    # out[(i * ow + j) * co + ch] for every output pixel and channel ch of c0 .. c0 + n - 1
    # (c0 = T[6], n = T[7]: one chunk of the layer's weights): the requantised sum over
    # window (i, j) of P, clamped to lo..127. W: the chunk's weights transposed, (3, 3, c,
    # n) bytes w + 128: a window's value v meets the n weights of its tap in a row, so a v
    # of 0 (an input at its lowest: most of a digit's paper, every dead ReLU) skips them
    # all. The sums in T[10+2co:10+2co+n], all >= 0.
    row = int(T[0])
    c = int(T[1])
    oh = int(T[2])
    ow = int(T[3])
    co = int(T[4])
    stride = int(T[5])
    c0 = int(T[6])
    n = int(T[7])
    zero = int(T[8]) - 128
    lo = int(T[9]) - 128
    T16 = ptr16(T)
    A = ptr32(uint(T) + 4 * (10 + 2 * co))  # (n,) the sums
    run = 3 * c               # a window row: 3 pixels of c channels, consecutive in P
    co4 = n & ~3
    i = 0
    while i < oh:
        j = 0
        while j < ow:
            r = 0
            while r < n:
                A[r] = 0
                r += 1
            sv = 0                # the window's sum of v
            a = i * stride * row + j * stride * c   # the window's first byte in P
            t = 0                 # the tap's index in a weight row, 0 .. 9c - 1
            ky = 0
            while ky < 3:
                k = 0
                while k < run:
                    v = int(P[a + k])
                    if v:
                        sv += v
                        Wr = ptr8(uint(W) + (t + k) * n)
                        k2 = k + 1       # the row's next value that is not 0: both in one pass
                        while k2 < run and int(P[a + k2]) == 0:
                            k2 += 1
                        if k2 < run:
                            u = int(P[a + k2])
                            sv += u
                            Wu = ptr8(uint(W) + (t + k2) * n)
                            r = 0
                            while r < co4:   # four channels a step, each sum loaded and stored once for two values
                                A[r] += int(Wr[r]) * v + int(Wu[r]) * u
                                A[r + 1] += int(Wr[r + 1]) * v + int(Wu[r + 1]) * u
                                A[r + 2] += int(Wr[r + 2]) * v + int(Wu[r + 2]) * u
                                A[r + 3] += int(Wr[r + 3]) * v + int(Wu[r + 3]) * u
                                r += 4
                            while r < n:
                                A[r] += int(Wr[r]) * v + int(Wu[r]) * u
                                r += 1
                            k = k2
                        else:
                            r = 0
                            while r < co4:
                                A[r] += int(Wr[r]) * v
                                A[r + 1] += int(Wr[r + 1]) * v
                                A[r + 2] += int(Wr[r + 2]) * v
                                A[r + 3] += int(Wr[r + 3]) * v
                                r += 4
                            while r < n:
                                A[r] += int(Wr[r]) * v
                                r += 1
                    k += 1
                a += row
                t += run
                ky += 1
            corr = sv << 7            # 128 * sum v: what reading w as w + 128 added
            o = (i * ow + j) * co + c0
            r = 0
            while r < n:
                h2 = 2 * (10 + c0 + r)  # K[c0 + r] as two halfwords, the high one sign-extended
                kk = int(T16[h2]) | (((int(T16[h2 + 1]) ^ 0x8000) - 0x8000) << 16)
                ms = int(T[10 + co + c0 + r])
                shift = ms >> 16
                y = zero + (((kk + int(A[r]) - corr) * (ms & 0xFFFF) + (1 << (shift - 1))) >> shift)
                if y > 127:
                    y = 127
                elif y < lo:
                    y = lo
                out[o + r] = y
                r += 1
            j += 1
        i += 1
