# The on-device runtime: load a .gnet model (weights/FORMAT.md), classify 28x28 digits.
#
# Integer arithmetic only, so MicroPython on any board and CPython give the same bytes as
# the trainer's numpy reference (trainer/quantize.py, `reference`). Runs unchanged on
# MicroPython 1.22+ and CPython 3.9+: no numpy, no f-strings, no typing.
#
#   m = Model("model.gnet")            # validates everything, or raises ModelError
#   scores = m.scores(pixels)          # 784 bytes, 0 black .. 255 white -> array('b') int8
#   k = m.argmax(scores); m.labels[k]; m.confidence(scores)  # in 1/10000
#
# Speed: a layer's input x is gathered once as the pairs (i, x[i] - zx) where x[i] != zx
# (zx: the input's zero point, what a black pixel or a dead ReLU gives); each neuron then
# sums only those, starting from K[c] = bias[c] + zx * sum(W[c]). The integers are the
# same as FORMAT.md's sum; the bounds the file guarantees cover this order too.
# Backends (BACKENDS), each a module gnet_<name>.py of kernels: "python" everywhere, the
# reference loops, the arithmetic written once; "viper" where the native emitter exists;
# "ulab" where ulab is. Each gives the reference's integers (make test-parity).
# A ConvNet (.gnet version 2): gnet_load.py hands its layer table to gnet_conv_load.py,
# which checks the conv, pool and average records (and is dropped after the load) and sets
# the model's scores() to gnet_conv.py's loop (its plain-Python kernels; dense layers still
# by this module's backend); a board that runs an MLP imports neither.
# Memory: stream=True keeps the weights in the file and reads a few rows at a time into
# one buffer (readinto); otherwise they are read into RAM once (n_out * n_in bytes).

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

import gc
import sys
from array import array

_STREAM_BYTES = const(4096)       # weight bytes per read when streaming (at most)

# The backends, fastest first: a Model takes the first one that runs here. Measured
# against pure Python on the same interpreter (make bench-device): viper 27 times as
# fast (unix port), ulab 9 times (webassembly), and ulab allocates float copies per
# image where viper allocates nothing; so viper first where a build has both. Each is
# gnet_<name>.py, with gather(), RAW, SPARSE and either accumulate() or (LOAD) a fused
# dense(). flash, parity and the tests read this list.
BACKENDS = ("viper", "ulab", "python")


class ModelError(ValueError):
    pass


# What a layer does after the requantisation, by its activation code (FORMAT.md, the
# layer record's `act`): out = clamp(y, lo, hi), lo None meaning the layer's zero point,
# then LUT[out + 128] when it has a lookup table. A new activation is a row here.
_ACTS = (
    (-128, 127, False),  # 0 none: the scores
    (None, 127, False),  # 1 ReLU: clamp(y, zero, 127)
    (-128, 127, True),   # 2 sigmoid: LUT[clamp(y, -128, 127) + 128]
)


def _peek(f):
    # (widest layer's inputs, widest layer's outputs) from the layer table, unchecked: only
    # to size the work buffers before the load. (0, 0) when it does not look like a model
    # whose weights the file could hold; the load then says what is wrong.
    f.seek(0)
    head = f.read(40)
    if len(head) < 40 or head[:4] != b"GNTL":
        return 0, 0
    size = f.seek(0, 2)
    n_in = n_out = 0
    for l in range(min(head[20], 16)):   # n_layers, at byte 20 of the header
        f.seek(40 + 32 * l + 4)          # the layer table follows the header; n_in, n_out at 4
        r = f.read(4)
        if len(r) < 4:
            return 0, 0
        i = r[0] | r[1] << 8
        o = r[2] | r[3] << 8
        if i * o > size:
            return 0, 0
        n_in = max(n_in, i)
        n_out = max(n_out, o)
    return n_in, n_out


def _module(name):
    # a device module by its own name (a board), or from the device package (the host)
    try:
        return __import__(name)
    except ImportError:
        return getattr(__import__("device." + name), name)


