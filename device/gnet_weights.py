# The weights of a .gnet model (weights/FORMAT.md), for gnet.py: every neuron's weights
# read and checked (in [-127, 127], and the 2**30 bounds of FORMAT.md), each layer's
# tables filled (K = bias + zx * sum(W), M, S, the sigmoid table) and, in RAM, the weights
# kept. gnet.Model imports this after gnet_load.py has checked the file's structure and
# has been dropped, and drops it in turn: on a 64 KB board the two together would not fit
# beside the model.
#
#   load(model, f, stream)   # raises gnet.ModelError (via model._bad) naming what is wrong

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

import gc
from array import array

_LIMIT = const(0x3FFFFFFF)        # 2**30 - 1: MicroPython's small-int range on 32-bit boards
_CHUNK_BYTES = const(4096)        # weight bytes per array in RAM
row_sums = None                   # during a load: (the backend's row check, its (3,) int32 results)


def load(m, f, stream):
    # m's layers, as gnet_load.py checked them; their contents, in order
    gc.collect()
    row = bytearray(m._max_in) if stream else None  # (n_in,) int8 read as 0..255: checking streamed rows
    # A backend's load part (LOAD: gnet_viper_load, dropped with this module) gets each
    # layer's table first (L.T, whose K part is the L.K this pass fills): one block per
    # layer, which a 64 KB heap has only now, before the weights fragment it. Its row_sums
    # checks the weights in machine code; kept in this module's globals (a new attribute
    # of m would grow its dict mid-load, a hole), under a name the board has anyway (each
    # new name is RAM: gnet_viper_load.py says why).
    global row_sums
    load = getattr(m.kernels, "LOAD", None)
    extra = m._module(load) if load else None
    if extra is not None:
        for L in m.layers:
            if L.typ == 1:  # a dense layer (a ConvNet's others are gnet_conv's)
                L.T, L.K = extra.layout(L)
    row_sums = (extra.row_sums, array("i", [0, 0, 0])) if extra else None  # sum w, sum |w|, count of -128
    k = m.kernels
    sparse = k.SPARSE
    # the input zero point: what a black pixel or a dead neuron gives, skipped by a sparse
    # backend's gather; 0 for a dense one (ulab), whose sums must not grow by it
    zx = m.input_offset if sparse else 0
    z = m.input_offset  # the input's own zero point: what a conv's padding reads
    vmin = z            # the lowest value the input takes (a faster conv kernel's offset)
    for L in m.layers:
        if L.typ != 1:
            # a conv, pool or average (gnet_conv.py): out holds its whole picture (a kernel's
            # prepare may give a conv one that the model's convs share); a conv's weights in
            # RAM, as int8 (its kernel reads them as numbers), K its biases as they are; the
            # first layer, unless a backend's kernel reads the picture's bytes itself
            # (prepare sets L.T), makes them int8 in x0
            # the backend's kernels for it, gnet_conv_<backend>.py (viper, ulab), where they
            # exist and run here: their prepare(m, L, vmin, itself) makes its tables and sets
            # L.T and L.V (then gnet_conv.layer hands L to it); else gnet_conv's reference
            # loops run. (Names as bytes, no new attribute here: gnet_load.py says why.)
            V = None
            if m.backend != b"python".decode():
                try:
                    V = m._module(b"gnet_conv_".decode() + m.backend)
                except (ImportError, SyntaxError, ValueError, NotImplementedError):
                    pass
            if L.typ == 2:  # a conv
                L.out = 0  # (not None: _read_layer makes no (n_out,) buffer for it)
                _read_layer(m, f, L, 0, None, False)
                L.zx = z
                if V is not None:
                    V.prepare(m, L, vmin, V)
                z = L.zero
                vmin = L.lo
                zx = L.lo if sparse else 0
            if not L.out:
                L.out = array("b", bytes(L.size))
            if V is not None and L.typ != 2:  # a max pool or average: after its output
                V.prepare(m, L, vmin, V)
            if not L.index and L.T is None:
                L.x0 = array("b", bytes(m.width * m.height * m.channels))
            continue
        _read_layer(m, f, L, zx, row, m.kernels.RAW)
        if extra is not None:
            extra.prepare(L, L.T)
        zx = L.lo if sparse else 0
    row_sums = None


