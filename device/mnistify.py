# Any grey picture of a digit -> a 28x28 MNIST-style image, in integers only.
#
# MNIST digits were made like this: white ink on black, the digit's bounding box scaled
# (keeping its aspect ratio) into a 20x20 box with anti-aliasing, then placed in a 28x28
# field so that its centre of mass sits at the centre. The same steps here, with integer
# arithmetic only, so that CPython (the trainer) and MicroPython (the board) give the same
# bytes. Runs unchanged on both; no f-strings, no numpy.
#
# A camera does not see a page evenly: lit from one side the paper darkens by 40 % across
# the frame, a lamp or a hand casts a soft shadow, the corners fall off, a ruled line or a
# speck of dust is in view. So the page is seen locally, as a person sees it. And a camera
# may be 80x60 or 640x480 and the pen a fine liner or a marker: the same digit is then 2 or
# 40 px wide a stroke. So the page is read at a working scale chosen from the digit's size
# (version 5: and every stroke as bright as MNIST's, the desk beyond a tilted page edge
# cleared whole; version 4 saw a marker's blobs, a lamp's glare, the desk beyond the page
# and a neighbour cut by the frame's side; version 3
# read at the digit's scale, version 2 every frame at its own pixels, version 1 took one
# paper level for the whole frame; change
# _VERSION when any output changes, and the models' headers say which version they expect):
#  0. the working scale s: a coarse look (the frame shrunk by s0, at most 96 px a side,
#     steps 1-4) finds the digit's box; s is then its longest side / 48 (at least 1, at
#     most half its short side, and 1 when the coarse look found nothing), and the frame
#     is read shrunk by s (means of s x s pixels, the last w % s columns and h % s rows
#     dropped): the digit's box is about 48 px there, and its strokes at most a quarter
#     of that (12 px), whatever the camera's resolution and the pen. Below, "pixel" is a
#     pixel of that working picture (the frame itself when s = 1).
#  1. cells of 4x4 pixels: the brightest and the darkest grey of each. Polarity from them:
#     a photo (dark ink on paper) unless light ink on black is clearly it (MNIST-style).
#     Below, "paper" is the bright side either way.
#  2. paper level per cell: the cells' brightest greys closed (maximum over the 5x5 cells
#     around, then minimum): a cell full of ink borrows its neighbours' paper, while the
#     edge of a shadow stays sharp. This removes gradients, vignetting and shadows. In a
#     photo, a cell whose paper is under half the brightest within 6 cells is inside a
#     blob of ink (a marker's stroke, a filled loop): it takes that paper.
#  3. ink strength of a pixel: how much darker than its cell's paper, 0..255 of the paper;
#     where the paper is brighter than the frame's median (a lamp's glare), relative to
#     the ink around it rather than to the frame's strongest.
#  4. the digit, not everything dark: cells whose darkest pixel has at least 3/8 of the
#     strongest ink, less a band along a side of the frame (the desk beyond the page) and
#     rows of a ruled line across the whole frame, joined into
#     8-connected parts; the part with the most ink weighted towards the frame's centre (a
#     part at the frame's edge or a long flat one counts less), plus the parts near it with
#     at least 1/8 of its ink (a digit's broken strokes; specks have less). A box touching
#     one side of the frame is split where a neighbour cut by that side touches the digit.
#  5. its box, one cell wider where fainter ink (1/4 of the strongest) continues, then to
#     the pixel; strengths stretched: s -> (s - t0) * 255 // (hi - t0) above t0 = hi // 8
#     (hi: the strongest ink in the box); nothing outside the box counts.
#  6. the box, centred in a square of side L = max(width, height), is averaged down (or
#     up) to 20x20: output pixel i covers source [i*L/20, (i+1)*L/20); each source pixel
#     is weighted by its exact overlap, in units of 1/20 pixel; rounding half up. A
#     marker's strokes (3/5 of the ink pixels inside a stroke) are then eroded by one
#     pixel, to a pen's width as MNIST has it. Then every stroke is made as bright as
#     MNIST's: a pixel is scaled by 255 / m, m the brightest within 2 pixels, where m >= 64
#     (part of a digit under a lamp's glare, or in pale ink, is fainter than the rest).
#  7. the 20x20 is placed in 28x28 at the offset that puts its centre of mass nearest to
#     (14, 14), rounding half up, kept inside the field.
# Every intermediate stays below 255 * L * L < 2**30 for L <= _MAX_SIDE.
# Memory: a few tables of (w/4)*(h/4) bytes (one of int32), one row of L bytes and the
# working picture, (w/2)*(h/2) bytes at most; the frame is read, never copied (with
# inplace=True a light-on-dark frame is inverted in place).