class Layer:
    # One dense layer: y = act(zero + ((bias + W x) * M + 2**(S-1)) >> S). Defined here, not
    # in gnet_load: its objects outlive the load, and would keep that module alive.
    def __init__(self, rec, index):
        (self.typ, act, zero, r0, n_in, n_out, w_off, b_off, m_off, s_off, lut_off, r1) = rec
        self.reserved = r0 | r1
        self.index, self.act, self.zero = index, act, zero
        # the clamp and the LUT flag; lo is also what a dead neuron gives (the next layer's
        # input zero point)
        if act < len(_ACTS):
            lo, self.hi, self.has_lut = _ACTS[act]
            self.lo = zero if lo is None else lo
        else:  # an unknown code: gnet_load refuses the file
            self.lo = self.hi = None
            self.has_lut = False
        self.n_in, self.n_out = n_in, n_out
        self.w_off, self.b_off, self.m_off, self.s_off, self.lut_off = w_off, b_off, m_off, s_off, lut_off
        # Nothing is allocated until the whole file has been checked (a forged size must
        # give ModelError, never MemoryError): _read_layer fills these.
        self.chunks = None    # in RAM: [(first row, rows, (rows, n_in) int8 buffer)]
        self.per = 0          # streamed: rows read at a time into views[0]
        self.views = None     # streamed: ((per, n_in), (last chunk's rows, n_in)) int8 views
        self.K = None         # (n_out,) int32: bias + zx * sum(W[c])
        self.M = None         # (n_out,) uint16 multipliers
        self.S = None         # (n_out,) uint8 shifts
        self.lut = None       # (256,) int8 when has_lut
        self.zx = 0           # the zero point of this layer's input
        self.out = None       # (n_out,) int8: this layer's output, reused
        self.T = None         # a fusing backend's table (gnet_viper_load.py), else None


def kernels(backend):
    # the backend's kernel module; ModelError when it cannot run here
    if backend not in BACKENDS:
        raise ModelError("unknown backend %r (one of %s)" % (backend, ", ".join(BACKENDS)))
    try:
        if backend == "ulab":
            __import__("ulab")  # without ulab, gnet_ulab is not even compiled (a small heap)
        return _module("gnet_" + backend)
    except (ImportError, SyntaxError, ValueError, NotImplementedError) as e:
        raise ModelError("the %s backend cannot run here (%s)" % (backend, e))


# The default: the first of BACKENDS that runs here, chosen (and its kernels imported)
# with this module, before an app holds its frame buffers, while the heap is whole (a
# 64 KB heap has no room to spare later). Module code, not a function: no RAM kept for
# it. No ModelError made and dropped: garbage between the objects would split the heap.
for _FASTEST in BACKENDS:
    try:
        if _FASTEST == "ulab":
            __import__("ulab")
        _module("gnet_" + _FASTEST)
        break
    except (ImportError, SyntaxError, ValueError, NotImplementedError):
        pass


