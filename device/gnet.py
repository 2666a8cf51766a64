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
# Backends: "python" everywhere, "viper" (gnet_viper.py) where the native emitter exists.
# Memory: stream=True keeps the weights in the file and reads a few rows at a time into
# one buffer (readinto); otherwise they are read into RAM once (n_out * n_in bytes).

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

import gc
import struct
from array import array

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32: a table-driven CRC-32 (IEEE)
    _CRC_TABLE = None

    def _crc32(data, crc=0):
        global _CRC_TABLE
        if _CRC_TABLE is None:
            _CRC_TABLE = array("I", [0] * 256)
            for n in range(256):
                c = n
                for _ in range(8):
                    c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
                _CRC_TABLE[n] = c
        crc ^= 0xFFFFFFFF
        for b in data:
            crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

_MAGIC = b"GNTL"
_VERSION = const(1)
_HEADER = "<4sHHIHHBbBBBBBBIIII"  # 40 bytes, see FORMAT.md "Header"
_HEADER_SIZE = const(40)
_LAYER = "<BBbBHHIIIIII"          # 32 bytes, see FORMAT.md "Layer table"
_LAYER_SIZE = const(32)
_TABLE_SIZE = const(512)          # output table: 256 uint16
_DENSE = const(1)
_ACT_NONE = const(0)
_ACT_RELU = const(1)
_ACT_SIGMOID = const(2)
_MAX_LAYERS = const(16)
_MAX_IN = const(32767)            # inputs per layer: indices are int16
_LIMIT = const(0x3FFFFFFF)        # 2**30 - 1: MicroPython's small-int range on 32-bit boards
_OUTPUTS = ("softmax", "sigmoid")
_PREPROCESS = ("none", "mnistify")
_CHUNK = const(512)               # bytes per read while checking the CRC
_STREAM_BYTES = const(4096)       # weight bytes per read when streaming

try:
    import gnet_viper as _viper
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    _viper = None


class ModelError(ValueError):
    pass


