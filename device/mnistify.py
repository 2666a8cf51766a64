# Any grey picture of a digit -> a 28x28 MNIST-style image, in integers only.
#
# MNIST digits were made like this: white ink on black, the digit's bounding box scaled
# (keeping its aspect ratio) into a 20x20 box with anti-aliasing, then placed in a 28x28
# field so that its centre of mass sits at the centre. The same steps here, with integer
# arithmetic only, so that CPython (the trainer) and MicroPython (the board) give the same
# bytes. Runs unchanged on both; no f-strings, no numpy.
#
# Algorithm version 1 (change _VERSION when the output of any step changes):
#  1. polarity: if the border is brighter than mid-grey, the ink is dark: invert.
#  2. levels: lo = median grey (the paper), hi = brightest grey (the ink);
#     v -> (v - t0) * 255 // (hi - t0) above t0 = lo + (hi - lo) // 8, else 0.
#     Less than _MIN_CONTRAST between lo and hi: no digit, all zeros.
#  3. bounding box of the pixels brighter than lo + (hi - lo) // 4.
#  4. the box, centred in a square of side L = max(width, height), is averaged down (or
#     up) to 20x20: output pixel i covers source [i*L/20, (i+1)*L/20); each source pixel
#     is weighted by its exact overlap, in units of 1/20 pixel; rounding half up.
#  5. the 20x20 is placed in 28x28 at the offset that puts its centre of mass nearest to
#     (14, 14), rounding half up, kept inside the field.
# Every intermediate stays below 255 * L * L < 2**30 for L <= _MAX_SIDE.

from array import array

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_VERSION = const(1)
_BOX = const(20)          # the digit's box inside the field
_SIDE = const(28)         # the field
_CENTRE = const(14)       # where the centre of mass goes (pixel index units)
_MIN_CONTRAST = const(24)  # grey levels between paper and ink below which we see no digit
_MAX_SIDE = const(2048)   # largest box side we resample exactly within 2**30

VERSION = _VERSION


def _levels(grey, n):
    # (lo, hi): median and maximum grey, from a 256-bin histogram.
    hist = array("i", bytes(1024))  # (256,) int32
    for v in grey:
        hist[v] += 1
    half = n // 2
    acc = 0
    lo = 0
    for g in range(256):
        acc += hist[g]
        if acc > half:
            lo = g
            break
    hi = 255
    while hi > 0 and hist[hi] == 0:
        hi -= 1
    return lo, hi


def _border_is_bright(grey, w, h):
    total = 0
    count = 0
    last = (h - 1) * w
    for x in range(w):
        total += grey[x] + grey[last + x]
    count += 2 * w
    for y in range(1, h - 1):
        total += grey[y * w] + grey[y * w + w - 1]
    count += 2 * (h - 2) if h > 2 else 0
    return total > 127 * count


def _taps(L):
    # For each of the 20 output positions: [source index, weight, ...]; weights sum to L.
    taps = []
    for i in range(_BOX):
        a = i * L
        b = a + L
        row = []
        j = a // _BOX
        while j * _BOX < b:
            w = min(j * _BOX + _BOX, b) - max(j * _BOX, a)
            if w > 0:
                row.append(j)
                row.append(w)
            j += 1
        taps.append(row)
    return taps


def mnistify(grey, w, h, invert=None, out=None, inplace=False):
    """grey: w*h bytes, row-major, 0 black .. 255 white. Returns out, a bytearray(784),
    MNIST style (0 background, 255 ink). invert: None decides from the border.
    inplace: grey is a writable buffer this call may invert in place (no copy: on a
    board a second frame-sized block of RAM may not be there)."""
    n = w * h
    if w < 1 or h < 1 or len(grey) < n:
        raise ValueError("mnistify: %d bytes for a %dx%d image" % (len(grey), w, h))
    if out is None:
        out = bytearray(_SIDE * _SIDE)
    else:
        for i in range(_SIDE * _SIDE):
            out[i] = 0
    if invert is None:
        invert = _border_is_bright(grey, w, h)
    if invert and inplace:
        for i in range(n):
            grey[i] = 255 - grey[i]
    elif invert:
        grey = bytes(255 - v for v in grey[:n])
    # 2. levels
    lo, hi = _levels(memoryview(grey)[:n], n)
    if hi - lo < _MIN_CONTRAST:
        return out
    t0 = lo + (hi - lo) // 8
    tbox = lo + (hi - lo) // 4
    span = hi - t0
    lut = bytearray(256)  # grey -> stretched grey
    for g in range(t0 + 1, 256):
        v = (g - t0) * 255 // span
        lut[g] = v if v < 255 else 255
    # 3. bounding box
    x0, y0, x1, y1 = w, h, -1, -1
    for y in range(h):
        row = y * w
        for x in range(w):
            if grey[row + x] > tbox:
                if x < x0:
                    x0 = x
                if x > x1:
                    x1 = x
                if y < y0:
                    y0 = y
                y1 = y
    if x1 < 0:
        return out
    bw = x1 - x0 + 1
    bh = y1 - y0 + 1
    L = bw if bw > bh else bh
    if L > _MAX_SIDE:
        raise ValueError("mnistify: digit box %d px, more than %d; shrink the image first" % (L, _MAX_SIDE))
    sx = x0 - (L - bw) // 2
    sy = y0 - (L - bh) // 2
    taps = _taps(L)
    # 4a. horizontal pass, one source row at a time: row[i] = sum of lut[pixel] * weight,
    #     <= 255 * L; 4b. each row added, times its overlap, into the (at most ceil(20/L)+1)
    #     output rows it covers: acc <= 255 * L * L. The same integer sum as a
    #     separable resample, without an (L, 20) buffer a small board may not have.
    row = array("i", bytes(4 * _BOX))          # (20,) int32
    acc = array("i", bytes(4 * _BOX * _BOX))   # (20, 20) int32
    for r in range(L):
        y = sy + r
        if y < 0 or y >= h:
            continue
        base = y * w
        for i in range(_BOX):
            t = taps[i]
            s = 0
            for k in range(0, len(t), 2):
                x = sx + t[k]
                if 0 <= x < w:
                    s += lut[grey[base + x]] * t[k + 1]
            row[i] = s
        # source row r covers [20r, 20r + 20), output row j covers [jL, jL + L) (1/20 px)
        for j in range(r * _BOX // L, (r * _BOX + _BOX - 1) // L + 1):
            wt = min(j * L + L, r * _BOX + _BOX) - max(j * L, r * _BOX)
            o = j * _BOX
            for i in range(_BOX):
                acc[o + i] += row[i] * wt
    area = L * L
    box = bytearray(_BOX * _BOX)
    for i in range(_BOX * _BOX):
        box[i] = (acc[i] + area // 2) // area
    # 5. centre of mass -> offset in the 28x28 field
    m = 0
    mx = 0
    my = 0
    for y in range(_BOX):
        for x in range(_BOX):
            v = box[y * _BOX + x]
            m += v
            mx += v * x
            my += v * y
    if m == 0:
        return out
    # offset = round(CENTRE - mx / m), half up: floor((2*CENTRE*m - 2*mx + m) / (2*m))
    ox = (2 * _CENTRE * m - 2 * mx + m) // (2 * m)
    oy = (2 * _CENTRE * m - 2 * my + m) // (2 * m)
    ox = min(max(ox, 0), _SIDE - _BOX)
    oy = min(max(oy, 0), _SIDE - _BOX)
    for y in range(_BOX):
        o = (oy + y) * _SIDE + ox
        b = y * _BOX
        out[o:o + _BOX] = box[b:b + _BOX]
    return out