class Model:
    def __init__(self, source, stream=False, backend=None):
        # source: a path or an open binary file (kept open when streaming). backend: one
        # of BACKENDS, else the fastest that runs here; checked before anything is read.
        if backend is None:
            backend = _FASTEST
        self.kernels = kernels(backend)  # the backend's module
        self._own = isinstance(source, str)
        f = open(source, "rb") if self._own else source
        self.name = source if self._own else "model"
        self.stream = stream
        self._rows = self._pairs = self._acc = None
        self.weight_bytes = 0
        self.backend = backend
        try:
            # The work buffers first, while the heap is whole, sized from a peek at the layer
            # table; then gnet_load reads and checks everything and is dropped; the buffers
            # are made (again) only if the peek was wrong. Done the other way round, the
            # loader's freed RAM is in pieces between the model's small objects, and on a
            # 64 KB heap no 3 KB block is left for the buffers.
            self._buffers(_peek(f), stream, False)
            self._run("gnet_load", f, stream)     # the structure: header, layers, labels, table
            self._run("gnet_weights", f, stream)  # the weights, neuron by neuron
            self._buffers((self._max_in, self._max_out), stream, True)
        except BaseException:
            if self._own:
                f.close()
            raise
        self._f = f if stream else None
        if not stream and self._own:
            f.close()

    def close(self):
        if self._f is not None and self._own:
            self._f.close()
        self._f = None

    def _buffers(self, size, stream, checked):
        # The work buffers for layers of up to size = (inputs, outputs); kept when made
        # already for these sizes. Viper's kernels read raw memory (ptr8/ptr16,
        # sign-extended by hand), so its buffers are bytearrays, made without the temporary
        # copy that array(typecode, bytes(n)) needs. Before the file is checked (not
        # checked), sizes come from a peek and a MemoryError only means "later".
        n_in, n_out = size
        raw = self.kernels.RAW
        # the gathered inputs: (2 * nnz,) int16 i, x - zx; or, raw, nnz words i | v << 16;
        # then a few zero pairs and the sum (gnet_python.py, gnet_viper.py)
        pairs = 4 * n_in + 16  # bytes
        acc = 1 if hasattr(self.kernels, "LOAD") else n_out
        have = (self._pairs is not None and len(self._pairs) == (pairs if raw else pairs // 2)
                and len(self._acc) == acc)
        if n_in and not have:
            self._pairs = self._acc = self._rows = None
            gc.collect()
            try:
                self._pairs = bytearray(pairs) if raw else array("h", bytes(pairs))
                # (n_out,) int32 accumulators; a fusing backend (LOAD) keeps its sums in registers
                self._acc = array("i", bytes(4 * acc))
                if stream:
                    # (n,) int8: streamed rows are read into it; at most _STREAM_BYTES and a
                    # sixteenth of the free heap (a small board needs its heap for the load
                    # and for frames), at least one row of the widest layer
                    free = gc.mem_free() if hasattr(gc, "mem_free") else 16 * _STREAM_BYTES
                    n = max(n_in, min(_STREAM_BYTES, free // 16))
                    self._rows = bytearray(n) if raw else array("b", bytes(n))
            except MemoryError as e:
                self._pairs = self._acc = self._rows = None
                if checked:
                    self._bad("not enough RAM for the work buffers%s" % (" and one streamed row" if stream else ""),
                              e, stream)
        if checked and stream:
            mv = memoryview(self._rows)
            for L in self.layers:  # two views per layer: `per` rows, and the last chunk's rows
                L.per = len(self._rows) // L.n_in
                L.views = (mv[:L.per * L.n_in], mv[:(L.n_out % L.per or L.per) * L.n_in])

    Layer = Layer  # for gnet_load, which does not import this module
    _module = staticmethod(_module)  # for gnet_weights: the backend's load part

    def _run(self, name, f, stream):
        # One pass of the load, in its own module (gnet_load, gnet_weights): imported, run,
        # then forgotten on MicroPython, so that its code's RAM is back before the next pass
        # and for the frames. Any failure becomes a ModelError that says what is wrong.
        try:
            _module(name).load(self, f, stream)
            return
        except MemoryError as e:
            self.layers = None  # what the pass held goes: the free heap below is what it had
            msg = e
        except ModelError:
            raise
        except (ValueError, IndexError, OSError) as e:  # struct errors, seek past the end
            msg = "damaged model (%s)" % e
        finally:
            if sys.implementation.name == "micropython":
                sys.modules.pop(name, None)
                if name == "gnet_weights" and hasattr(self.kernels, "LOAD"):
                    sys.modules.pop(self.kernels.LOAD, None)  # the backend's load part goes with it
                gc.collect()
        if isinstance(msg, MemoryError):  # (the heap is walked only here, not before each pass)
            self._bad("not enough RAM to load it %s%s" % ("streamed" if stream else "into RAM", (
                " (%d bytes of weights)" % self.weight_bytes) if self.weight_bytes else ""), msg, stream)
        self._bad(msg)

    def _read(self, f, buf, what):
        # fill buf completely from f, or say what was cut short
        mv = memoryview(buf)
        got = 0
        while got < len(mv):
            n = f.readinto(mv[got:])
            if not n:
                self._bad("%s: file ends early (truncated)" % what)
            got += n

    def _bad(self, msg, e=None, stream=None):
        # e: a MemoryError; gnet_oom.py (imported only now, then dropped: a board that
        # loads never holds it) adds what ran out, the free heap, its largest block, what to do
        if e is not None:
            try:
                msg += __import__("gnet_oom").why(e, stream)
            except (ImportError, MemoryError):
                msg += " (%d bytes of heap free)" % gc.mem_free() if hasattr(gc, "mem_free") else ""
            sys.modules.pop("gnet_oom", None)
        raise ModelError("%s: %s" % (self.name, msg))

    # ---------------------------------------------------------------- inference
    def scores(self, image):
        # image: n_in bytes (28x28 grey, row-major, 0 black .. 255 white, MNIST-style).
        # Returns this model's output buffer, array('b') int8 (overwritten by the next call).
        first = self.layers[0]
        if len(image) != first.n_in:
            raise ValueError("image has %d pixels, the model takes %d (%dx%d)" % (
                len(image), first.n_in, self.width, self.height))
        x = image
        offset = self.input_offset  # pixel p is the int8 value p + offset
        signed = False
        for L in self.layers:
            nnz = self._gather(x, L.n_in, offset - L.zx, signed)
            self._dense(L, nnz)
            x = L.out
            offset = 0
            signed = True
        return x

    def argmax(self, scores):
        # The index of the highest score; ties go to the lowest index.
        best = 0
        for c in range(1, len(scores)):
            if scores[c] > scores[best]:
                best = c
        return best

    def confidence(self, scores):
        # The top class's probability in 1/10000, from the output table (FORMAT.md).
        top = scores[self.argmax(scores)]
        T = self.table
        if self.output == "sigmoid":
            return T[top + 128]
        total = 0
        for s in scores:
            total += T[top - s]
        return (T[0] * 10000 + total // 2) // total

    def classify(self, image):
        # (index, label, confidence in 1/10000, scores)
        s = self.scores(image)
        k = self.argmax(s)
        return k, self.labels[k], self.confidence(s), s

    def _gather(self, x, n, delta, signed):
        # the pairs (i, v) for every input with v = x[i] + delta != 0; returns their count
        # (a dense backend returns its input vector instead; _accumulate passes it on)
        return self.kernels.gather(x, self._pairs, n, delta << 8 | (0x80 if signed else 0))

    def _dense(self, L, nnz):
        # L.out <- the layer's int8 outputs. A fusing backend (L.T) sums and requantises in
        # its dense(); otherwise the sums come from _accumulate, the requantisation below.
        T = L.T
        if T is not None:
            T[2] = nnz  # T[1:4]: rows, nnz, c0 (gnet_viper_load.py)
        n_in = L.n_in
        f = self._f
        if f is None:
            if T is not None:  # the common case on a board, without a method call a chunk
                dense, pairs, out = self.kernels.dense, self._pairs, L.out
                for c, k, rows in L.chunks:
                    T[1] = k
                    T[3] = c
                    dense(rows, pairs, T, out)
                return
            for c, k, rows in L.chunks:
                self._accumulate(L, rows, c, k, nnz)
        else:
            f.seek(L.w_off)
            per = L.per
            c = 0
            while c < L.n_out:
                k = min(per, L.n_out - c)
                rows = L.views[k != per]
                if f.readinto(rows) != k * n_in:
                    raise ModelError("%s: layer %d weights: file ends early" % (self.name, L.index))
                self._accumulate(L, rows, c, k, nnz)
                c += k
        if T is not None:
            return
        acc = self._acc
        K, M, S, out, zero = L.K, L.M, L.S, L.out, L.zero
        lo, hi, lut = L.lo, L.hi, L.lut
        for c in range(L.n_out):
            s = S[c]
            y = zero + (((K[c] + acc[c]) * M[c] + (1 << (s - 1))) >> s)
            if y > hi:
                y = hi
            elif y < lo:
                y = lo
            out[c] = lut[y + 128] if lut is not None else y

    def _accumulate(self, L, W, c0, rows, nnz):
        # rows c0 .. c0+rows-1 of L, whose weights are in W ((rows, n_in) int8): with a
        # fusing backend (L.T), their int8 outputs; else acc[c0 + r] = sum_j W[r * n_in + i_j]
        # * v_j for the gathered pairs (i_j, v_j), requantised by _dense
        T = L.T
        if T is not None:
            T[1] = rows
            T[3] = c0
            self.kernels.dense(W, self._pairs, T, L.out)
            return
        # (a dense backend's nnz is its input vector: it reads that, not the pairs)
        self.kernels.accumulate(W, self._pairs, nnz, L.n_in, c0, rows, self._acc)