import gc
from array import array

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_VERSION = const(5)
_BOX = const(20)          # the digit's box inside the field
_SIDE = const(28)         # the field
_CENTRE = const(14)       # where the centre of mass goes (pixel index units)
_MIN_INK = const(24)      # ink strength (0..255 of the paper) below which we see no digit
_MAX_SIDE = const(2048)   # largest box side we resample exactly within 2**30
_MAX_CELLS = const(65535)  # cells are counted in uint16 (about 1000x1000 pixels)
_MAX_ASPECT = const(16)   # longest side / shortest side of a frame: a strip (20x1024) is refused, since the
#                           resample's work grows as the box side squared
_REACH = const(2)         # the paper closing looks this many cells either way
_FAR = const(6)           # and a blob's inside this many
_CELL = const(2)          # ink cells are 4x4 pixels (1 << 2)
_COARSE = const(96)       # the coarse look's longest side at most, in pixels
_AIM = const(48)          # the digit box's longest side in the working picture, about

VERSION = _VERSION


class Work:
    """Every table mnistify needs for frames of up to w x h pixels, allocated once: a
    board's app makes one at start, so that a frame then allocates nothing large (a heap
    in pieces cannot fail it). Larger frames get tables of their own."""

    def __init__(self, w, h):
        n = ((w + 3) >> _CELL) * ((h + 3) >> _CELL)
        k = _max_parts((w + 3) >> _CELL, (h + 3) >> _CELL)
        self.cells = n
        # the typed tables first, largest first, each one's temporary bytes freed before
        # the next: they then pack into one block with no holes left between them
        # (20, 20) int32: the digit's sums, then its greys; before, one row of the coarse
        # look's sums, and the 256 grey counts of the polarity's medians (n <= 65535)
        self.acc = _zeros("i", _BOX * _BOX)
        self.stack = _zeros("H", n)            # (n,) uint16: cells to visit
        self.box = _zeros("H", 4 * k)          # (k, 4) uint16: each part's x0, y0, x1, y1 in cells
        self.mass = _zeros("i", k)             # (k,) int32: each part's ink
        self.row = _zeros("i", _BOX)           # (20,) int32
        self.a = bytearray(n)        # (ch, cw): the cells' brightest grey, then the parts' labels
        self.b = bytearray(n)        # (ch, cw): the cells' darkest grey, then their ink strength
        self.c = bytearray(n)        # scratch of the paper closing
        self.d = bytearray(n)        # scratch of the paper closing, then the paper level
        self.lut = bytearray(256)                # ink strength -> stretched grey
        self.src = bytearray(max(w, h))          # (L,) uint8: one source row of the square
        s = (max(w, h) + _COARSE - 1) // _COARSE
        self.view = bytearray((w // s) * (h // s)) if s > 1 else None  # (h/s, w/s) uint8: the coarse look


def _zeros(typecode, n):
    # array(typecode) of n zeros; on MicroPython (gc.mem_free) the bytes it is made from
    # are collected at once (on CPython they already are, and a collection costs ms)
    a = array(typecode, bytes(n * (4 if typecode == "i" else 2)))
    if hasattr(gc, "mem_free"):
        gc.collect()
    return a


def _max_parts(cw, ch):
    # 8-connected parts of a (ch, cw) grid: at most one per 2x2 cells; 255 (labels are bytes)
    return min(255, ((cw + 1) >> 1) * ((ch + 1) >> 1))


def _cells(grey, w, h, cmax, cmin):
    # per 4x4 cell its brightest and darkest grey into cmax, cmin: (ch, cw) bytes each
    cw = (w + 3) >> _CELL
    mv = memoryview(grey)
    for y in range(h):
        c = (y >> _CELL) * cw
        base = y * w
        first = not y & 3  # the cell's first row sets, the others compare
        for x in range(base, base + w, 4):
            seg = mv[x:x + 4 if x + 4 < base + w else base + w]  # the last cell may be narrower
            a = max(seg)
            b = min(seg)
            if first or a > cmax[c]:
                cmax[c] = a
            if first or b < cmin[c]:
                cmin[c] = b
            c += 1


def _median(buf, hist):
    # the median byte of buf, from a 256-bin count in hist
    for g in range(256):
        hist[g] = 0
    for v in buf:
        hist[v] += 1
    acc = 0
    half = len(buf) >> 1
    for g in range(256):
        acc += hist[g]
        if acc > half:
            return g
    return 255


def _rows(src, cw, ch, pick, r, out):
    # out <- pick (max or min) along each row over [x - r, x + r], clipped at the edge
    for b in range(0, cw * ch, cw):
        for x in range(cw):
            out[b + x] = pick(src[b + (x - r if x > r else 0):b + (x + r + 1 if x + r < cw else cw)])
    return out


def _transpose(src, cw, ch, out):
    # out <- src transposed: (ch, cw) -> (cw, ch)
    for y in range(ch):
        r = y * cw
        for x in range(cw):
            out[x * ch + y] = src[r + x]
    return out


def _paper(cw, ch, cmax, t, p, invert):
    # paper level per cell: the cells' brightest greys, closed (maximum over the 5x5 cells
    # around, then minimum over the 7x7): a cell full of ink (a stroke up to 16 px wide)
    # takes its neighbours' paper. The wider minimum puts a cell beside a shadow's edge (or
    # the page's) on the darker paper, so that the edge itself is not taken for ink.
    # t and p: (cw*ch,) scratch; returns p, the paper level per cell
    _rows(cmax, cw, ch, max, _REACH, t)
    _transpose(t, cw, ch, p)  # (cw, ch): rows are columns now
    _rows(p, ch, cw, max, _REACH, t)
    _rows(t, ch, cw, min, _REACH + 1, p)
    _transpose(p, ch, cw, t)  # (ch, cw) again
    _rows(t, cw, ch, min, _REACH + 1, p)
    # A stroke wider than that (a marker's, a filled loop) has no paper in reach: its inside
    # would be taken for paper, and read as a hole. In a photo (dark ink, invert), a cell
    # whose paper is less than half as bright as the brightest paper within _FAR cells is
    # inside such a blob (a shadow on a page is brighter; the desk beyond the page is not,
    # and is dropped as a band along the frame's side): it takes that paper. Not with
    # light ink on black, where half the frame may be a deep shadow's bright side, which
    # the paper closing alone keeps out. cmax is scratch now.
    if not invert:
        return p
    _rows(p, cw, ch, max, _FAR, t)
    _transpose(t, cw, ch, cmax)
    _rows(cmax, ch, cw, max, _FAR, t)
    _transpose(t, ch, cw, cmax)
    for c in range(cw * ch):
        if 2 * p[c] < cmax[c]:
            p[c] = cmax[c]
    return p


def _strengths(cw, ch, lvl, cmin):
    # per cell the ink strength of its darkest pixel against its paper, 0..255; in cmin's place
    for c in range(cw * ch):
        v = lvl[c] - cmin[c]
        cmin[c] = v * 255 // lvl[c] if v > 0 else 0
    return cmin


def _drop_lines(cells, cw, ch, thr, dep, lvl, pm):
    # The desk beyond the page's edge: a band along one side of the frame, from one of its
    # corners along at least a third of it, of cells with ink at half the threshold (a desk
    # may be paler than ink) or with paper under half the frame's median paper pm (deep in
    # a desk, its own grey is taken for paper), in 3/4 of those cell lines, and at the
    # threshold within 2 cells of the border in 3/5 of them (a digit is at most 4/5 of the
    # frame's height and does not run along its border from a corner; paper's grain is not
    # that strong; a ruled line under a digit in the corner, half); 2 cells deep at one end
    # (a ruled line along the border is not the desk).
    # Its inner edge is straight, maybe tilted: the line through the band's least depth in
    # its first and in its last quarter (a digit touching it, even in a corner, makes some
    # lines deeper, not all; a line the desk's grain left empty is not counted), and half of
    # the lines with any band end within a cell of that line (a digit along a side does not).
    # Nothing of the digit lies beyond the page's edge, so the band is cleared whole, on each
    # line as deep as that line and one cell more (the edge's blur), even where the digit
    # touches it. First, before a band is taken for ruled lines.
    # dep: (>= max(cw, ch),) scratch, the band's depth per cell line.
    for side in range(4):
        # the side's n cell lines inward: the first at i0, the next di on, step inward
        if side < 2:  # top, bottom: cell columns
            n, deep, step, i0, di = cw, ch >> 1, cw if side == 0 else -cw, 0 if side == 0 else (ch - 1) * cw, 1
        else:         # left, right: cell rows
            n, deep, step, i0, di = ch, cw >> 1, 1 if side == 2 else -1, 0 if side == 2 else cw - 1, cw
        k = m = 0  # lines with the band at the threshold by the border, lines with any band
        p0, p1 = n, -1  # the first and the last line with any
        for p in range(n):
            i = i0 + p * di
            d = 0
            s = False
            while d < deep:
                c = cells[i + d * step]
                f = 2 * lvl[i + d * step] < pm  # the desk's own grey taken for paper
                if not (f or 2 * c >= thr):
                    break
                s = s or (d < 2 and (f or c >= thr))
                d += 1
            dep[p] = d
            if d:
                m += 1
                p0 = min(p0, p)
                p1 = p
            if s:
                k += 1
        ln = p1 - p0 + 1
        if p1 < 0 or (p0 > 0 and p1 < n - 1) or 3 * ln < n or 4 * m < 3 * ln or 5 * k < 3 * ln:
            continue  # no band
        q = (ln + 3) >> 2
        a = b = 0  # the least depths of the first and the last q lines with any band
        for p in range(p0, p1 + 1):
            d = dep[p]
            if d and p < p0 + q and (not a or d < a):
                a = d
            if d and p > p1 - q and (not b or d < b):
                b = d
        if a < 2 and b < 2:
            continue  # a line along the border (a ruled line, below), not the desk
        k = 0
        for p in range(p0, p1 + 1):
            # the line through (p0 + q/2, a) and (p1 + 1 - q/2, b), rounded half up
            t = a + ((b - a) * (2 * (p - p0) - q + 1) * 2 // (2 * (ln - q) if ln > q else 1) + 1) // 2
            if t - 1 <= dep[p] <= t + 1:
                k += 1  # this line ends at the straight edge
            dep[p] = max(t, 0)
        if 2 * k < m:
            continue  # not straight: a digit along the side
        for p in range(p0, p1 + 1):
            for d in range(min(dep[p] + 1, deep)):
                cells[i0 + p * di + d * step] = 0
    # A ruled line: a cell row with ink in more than 3/5 of its cells, and in its first and
    # its last eighth (a line across the page, not a stroke: a digit's box is at most 20/28
    # of its field). Its cells are cleared where the rows above and below have no ink
    # (where a stroke crosses the line, the stroke stays).
    e = cw >> 3
    for cy in range(ch):
        row = cy * cw
        n = 0
        for cx in range(cw):
            if cells[row + cx] >= thr:
                n += 1
        if 5 * n <= 3 * cw or max(cells[row:row + e + 1]) < thr or max(cells[row + cw - 1 - e:row + cw]) < thr:
            continue
        for cx in range(cw):
            up = cells[row - cw + cx] >= thr if cy else False
            down = cells[row + cw + cx] >= thr if cy + 1 < ch else False
            if not (up and down):
                cells[row + cx] = 0


def _parts(cells, cw, ch, thr, lab, stack, pm, pb):
    # 8-connected parts of the cells >= thr into pm (ink) and pb (x0, y0, x1, y1 in cells);
    # returns how many (at most len(pm)). lab: (cw*ch,) 0 not ink or not seen, k part k;
    # stack: (cw*ch,) uint16, the cells to visit, each pushed once.
    for i in range(cw * ch):
        lab[i] = 0
    n = 0
    for start in range(cw * ch):
        if lab[start] or cells[start] < thr:
            continue
        if n == len(pm):
            break
        k = n + 1
        lab[start] = k
        stack[0] = start
        sp = 1
        mass = 0
        x0, y0, x1, y1 = cw, ch, -1, -1
        while sp:
            sp -= 1
            i = stack[sp]
            mass += cells[i]
            y = i // cw
            x = i - y * cw
            if x < x0:
                x0 = x
            if x > x1:
                x1 = x
            if y < y0:
                y0 = y
            if y > y1:
                y1 = y
            for yy in range(y - 1 if y else 0, y + 2 if y + 1 < ch else ch):
                for xx in range(x - 1 if x else 0, x + 2 if x + 1 < cw else cw):
                    j = yy * cw + xx
                    if not lab[j] and cells[j] >= thr:
                        lab[j] = k
                        stack[sp] = j
                        sp += 1
        pm[n] = mass
        pb[4 * n] = x0
        pb[4 * n + 1] = y0
        pb[4 * n + 2] = x1
        pb[4 * n + 3] = y1
        n += 1
    return n


def _choose(n, pm, pb, cw, ch):
    # the digit's cell box: the part with the most ink, weighted to the centre; then the
    # parts near it (within a quarter of its size) with at least 1/8 of its ink
    best = -1
    score = -1
    for k in range(n):
        mass, x0, y0, x1, y1 = pm[k], pb[4 * k], pb[4 * k + 1], pb[4 * k + 2], pb[4 * k + 3]
        dx = (x0 + x1 + 1) * 64 // cw - 64     # centre offset, -64..64 of half the frame
        dy = (y0 + y1 + 1) * 64 // ch - 64
        sc = mass * (16384 - 3 * (dx * dx + dy * dy) // 2) >> 14  # 1 at the centre, 1/4 in a corner
        if x0 == 0 or y0 == 0 or x1 == cw - 1 or y1 == ch - 1:
            sc >>= 1                           # touches the frame's edge
            if x1 - x0 + 1 == cw or y1 - y0 + 1 == ch:
                sc >>= 2                       # and runs across the frame: the desk beyond the page
        if x1 - x0 + 1 > 5 * (y1 - y0 + 1):
            sc >>= 2                           # a long horizontal part: a ruled line, a shadow band
        if sc > score:
            best, score = k, sc
    if best < 0:
        return None  # nothing but lines
    mass, x0, y0, x1, y1 = pm[best], pb[4 * best], pb[4 * best + 1], pb[4 * best + 2], pb[4 * best + 3]
    mx = (x1 - x0 + 4) >> 2
    my = (y1 - y0 + 4) >> 2
    edge = x0 == 0 or y0 == 0 or x1 == cw - 1 or y1 == ch - 1
    for k in range(n):
        m, a0, b0, a1, b1 = pm[k], pb[4 * k], pb[4 * k + 1], pb[4 * k + 2], pb[4 * k + 3]
        if k == best or a1 - a0 + 1 > 5 * (b1 - b0 + 1) or 8 * m < mass:
            continue  # a line, or a speck (a digit's broken stroke has more ink)
        if not edge and (a0 == 0 or b0 == 0 or a1 == cw - 1 or b1 == ch - 1):
            continue  # cut by the frame's edge beside a digit that is not: a neighbour, the desk
        if a0 <= x1 + mx and a1 >= x0 - mx and b0 <= y1 + my and b1 >= y0 - my:
            x0, y0, x1, y1 = min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1)
    return x0, y0, x1, y1


def _taps(L, m, taps):
    # For each of the 20 output positions, m (source index, weight) pairs in taps (uint16,
    # at least 40 * m): the weights sum to L, unused pairs are (0, 0). One table, filled
    # in place: a frame allocates no list per output.
    for i in range(_BOX):
        a = i * L
        b = a + L
        k = 2 * m * i
        for j in range(k, k + 2 * m):
            taps[j] = 0
        j = a // _BOX
        while j * _BOX < b:
            w = min(j * _BOX + _BOX, b) - max(j * _BOX, a)
            if w > 0:
                taps[k] = j
                taps[k + 1] = w
                k += 2
            j += 1
    return taps


def _cells_have(cells, cw, cx0, cx1, cy0, cy1, t):
    # any cell in [cx0, cx1] x [cy0, cy1] with ink of strength t or more
    for cy in range(cy0, cy1 + 1):
        if max(cells[cy * cw + cx0:cy * cw + cx1 + 1]) >= t:
            return True
    return False


def _line_has(grey, w, cw, lvl, p, x0, x1, y0, y1, tp):
    # any pixel in [x0, x1] x [y0, y1] (a row or a column of the box) with ink of strength
    # tp or more: darker than its cell's paper lvl by tp/255 of its divisor p (step 3b)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            t = (y >> _CELL) * cw + (x >> _CELL)
            if (lvl[t] - grey[y * w + x]) * 255 >= tp * p[t]:
                return True
    return False


def _shrink(grey, w, h, n, out, buf):
    # out <- the means of grey's n x n blocks, rounding half up: (h // n, w // n) bytes;
    # the last w % n columns and h % n rows are dropped. buf: (>= w // n,) int32, the
    # sums of one row. out may be grey itself: row y is written after rows up to y * n are read
    vw = w // n
    if n == 2:  # a board's 160x120 frame: four pixels each, without the sums
        for y in range(h >> 1):
            a = 2 * y * w
            o = y * vw
            for x in range(vw):
                out[o + x] = (grey[a] + grey[a + 1] + grey[a + w] + grey[a + w + 1] + 2) >> 2
                a += 2
        return out
    area = n * n
    half = area >> 1
    mv = memoryview(grey)
    for y in range(h // n):
        for x in range(vw):
            buf[x] = 0
        for r in range(y * n * w, (y * n + n) * w, w):
            for x in range(vw):
                buf[x] += sum(mv[r + x * n:r + x * n + n])
        o = y * vw
        for x in range(vw):
            out[o + x] = (buf[x] + half) // area
    return out


def _find(grey, w, h, invert, inplace, work, n):
    # Steps 1-5 on a (h, w) picture: (grey, invert, box) with grey the picture with dark ink
    # (inverted, in place when inplace, else a copy, when the ink was light), box
    # (x0, y0, x1, y1, hi) in its pixels or None when no digit is there. Leaves the paper
    # level per cell in work.d and the ink strength per cell in work.b.
    cw = (w + 3) >> _CELL
    ch = (h + 3) >> _CELL
    cmax = memoryview(work.a)[:n]
    cmin = memoryview(work.b)[:n]
    # 1. polarity, from the cells' brightest and darkest greys
    _cells(grey, w, h, cmax, cmin)
    if invert is None:
        dark = _median(cmin, work.acc) - min(cmin)   # how far the darkest lies below the background
        light = max(cmax) - _median(cmax, work.acc)  # how far the brightest lies above it
        invert = 3 * dark > light  # a photo, unless light ink is clearly it (a shadow's bright side is not)
    if not invert:  # light ink on dark: make the paper the bright side
        if inplace:
            for i in range(w * h):
                grey[i] = 255 - grey[i]
        else:
            grey = bytearray(255 - v for v in grey[:w * h])
        for c in range(n):
            a = cmax[c]
            cmax[c] = 255 - cmin[c]
            cmin[c] = 255 - a
    # 2. paper level per cell
    lvl = _paper(cw, ch, cmax, memoryview(work.c)[:n], memoryview(work.d)[:n], invert)
    # 3, 4. ink cells, their parts, the digit's part(s)
    cells = _strengths(cw, ch, lvl, cmin)
    hi = max(cells)
    if hi < _MIN_INK:
        return grey, invert, None
    # 3b. ink under a lamp's glare: the glare adds light to paper and ink alike, so there
    #     the ink is weaker against its (brighter) paper than elsewhere: with paper at
    #     lvl above 9/8 of the frame's median paper pm (more than a light's gradient gives
    #     nearby), a cell's strength is taken relative to the strongest ink within _REACH
    #     cells, but no less than hi * (pm / lvl)^2 (gamma makes the loss about the square
    #     of the brightening), scaled to hi, the frame's strongest; elsewhere as it is.
    #     dv: per cell the divisor of a pixel's darkness, paper * that strength / hi
    #     (1..255; the paper where there is no glare), in work.c
    dv = memoryview(work.c)[:n]
    lm = _transpose(_rows(cells, cw, ch, max, _REACH, dv), cw, ch, cmax)
    lm = _transpose(_rows(lm, ch, cw, max, _REACH, dv), ch, cw, cmax)
    pm = _median(lvl, work.acc)
    for c in range(n):
        if 8 * lvl[c] > 9 * pm:
            m = hi * pm * pm // (lvl[c] * lvl[c])
            if lm[c] > m:
                m = lm[c]
            if m:
                cells[c] = cells[c] * hi // m
            v = lvl[c] * m // hi
            dv[c] = v if v else 1
        else:
            dv[c] = lvl[c]  # the plain strength, 0..255 of the paper
    thr = 3 * hi // 8
    _drop_lines(cells, cw, ch, thr, work.stack, lvl, pm)
    n = _parts(cells, cw, ch, thr, cmax, work.stack, work.mass, work.box)  # cmax's table: labels now
    found = _choose(n, work.mass, work.box, cw, ch)
    if found is None:
        return grey, invert, None
    cx0, cy0, cx1, cy1 = found
    # 4b. a neighbour cut by the frame's side and touching the digit is one part with it:
    #     when the box touches one side (a digit a person centred does not), the cell
    #     column in its half on that side with the fewest ink cells, in at most a third of its
    #     rows (where the two touch or one's stroke runs under the other), nearest the
    #     middle, splits them; the side beyond is dropped
    if (cx0 == 0) != (cx1 == cw - 1):
        a = -1
        k = max(1, (cy1 - cy0 + 1) // 3) + 1  # more ink cells than that: no split
        for x in range(cx0 + 1, cx1):
            if (cx0 == 0) != (2 * x < cx0 + cx1):
                continue
            m = 0
            for y in range(cy0, cy1 + 1):
                if cells[y * cw + x] >= thr:
                    m += 1
            if m < k or (m == k and cx0 == 0 and a > 0):
                a, k = x, m  # the fewest; on the left, the last of the fewest: nearest the middle
        b0 = a + 1 if cx0 == 0 else cx0  # the digit's side of a
        b1 = cx1 if cx0 == 0 else a - 1
        if a > 0 and cw <= 2 * (b0 + b1 + 1) <= 3 * cw:  # its centre in the frame's middle half
            cx0 = b0
            cx1 = b1
            while cy0 < cy1 and not _cells_have(cells, cw, cx0, cx1, cy0, cy0, thr):
                cy0 += 1  # to the rows the digit's side still has ink in
            while cy1 > cy0 and not _cells_have(cells, cw, cx0, cx1, cy1, cy1, thr):
                cy1 -= 1
    hi = 0
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            if cells[cy * cw + cx] > hi:
                hi = cells[cy * cw + cx]
    # 5. the box: one more cell on a side whose neighbouring cells hold fainter ink of the
    #    digit (at least tb, a quarter of its strongest: a stroke's faint end), then to the
    #    pixel, dropping edge columns and rows without such ink
    tb = hi >> 2
    if cx0 > 0 and _cells_have(cells, cw, cx0 - 1, cx0 - 1, cy0, cy1, tb):
        cx0 -= 1
    if cx1 + 1 < cw and _cells_have(cells, cw, cx1 + 1, cx1 + 1, cy0, cy1, tb):
        cx1 += 1
    if cy0 > 0 and _cells_have(cells, cw, cx0, cx1, cy0 - 1, cy0 - 1, tb):
        cy0 -= 1
    if cy1 + 1 < ch and _cells_have(cells, cw, cx0, cx1, cy1 + 1, cy1 + 1, tb):
        cy1 += 1
    x0 = cx0 << _CELL
    y0 = cy0 << _CELL
    x1 = min((cx1 << _CELL) + 3, w - 1)
    y1 = min((cy1 << _CELL) + 3, h - 1)
    for _ in range(3):
        if x0 < x1 and not _line_has(grey, w, cw, lvl, dv, x0, x0, y0, y1, tb):
            x0 += 1
        if x1 > x0 and not _line_has(grey, w, cw, lvl, dv, x1, x1, y0, y1, tb):
            x1 -= 1
        if y0 < y1 and not _line_has(grey, w, cw, lvl, dv, x0, x1, y0, y0, tb):
            y0 += 1
        if y1 > y0 and not _line_has(grey, w, cw, lvl, dv, x0, x1, y1, y1, tb):
            y1 -= 1
    return grey, invert, (x0, y0, x1, y1, hi)


def mnistify(grey, w, h, invert=None, out=None, inplace=False, info=None, work=None):
    """grey: w*h bytes, row-major, 0 black .. 255 white. Returns out, a bytearray(784),
    MNIST style (0 background, 255 ink). invert: True when the ink is darker than the
    paper (a photo), False when it is lighter (MNIST-style); None decides.
    inplace: grey is a writable buffer this call may invert in place (no copy: on a
    board a second frame-sized block of RAM may not be there).
    info: a dict to receive "dark_ink" (the polarity used) and "box" ((x0, y0, x1, y1) in
    the frame's pixels, inclusive, or None when no digit was found), for pictures of what
    was seen.
    work: a Work for frames this size or larger (else the tables are allocated here)."""
    if w < 1 or h < 1 or len(grey) < w * h:
        raise ValueError("mnistify: %d bytes for a %dx%d image" % (len(grey), w, h))
    if ((w + 3) >> _CELL) * ((h + 3) >> _CELL) > _MAX_CELLS:
        raise ValueError("mnistify: %dx%d is over %d cells of 4x4: shrink it first" % (w, h, _MAX_CELLS))
    if w > _MAX_ASPECT * h or h > _MAX_ASPECT * w:
        raise ValueError("mnistify: %dx%d is a strip (over %d:1), not a digit's picture: crop it" % (w, h, _MAX_ASPECT))
    if out is None:
        out = bytearray(_SIDE * _SIDE)
    else:
        for i in range(_SIDE * _SIDE):
            out[i] = 0
    nc = ((w + 3) >> _CELL) * ((h + 3) >> _CELL)
    if work is None or work.cells < nc or len(work.mass) < _max_parts((w + 3) >> _CELL, (h + 3) >> _CELL):
        work = Work(w, h)
    # 0. the coarse look (s: at most _COARSE px a side), then the working scale s from the
    #    digit's size, and steps 1-5 again at s when it differs
    s = (max(w, h) + _COARSE - 1) // _COARSE
    mine = inplace and s == 1  # the coarse look must leave the frame as it is for the second
    for look in (0, 1):
        g = grey
        gw = w
        gh = h
        if s > 1:  # the working picture: in the frame's own place when it is ours, else a table
            g = grey if mine else work.view
            if g is None or len(g) < (w // s) * (h // s):
                g = bytearray((w // s) * (h // s))
            sums = work.acc if len(work.acc) >= w // s else _zeros("i", w // s)
            g = _shrink(grey, w, h, s, g, sums)
            gw = w // s
            gh = h // s
        g, invert, found = _find(g, gw, gh, invert, mine or s > 1, work,
                                 ((gw + 3) >> _CELL) * ((gh + 3) >> _CELL))
        if look:
            break
        s2 = 1  # no digit in the coarse look: a last look at every pixel (a thin stroke
        #         averaged away)
        if found is not None:  # the box's long side about _AIM, its short side 2 or more
            s2 = (max(found[2] - found[0], found[3] - found[1]) + 1) * s
            s2 = max(1, min((s2 + (_AIM >> 1)) // _AIM, (min(found[2] - found[0], found[3] - found[1]) + 1) * s >> 1))
        if s2 == s:
            break
        if s == 1:  # the frame (or its copy, which is ours) has dark ink now: shrink that one
            mine = inplace or g is not grey
            grey = g
            invert = True
        else:
            mine = inplace
        s = s2
    if info is not None:
        info["dark_ink"] = bool(invert)
        info["box"] = None
    if found is None:
        return out
    if info is not None:
        x0, y0, x1, y1, hi = found
        info["box"] = (x0 * s, y0 * s, min(x1 * s + s - 1, w - 1), min(y1 * s + s - 1, h - 1))
    return _resample(g, gw, work.d, found, work, out)


def _resample(grey, w, lvl, t, work, out):
    # Steps 6 and 7: the digit's box t (x0, y0, x1, y1, hi) of the (., w) picture grey, its
    # paper level per cell lvl -> out, the 28x28 field
    x0, y0, x1, y1, hi = t
    cw = (w + 3) >> _CELL
    dv = work.c  # (ch, cw): per cell the divisor of a pixel's darkness (step 3b)
    # 6. the box centred in a square of side L, resampled to 20x20 with exact integer area weights
    t0 = hi // 8
    span = hi - t0
    lut = work.lut  # ink strength (0..hi) -> stretched grey
    for g in range(t0 + 1):
        lut[g] = 0
    for g in range(t0 + 1, 256):
        v = (g - t0) * 255 // span
        lut[g] = v if v < 255 else 255
    bw = x1 - x0 + 1
    bh = y1 - y0 + 1
    L = bw if bw > bh else bh
    if L > _MAX_SIDE:
        raise ValueError("mnistify: digit box %d px, more than %d; shrink the image first" % (L, _MAX_SIDE))
    sx = x0 - (L - bw) // 2
    sy = y0 - (L - bh) // 2
    m = L // _BOX + 2  # source pixels an output pixel overlaps, at most
    taps = work.stack  # (cells,) uint16, free after step 4; (20, m, 2) here
    taps = _taps(L, m, taps if len(taps) >= 40 * m else _zeros("H", 40 * m))
    # 6a. one source row of the square at a time, as stretched strengths (0 outside the
    #     box); horizontal pass: row[i] = sum of value * weight, <= 255 * L; 6b. each row
    #     added, times its overlap, into the (at most ceil(20/L)+1) output rows it covers:
    #     acc <= 255 * L * L. The same integer sum as a separable resample, without an
    #     (L, 20) buffer a small board may not have.
    #     Only the box's own columns are read (the square's padding is 0, and stays 0 in
    #     src), and only the output columns whose taps reach them are summed (i0..i1; the
    #     rest add 0): the work grows as the box's area, not as the square's, so a thin
    #     stroke in a tall frame costs no more than its pixels.
    src = work.src if L <= len(work.src) else bytearray(L)  # (L,) uint8: one source row of the square
    for k in range(L):
        src[k] = 0
    row = work.row                             # (20,) int32
    acc = work.acc                             # (20, 20) int32
    for i in range(_BOX * _BOX):
        acc[i] = 0
    k0 = x0 - sx                               # the box's columns in src: k0..k1
    k1 = x1 - sx
    i0 = k0 * _BOX // L                        # output column i covers [iL, iL + L), source k [20k, 20k + 20)
    i1 = min(_BOX - 1, (k1 * _BOX + _BOX - 1) // L)
    for r in range(L):
        y = sy + r
        if y < y0 or y > y1:
            continue
        trow = (y >> _CELL) * cw
        base = y * w
        for x in range(x0, x1 + 1):
            t = trow + (x >> _CELL)
            v = (lvl[t] - grey[base + x]) * 255 // dv[t]
            src[x - sx] = (lut[v] if v < 256 else 255) if v > 0 else 0
        for i in range(i0, i1 + 1):
            s = 0
            for k in range(2 * m * i, 2 * m * i + 2 * m, 2):
                s += src[taps[k]] * taps[k + 1]
            row[i] = s
        # source row r covers [20r, 20r + 20), output row j covers [jL, jL + L) (1/20 px)
        for j in range(r * _BOX // L, (r * _BOX + _BOX - 1) // L + 1):
            wt = min(j * L + L, r * _BOX + _BOX) - max(j * L, r * _BOX)
            o = j * _BOX
            for i in range(i0, i1 + 1):
                acc[o + i] += row[i] * wt
    area = L * L
    for i in range(_BOX * _BOX):
        acc[i] = (acc[i] + area // 2) // area  # the digit's greys now, 0..255
    # 6c. a marker's strokes made a pen's: when more than 3/5 of the ink pixels (128 or more)
    #     are inside a stroke (their 4 neighbours ink too: strokes over 3 px wide in the
    #     20x20, where MNIST's are 2-3), each pixel takes the least of itself and its 4
    #     neighbours, once (out's first 400 bytes are the scratch, zeroed again after)
    n = k = 0
    for i in range(_BOX * _BOX):
        if acc[i] >= 128:
            n += 1
            y = i // _BOX
            x = i - y * _BOX
            if 0 < x < _BOX - 1 and 0 < y < _BOX - 1 and min(acc[i - 1], acc[i + 1], acc[i - _BOX],
                                                            acc[i + _BOX]) >= 128:
                k += 1
    if 5 * k > 3 * n:
        for i in range(_BOX * _BOX):
            y = i // _BOX
            x = i - y * _BOX
            out[i] = min(acc[i], acc[i - 1] if x else 0, acc[i + 1] if x < _BOX - 1 else 0,
                         acc[i - _BOX] if y else 0, acc[i + _BOX] if y < _BOX - 1 else 0)
        for i in range(_BOX * _BOX):
            acc[i] = out[i]
    _even(acc, out)  # 6d
    # 7. centre of mass -> offset in the 28x28 field
    m = 0
    mx = 0
    my = 0
    for y in range(_BOX):
        for x in range(_BOX):
            v = acc[y * _BOX + x]
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
        for x in range(_BOX):
            out[o + x] = acc[b + x]
    return out


def _even(acc, out):
    # 6d. every stroke as bright as MNIST's: a pixel is scaled by 255 / m, m the brightest
    #     within 2 pixels (5x5), where m is 64 or more (at most 4x: a faint speck, m below
    #     64, stays as it is). Under a lamp's glare, in pale ink or a light touch, part of a
    #     digit is fainter than the rest; MNIST's strokes all reach 255. out's first 400
    #     bytes: (x, y), the rows' maxima over 5 pixels, transposed; then zeroed
    for y in range(_BOX):
        r = y * _BOX
        for x in range(_BOX):
            out[x * _BOX + y] = max(acc[r + (x - 2 if x > 2 else 0):r + (x + 3 if x < _BOX - 3 else _BOX)])
    for x in range(_BOX):
        c = x * _BOX
        for y in range(_BOX):
            m = max(out[c + (y - 2 if y > 2 else 0):c + (y + 3 if y < _BOX - 3 else _BOX)])
            if m >= 64:
                acc[y * _BOX + x] = acc[y * _BOX + x] * 255 // m
    for i in range(_BOX * _BOX):
        out[i] = 0