def _alloc(n, unit, raw):
    # n zero bytes as array('b'), or as a bytearray when raw (viper's kernels read raw
    # memory and sign-extend by hand; a bytearray needs no temporary copy); fewer (a
    # multiple of unit, at least unit) when the heap has no block that large: halve until
    # it fits, MemoryError only below one unit.
    while True:
        try:
            return bytearray(n) if raw else array("b", bytes(n))
        except MemoryError:
            if n <= unit:
                raise
            n = max(unit, (n // 2) // unit * unit)
            gc.collect()

def _read_layer(m, f, L, zx, row, raw):
    l, n_in, n_out = L.index, L.n_in, L.n_out
    if L.has_lut:
        L.lut = array("b", bytes(256))  # (256,) int8
        f.seek(L.lut_off)
        m._read(f, L.lut, "layer %d lookup table" % l)
    if L.out is None:
        L.out = array("b", bytes(n_out))  # (n_out,) int8
    if L.K is None:  # else a view of the backend's table L.T (load, above)
        L.K = array("i", bytes(4 * n_out))  # (n_out,) int32; bias first, K after the loop
    L.M = array("H", bytes(2 * n_out))
    L.S = bytearray(n_out)
    for buf, off, what in ((L.K, L.b_off, "bias"), (L.M, L.m_off, "multipliers"), (L.S, L.s_off, "shifts")):
        f.seek(off)
        m._read(f, buf, "layer %d %s" % (l, what))
    L.zx = zx
    # Weights: streamed, checked one row at a time in `row` (range, row sums, the 2**30
    # bounds of FORMAT.md) and left in the file; otherwise read in chunks of `per` rows,
    # checked and each kept in its own small array. A fragmented heap (a board that has
    # been busy) may have no 4 KB block left: then the chunks get smaller, down to one row.
    f.seek(L.w_off)
    if row is not None:
        buf = memoryview(row)[:n_in]
        for c in range(n_out):
            m._read(f, buf, "layer %d weights" % l)
            _check_row(m, L, c, buf, 0, zx)
        return
    L.chunks = []  # (first row, rows, int8 buffer of rows * n_in)
    # (a conv's in one block where the heap has one: gnet_conv_viper.py transposes it in place)
    per = max(1, _CHUNK_BYTES // n_in) if L.typ == 1 else n_out
    c0 = 0
    while c0 < n_out:
        buf = _alloc(min(per, n_out - c0) * n_in, n_in, raw)  # (k, n_in) int8
        k = len(buf) // n_in
        per = k
        L.chunks.append((c0, k, buf))
        m._read(f, buf, "layer %d weights" % l)
        for r in range(k):
            _check_row(m, L, c0 + r, buf, r * n_in, zx)
        c0 += k

def _check_row(m, L, c, buf, base, zx):
    # one neuron's weights: in [-127, 127], and FORMAT.md's 2**30 bounds; K[c] += zx * sum
    if row_sums is not None:
        s = row_sums[1]
        row_sums[0](buf, s, base, L.n_in)
        if s[2]:
            m._bad("layer %d has weight -128; weights are in [-127, 127]" % L.index)
        total = s[0]
        absum = s[1]
    else:
        total = 0
        absum = 0
        for i in range(base, base + L.n_in):
            w = buf[i]
            if w > 127:  # viper's buffers are bytearrays: int8 read as 0..255
                w -= 256
            if w == -128:
                m._bad("layer %d has weight -128; weights are in [-127, 127]" % L.index)
            total += w
            absum += w if w > 0 else -w
    b = L.K[c]
    mul = L.M[c]
    s = L.S[c]
    if mul == 0 or s < 1 or s > 30:
        m._bad("layer %d neuron %d: multiplier %d, shift %d" % (L.index, c, mul, s))
    b = b if b > 0 else -b
    if b + 384 * absum > _LIMIT or (b + 128 * absum) * mul + (1 << (s - 1)) > _LIMIT:
        m._bad("layer %d neuron %d: its arithmetic could exceed 2**30" % (L.index, c))
    L.K[c] += zx * total
