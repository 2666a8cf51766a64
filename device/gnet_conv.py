# The reference kernels of a ConvNet's layers, in plain Python: trainer/qlayers.py's
# integer arithmetic, written once for the board (issue 22). Not flashed yet (not in
# manifest.py): the .gnet records that will carry these layers come next, and then
# the faster backends, tested against these.
#
# Pictures are channels-last int8 values in flat arrays: x[(y * w + x) * c + ch].


def conv3x3(x, h, w, c, W, K, M, S, zero, stride, pt, pl, zx, out, oh, ow, co):
    # out (oh, ow, co) <- ReLU-clamped requantised 3x3 convolution of x (h, w, c).
    # W: (co, 3, 3, c) int8, row-major; K: (co,) int32 biases (the input's zero point
    # folded in); M, S: (co,) multipliers and shifts; zero: the output's zero point, its
    # clamp zero..127; stride 1 or 2; pt, pl: the padding before the first row and
    # column; a window's part outside the picture reads zx, the input's zero point.
    for i in range(oh):
        y0 = i * stride - pt
        for j in range(ow):
            x0 = j * stride - pl
            o = (i * ow + j) * co
            for k in range(co):
                s = K[k]
                wi = k * 9 * c
                for ky in range(3):
                    yy = y0 + ky
                    for kx in range(3):
                        xx = x0 + kx
                        if 0 <= yy < h and 0 <= xx < w:
                            xi = (yy * w + xx) * c
                            for ch in range(c):
                                s += W[wi + ch] * x[xi + ch]
                        else:
                            for ch in range(c):
                                s += W[wi + ch] * zx
                        wi += c
                v = zero + ((s * M[k] + (1 << (S[k] - 1))) >> S[k])
                out[o + k] = zero if v < zero else (127 if v > 127 else v)


def maxpool2(x, h, w, c, out):
    # out (h // 2, w // 2, c) <- the largest of each 2x2 window of x (h, w, c); an odd
    # last row or column is not read
    oh = h >> 1
    ow = w >> 1
    for i in range(oh):
        for j in range(ow):
            a = (2 * i * w + 2 * j) * c  # the window's top left, then top right,
            b = a + w * c                # bottom left,
            o = (i * ow + j) * c
            for ch in range(c):
                out[o + ch] = max(x[a + ch], x[a + c + ch], x[b + ch], x[b + c + ch])  # and bottom right


def gap(x, h, w, c, out):
    # out (c,) <- each channel's mean over the picture, rounded half up: (2 sum + hw) // 2hw
    n = h * w
    for ch in range(c):
        s = 0
        for p in range(ch, n * c, c):
            s += x[p]
        out[ch] = (2 * s + n) // (2 * n)