def _alloc(n, unit):
    # array('b') of n zero bytes, or of fewer (a multiple of unit, at least unit) when the
    # heap has no block that large: halve until it fits, MemoryError only below one unit.
    while True:
        try:
            return array("b", bytes(n))
        except MemoryError:
            if n <= unit:
                raise
            n = max(unit, (n // 2) // unit * unit)
            gc.collect()


def _mem_free():
    # free heap bytes after a collection; -1 where the interpreter does not say (CPython)
    gc.collect()
    try:
        return gc.mem_free()
    except AttributeError:
        return -1


def _readinto(f, buf, what):
    # Fill buf completely from f, or say what was cut short.
    mv = memoryview(buf)
    got = 0
    while got < len(mv):
        n = f.readinto(mv[got:])
        if not n:
            raise ModelError("%s: file ends early (truncated)" % what)
        got += n


class Layer:
    # One dense layer: y = act(zero + ((bias + W x) * M + 2**(S-1)) >> S)
    def __init__(self, rec, index):
        (self.typ, act, zero, r0, n_in, n_out, w_off, b_off, m_off, s_off, lut_off, r1) = rec
        self.reserved = r0 | r1
        self.index, self.act, self.zero = index, act, zero
        self.n_in, self.n_out = n_in, n_out
        self.w_off, self.b_off, self.m_off, self.s_off, self.lut_off = w_off, b_off, m_off, s_off, lut_off
        # Nothing is allocated until the whole file has been checked (a forged size must
        # give ModelError, never MemoryError): _read_layer fills these.
        self.chunks = None    # [(first row, rows, (rows, n_in) int8 buffer)]
        self.K = None         # (n_out,) int32: bias + zx * sum(W[c])
        self.M = None         # (n_out,) uint16 multipliers
        self.S = None         # (n_out,) uint8 shifts
        self.lut = None       # (256,) int8 for sigmoid
        self.zx = 0           # the zero point of this layer's input
        self.out = None       # (n_out,) int8: this layer's output, reused


def _utf8_ok(b):
    # Strict UTF-8 as CPython's decoder reads it: no overlong forms (C0 80), no surrogates
    # (ED A0..BF), nothing above U+10FFFF. MicroPython's str() does not check all of this.
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        lo, hi = 0x80, 0xBF          # the allowed range of the second byte
        if 0xC2 <= c <= 0xDF:
            k = 1
        elif 0xE0 <= c <= 0xEF:
            k = 2
            if c == 0xE0:
                lo = 0xA0            # E0 80..9F would be overlong
            elif c == 0xED:
                hi = 0x9F            # ED A0..BF would be a surrogate
        elif 0xF0 <= c <= 0xF4:
            k = 3
            if c == 0xF0:
                lo = 0x90            # overlong
            elif c == 0xF4:
                hi = 0x8F            # above U+10FFFF
        else:
            return False             # 80..C1 (continuation or overlong lead), F5..FF
        if i + k >= n:
            return False             # cut short
        if not lo <= b[i + 1] <= hi:
            return False
        for j in range(i + 2, i + k + 1):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += k + 1
    return True


class Model:
    def __init__(self, source, stream=False, backend=None):
        # source: a path or an open binary file (kept open when streaming).
        if backend is None:
            backend = "viper" if _viper is not None else "python"
        if backend == "viper" and _viper is None:
            raise ModelError("the viper backend needs MicroPython's native emitter")
        if backend not in ("python", "viper"):
            raise ModelError("unknown backend %r (python or viper)" % backend)
        self._own = isinstance(source, str)
        f = open(source, "rb") if self._own else source
        self.name = source if self._own else "model"
        self.stream = stream
        free = _mem_free()
        try:
            self._rows = None
            self._load(f, stream)
        except BaseException as e:
            if self._own:
                f.close()
            if isinstance(e, ModelError):
                raise
            if isinstance(e, MemoryError):
                raise ModelError("%s: not enough RAM to load it %s (%d bytes of weights, %d bytes of heap free)%s" % (
                    self.name, "streamed" if stream else "into RAM", self.weight_bytes, free,
                    "" if stream else "; stream=True keeps the weights in the file"))
            if isinstance(e, (ValueError, IndexError, OSError)):  # struct errors, seek past the end
                raise ModelError("%s: damaged model (%s)" % (self.name, e))
            raise
        self._f = f if stream else None
        if not stream and self._own:
            f.close()
        self.backend = backend

    def close(self):
        if self._f is not None and self._own:
            self._f.close()
        self._f = None

    # ---------------------------------------------------------------- loading
    def _bad(self, msg):
        raise ModelError("%s: %s" % (self.name, msg))

    def _load(self, f, stream):
        self.weight_bytes = 0
        size = f.seek(0, 2)
        if size < _HEADER_SIZE + 4:
            self._bad("%d bytes, too short for a .gnet model (truncated?)" % size)
        f.seek(0)
        head = f.read(_HEADER_SIZE)
        (magic, version, flags, fsize, self.width, self.height, self.channels, self.input_offset, prep,
         self.preprocess_version, n_layers, n_classes, output, reserved, labels_off, labels_size,
         layers_off, table_off) = struct.unpack(_HEADER, head)
        if magic != _MAGIC:
            self._bad("magic %r is not %r: not a .gnet model" % (magic, _MAGIC))
        if version != _VERSION:
            self._bad("format version %d; this runtime reads version %d" % (version, _VERSION))
        if fsize != size:
            self._bad("the header says %d bytes but the file has %d (%s)" % (
                fsize, size, "truncated" if size < fsize else "extra bytes"))
        self._check_crc(f, size)
        if flags or reserved:
            self._bad("unknown flags or nonzero reserved header fields")
        if prep >= len(_PREPROCESS) or output >= len(_OUTPUTS):
            self._bad("unknown preprocessing or output code")
        if not (1 <= n_layers <= _MAX_LAYERS) or not n_classes:
            self._bad("%d layers and %d classes" % (n_layers, n_classes))
        if self.width < 1 or self.height < 1 or self.channels < 1:
            self._bad("input shape %dx%dx%d" % (self.width, self.height, self.channels))
        if self.input_offset not in (-128, -127):
            self._bad("input_offset %d: the bounds need -128 or -127 (|x| <= 128)" % self.input_offset)
        if layers_off != _HEADER_SIZE:
            self._bad("layer table at offset %d" % layers_off)
        self.preprocess = _PREPROCESS[prep]
        self.output = _OUTPUTS[output]
        end = size - 4
        spans = []
        self._span(spans, "layer table", layers_off, _LAYER_SIZE * n_layers, 4, end)
        self._span(spans, "labels", labels_off, labels_size, 1, end)
        self._span(spans, "output table", table_off, _TABLE_SIZE, 4, end)
        # First the structure of every layer (shapes, codes, where its sections lie) ...
        self.layers = []
        n_prev = self.width * self.height * self.channels
        self._max_out = self._max_in = 0
        for l in range(n_layers):
            f.seek(layers_off + _LAYER_SIZE * l)
            L = Layer(struct.unpack(_LAYER, f.read(_LAYER_SIZE)), l)
            self._check_layer(L, n_prev, l == n_layers - 1, n_classes, spans, end)
            self.layers.append(L)
            n_prev = L.n_out
            self._max_out = max(self._max_out, L.n_out)
            self._max_in = max(self._max_in, L.n_in)
            self.weight_bytes += L.n_out * L.n_in
        spans.sort()
        for i in range(1, len(spans)):
            if spans[i - 1][0] + spans[i - 1][1] > spans[i][0]:
                self._bad("%s overlaps %s" % (spans[i - 1][2], spans[i][2]))
        # ... then the labels and the output table, in small reads ...
        self.labels = self._read_labels(f, labels_off, labels_size, n_classes)
        self.table = array("H", bytes(_TABLE_SIZE))  # (256,) uint16 output table
        f.seek(table_off)
        _readinto(f, self.table, "output table")
        self._check_table()
        # ... then the layers' contents; the work buffers first, while the heap is least
        # fragmented.
        gc.collect()
        self._pairs = array("h", bytes(4 * self._max_in))  # (2 * nnz,) int16: input index, x - zx
        self._acc = array("i", bytes(4 * self._max_out))  # (n_out,) int32 accumulators
        self._params = array("i", [0, 0, 0, 0])  # n_in, rows, nnz, c0 for the viper kernel
        if stream:
            # (n,) int8: the buffer streamed rows are read into (a layer's chunk never exceeds it)
            self._rows = _alloc(max(_STREAM_BYTES, self._max_in), self._max_in)
        zx = self.input_offset  # what a black pixel gives
        for L in self.layers:
            self._read_layer(f, L, zx, stream)
            zx = L.zero if L.act == _ACT_RELU else -128
        self.n_classes = n_classes

    def _read_labels(self, f, off, size, n_classes):
        # n_classes labels, each a length byte and that many UTF-8 bytes, read one at a time
        labels = []
        one = bytearray(1)
        f.seek(off)
        p = 0
        while p < size:
            if len(labels) == n_classes:
                self._bad("more labels than the %d classes" % n_classes)
            _readinto(f, one, "labels")
            k = one[0]
            if p + 1 + k > size:
                self._bad("label %d runs past the labels block" % len(labels))
            raw = bytearray(k)
            _readinto(f, raw, "labels")
            if not _utf8_ok(raw):
                self._bad("label %d is not UTF-8" % len(labels))
            labels.append(str(raw, "utf-8"))
            p += 1 + k
        if len(labels) != n_classes:
            self._bad("%d labels for %d classes" % (len(labels), n_classes))
        return labels

    def _check_table(self):
        # The confidence divides by T[0] (softmax) and must stay within 0..10000.
        T = self.table
        if self.output == "softmax":
            if T[0] == 0:
                self._bad("softmax output table starts with 0 (the confidence would divide by zero)")
            for k in range(1, 256):
                if T[k] > T[k - 1]:
                    self._bad("softmax output table rises at entry %d; it must not increase" % k)
        else:
            for k in range(256):
                if T[k] > 10000 or (k and T[k] < T[k - 1]):
                    self._bad("sigmoid output table entry %d is %d; it must rise from 0 to at most 10000" % (k, T[k]))

    def _check_crc(self, f, size):
        buf = bytearray(_CHUNK)
        mv = memoryview(buf)
        f.seek(0)
        crc = 0
        left = size - 4
        while left > 0:
            k = min(left, _CHUNK)
            _readinto(f, mv[:k], "model")
            crc = _crc32(mv[:k], crc)
            left -= k
        stored = struct.unpack("<I", f.read(4))[0]
        if stored != crc & 0xFFFFFFFF:
            self._bad("CRC32 mismatch (stored %08x, computed %08x): the file is corrupt" % (stored, crc & 0xFFFFFFFF))

    def _span(self, spans, what, off, length, align, end):
        if off % align:
            self._bad("%s at offset %d is not aligned to %d bytes" % (what, off, align))
        if off < _HEADER_SIZE or off + length > end:
            self._bad("%s at offset %d, %d bytes, lies outside the file's data" % (what, off, length))
        spans.append((off, length, what))

    def _check_layer(self, L, n_prev, last, n_classes, spans, end):
        l = L.index
        if L.typ != _DENSE:
            self._bad("layer %d has type %d; only 1 (dense) exists" % (l, L.typ))
        if L.act > _ACT_SIGMOID:
            self._bad("layer %d: unknown activation code %d" % (l, L.act))
        if L.reserved:
            self._bad("layer %d: reserved fields must be 0" % l)
        if L.n_in > _MAX_IN:
            self._bad("layer %d has %d inputs; at most %d (the runtime's int16 index)" % (l, L.n_in, _MAX_IN))
        if L.n_in != n_prev:
            self._bad("layer %d takes %d inputs but gets %d: shapes do not add up" % (l, L.n_in, n_prev))
        if not L.n_out:
            self._bad("layer %d has no outputs" % l)
        if last and L.n_out != n_classes:
            self._bad("the last layer has %d outputs for %d classes: shapes do not add up" % (L.n_out, n_classes))
        if last and L.act != _ACT_NONE:
            self._bad("the last layer's activation must be none (the scores are its int8 logits)")
        n_in, n_out = L.n_in, L.n_out
        self._span(spans, "layer %d weights" % l, L.w_off, n_out * n_in, 1, end)
        self._span(spans, "layer %d bias" % l, L.b_off, 4 * n_out, 4, end)
        self._span(spans, "layer %d multipliers" % l, L.m_off, 2 * n_out, 2, end)
        self._span(spans, "layer %d shifts" % l, L.s_off, n_out, 1, end)
        if L.act == _ACT_SIGMOID:
            if not L.lut_off:
                self._bad("layer %d is sigmoid but has no lookup table" % l)
            self._span(spans, "layer %d lookup table" % l, L.lut_off, 256, 1, end)
        elif L.lut_off:
            self._bad("layer %d has a lookup table it does not use" % l)

    def _read_layer(self, f, L, zx, stream):
        l, n_in, n_out = L.index, L.n_in, L.n_out
        if L.act == _ACT_SIGMOID:
            L.lut = array("b", bytes(256))  # (256,) int8
            f.seek(L.lut_off)
            _readinto(f, L.lut, "layer %d lookup table" % l)
        L.out = array("b", bytes(n_out))  # (n_out,) int8
        L.K = array("i", bytes(4 * n_out))  # (n_out,) int32; bias first, K after the loop
        L.M = array("H", bytes(2 * n_out))
        L.S = bytearray(n_out)
        for buf, off, what in ((L.K, L.b_off, "bias"), (L.M, L.m_off, "multipliers"), (L.S, L.s_off, "shifts")):
            f.seek(off)
            _readinto(f, buf, "layer %d %s" % (l, what))
        L.zx = zx
        # Weights in chunks of `per` rows: each chunk is checked (range, row sums, the 2**30
        # bounds of FORMAT.md) and kept in its own small array, or, when streaming, read
        # into the one shared buffer. A fragmented heap (a board that has been busy) may
        # have no 4 KB block left: then the chunks get smaller, down to one row.
        per = max(1, (len(self._rows) if stream else _STREAM_BYTES) // n_in)
        L.chunks = []  # (first row, rows, int8 buffer of rows * n_in)
        f.seek(L.w_off)
        c0 = 0
        while c0 < n_out:
            k = min(per, n_out - c0)
            if stream:
                buf = memoryview(self._rows)[:k * n_in]
            else:
                buf = _alloc(k * n_in, n_in)  # (k', n_in) int8 row-major, k' <= k
                k = len(buf) // n_in
                per = k
            _readinto(f, buf, "layer %d weights" % l)
            L.chunks.append((c0, k, buf))
            for r in range(k):
                self._check_row(L, c0 + r, buf, r * n_in, zx)
            c0 += k

    def _check_row(self, L, c, buf, base, zx):
        total = 0
        absum = 0
        for i in range(base, base + L.n_in):
            w = buf[i]
            if w == -128:
                self._bad("layer %d has weight -128; weights are in [-127, 127]" % L.index)
            total += w
            absum += w if w > 0 else -w
        b = L.K[c]
        m = L.M[c]
        s = L.S[c]
        if m == 0 or s < 1 or s > 30:
            self._bad("layer %d neuron %d: multiplier %d, shift %d" % (L.index, c, m, s))
        b = b if b > 0 else -b
        if b + 384 * absum > _LIMIT or (b + 128 * absum) * m + (1 << (s - 1)) > _LIMIT:
            self._bad("layer %d neuron %d: its arithmetic could exceed 2**30" % (L.index, c))
        L.K[c] += zx * total

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
        # pairs <- (i, v) for every input with v = x[i] + delta != 0; returns their count.
        if self.backend == "viper":
            if signed:
                return _viper.gather_s8(x, self._pairs, n, delta)
            return _viper.gather_u8(x, self._pairs, n, delta)
        pairs = self._pairs
        k = 0
        for i in range(n):
            v = x[i] + delta
            if v:
                pairs[k] = i
                pairs[k + 1] = v
                k += 2
        return k >> 1

    def _dense(self, L, nnz):
        acc = self._acc
        n_in = L.n_in
        f = self._f
        if f is not None:
            f.seek(L.w_off)
        for c, k, rows in L.chunks:
            if f is not None and f.readinto(rows) != k * n_in:
                raise ModelError("%s: layer %d weights: file ends early" % (self.name, L.index))
            self._accumulate(rows, n_in, c, k, nnz)
        K, M, S, out, zero = L.K, L.M, L.S, L.out, L.zero
        lo = zero if L.act == _ACT_RELU else -128
        lut = L.lut
        for c in range(L.n_out):
            s = S[c]
            y = zero + (((K[c] + acc[c]) * M[c] + (1 << (s - 1))) >> s)
            if y > 127:
                y = 127
            elif y < lo:
                y = lo
            out[c] = lut[y + 128] if lut is not None else y

    def _accumulate(self, W, n_in, c0, rows, nnz):
        # acc[c0 + r] = sum_j W[r * n_in + i_j] * v_j for the gathered pairs (i_j, v_j)
        acc = self._acc
        if self.backend == "viper":
            p = self._params
            p[0] = n_in
            p[1] = rows
            p[2] = nnz
            p[3] = c0
            _viper.accumulate(W, self._pairs, p, acc)
            return
        pairs = self._pairs
        end = 2 * nnz
        base = 0
        for r in range(rows):
            s = 0
            for j in range(0, end, 2):
                s += W[base + pairs[j]] * pairs[j + 1]
            acc[c0 + r] = s
            base += n_in
