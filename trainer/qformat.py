"""The .gnet binary model file: write it, read it back, reject anything damaged.

weights/FORMAT.md is the specification; this module and device/gnet.py are its two
readers (numpy on the host, plain Python on the board) and must reject the same files.

    QModel.layers[l]: dict with
        W     (n_out, n_in) int8, row-major, values in [-127, 127]
        bias  (n_out,)      int32
        M     (n_out,)      uint16 >= 1   requantisation multiplier
        S     (n_out,)      uint8 1..30   requantisation right shift
        act   a name of trainer/activations.py ("none" | "relu" | "sigmoid")
        zero  int8          added after requantisation (the output zero point)
        lut   (256,) int8 for an activation with a table (sigmoid), else None
    and, in a version-2 file (a ConvNet: trainer/qlayers.py's records), kind "conv" (W
    (c_out, 3, 3, c_in), stride 1 or 2, padding "same" or "valid", act "none" or "relu"),
    "pool" or "gap" (nothing else); "dense" (the default) as above, reading a picture
    flattened channels-last.
"""
from __future__ import annotations

import binascii
import struct

import numpy as np

from device.mnistify import VERSION as MNISTIFY_VERSION
from trainer import activations

MAGIC = b"GNTL"
VERSION = 1          # dense layers only
VERSION_LAYERS = 2   # with a conv, pool or global average layer (weights/FORMAT.md)
# header: magic, version, flags, file_size, width, height, channels, input_offset,
# preprocess, preprocess_version, n_layers, n_classes, output, reserved,
# labels_offset, labels_size, layers_offset, table_offset
HEADER = struct.Struct("<4sHHIHHBbBBBBBBIIII")
# layer: type, act, zero, reserved, n_in, n_out, w_off, b_off, m_off, s_off, lut_off, reserved
LAYER = struct.Struct("<BBbBHHIIIIII")
CRC = struct.Struct("<I")
ACTS = tuple(a.name for a in activations.BY_CODE)  # by their code in the layer record
OUTPUTS = ("softmax", "sigmoid")
PREPROCESS = ("none", "mnistify")
DENSE, CONV, POOL, GAP = 1, 2, 3, 4  # a layer record's type
KINDS = {DENSE: "dense", CONV: "conv", POOL: "pool", GAP: "gap"}
VALID = 4  # a conv record's byte 3: stride (1 or 2), plus this for 'valid' padding
MAX_LAYERS = 16
MAX_IN = 32767  # inputs per layer: the device runtime indexes them with int16
INPUT_OFFSETS = (-128, -127)  # |pixel + input_offset| <= 128, which the bounds assume
LIMIT = (1 << 30) - 1  # every intermediate of the integer arithmetic stays within +/-LIMIT
TABLE_SIZE = 256 * 2  # output table: 256 uint16
assert HEADER.size == 40 and LAYER.size == 32


class FormatError(ValueError):
    """A .gnet file that must not be used; the message names what is wrong."""


class QModel:
    """An integer-only network as the .gnet file holds it (no floats anywhere)."""

    def __init__(self, layers, labels, output="softmax", table=None, width=28, height=28, channels=1,
                 input_offset=-128, preprocess="mnistify", preprocess_version=MNISTIFY_VERSION):
        self.layers, self.labels, self.output = layers, list(labels), output
        self.table = np.zeros(256, np.uint16) if table is None else np.asarray(table, np.uint16)  # (256,) uint16
        self.width, self.height, self.channels = width, height, channels
        self.input_offset, self.preprocess, self.preprocess_version = input_offset, preprocess, preprocess_version

    @property
    def sizes(self):
        """[n_in, n_out of each layer] of an MLP; of a ConvNet, [inputs, outputs]."""
        if self.convnet:
            return [self.width * self.height * self.channels, len(self.labels)]
        return [self.layers[0]["W"].shape[1]] + [L["W"].shape[0] for L in self.layers]

    @property
    def convnet(self):
        """True for a ConvNet (a conv, pool or global average layer: a version-2 file)."""
        return any(L.get("kind", "dense") != "dense" for L in self.layers)

    @property
    def spec(self):
        """The layers as a readable spec: conv8s2,pool,dense10 (784-100-10 for an MLP)."""
        if all(L.get("kind", "dense") == "dense" for L in self.layers):
            return "-".join(map(str, self.sizes))

        def one(L):
            k = L.get("kind", "dense")
            if k == "conv":
                return "conv%d%s%s" % (len(L["W"]), "s2" if L["stride"] == 2 else "",
                                       "v" if L["padding"] == "valid" else "")
            return "dense%d" % len(L["W"]) if k == "dense" else k

        return ",".join(one(L) for L in self.layers)

    @property
    def hidden(self):
        return self.layers[0]["act"] if len(self.layers) > 1 else "none"


def preprocess_problem(q):
    """None when frames for `q` may go through this gentlenet's device/mnistify.py; else a
    sentence saying why not and what to do (a model stamped for another mnistify version
    was made for other pictures of the digits)."""
    if q.preprocess == "mnistify" and q.preprocess_version != MNISTIFY_VERSION:
        return ("the model expects camera frames prepared by mnistify v%d, and this gentlenet has v%d: "
                "export it again (gentlenet export CHECKPOINT --out MODEL.gnet) or use a model made for v%d"
                % (q.preprocess_version, MNISTIFY_VERSION, MNISTIFY_VERSION))
    return None


def photo_problem(q):
    """None when photos (and camera frames) may be given to `q` through this gentlenet's
    mnistify; else why not. One rule for predict, eval --data PHOTOS and the board."""
    if q.preprocess != "mnistify":
        return ("the model is stamped preprocess=%s: it takes 28x28 MNIST-style digits as they are, not photos; "
                "export a model for photos (gentlenet export CHECKPOINT --out MODEL.gnet)" % q.preprocess)
    return preprocess_problem(q)


def bounds(W, bias):
    """Per neuron: (A, B) with A = |bias| + 128*sum|W| (bounds |acc| for any int8 input)
    and B = |bias| + 384*sum|W| (bounds every partial sum of any summation order, also with
    the zero point folded into the bias). W: (n_out, n_in) int8; bias: (n_out,) int32."""
    s = np.abs(W.astype(np.int64)).sum(axis=1)
    b = np.abs(bias.astype(np.int64))
    return b + 128 * s, b + 384 * s


def check_table(table, output, bad):
    """The output table must give a confidence in 0..10000 without dividing by zero:
    softmax T[0] >= 1 and never rising; sigmoid rising from 0 to at most 10000."""
    T = np.asarray(table, np.int64)
    if output == "softmax":
        if T[0] == 0:
            bad("softmax output table starts with 0 (the confidence would divide by zero)")
        up = np.flatnonzero(T[1:] > T[:-1])
        if len(up):
            bad("softmax output table rises at entry %d; it must not increase", int(up[0]) + 1)
    else:
        wrong = np.flatnonzero((T > 10000) | np.r_[False, T[1:] < T[:-1]])
        if len(wrong):
            k = int(wrong[0])
            bad("sigmoid output table entry %d is %d; it must rise from 0 to at most 10000", k, int(T[k]))


def conv_shape(shape, stride, padding, c_out):
    """(h, w, c_in) -> (oh, ow, c_out) of a 3x3 conv (trainer/layers.py's pads)."""
    from trainer.layers import pads

    return pads(shape[0], stride, padding)[0], pads(shape[1], stride, padding)[0], c_out


def _align(n):
    return (n + 3) & ~3


def to_bytes(q):
    """The file's bytes, CRC included. Checks the model first (same rules as the reader)."""
    L = len(q.layers)
    label_bytes = b"".join(struct.pack("<B", len(s.encode())) + s.encode() for s in q.labels)
    pos = HEADER.size + LAYER.size * L
    labels_off = pos
    pos = _align(pos + len(label_bytes))
    table_off = pos
    pos += TABLE_SIZE
    records, blobs, shape = [], [], (q.height, q.width, q.channels)
    for layer in q.layers:
        kind = layer.get("kind", "dense")
        if kind in ("pool", "gap"):
            c = shape[2]
            records.append(LAYER.pack(POOL if kind == "pool" else GAP, 0, 0, 0, c, c, 0, 0, 0, 0, 0, 0))
            shape = (shape[0] // 2, shape[1] // 2, c) if kind == "pool" else (c,)
            continue
        W = np.ascontiguousarray(layer["W"], dtype=np.int8)  # (n_out, n_in) or (c_out, 3, 3, c_in) int8
        parts = [W.tobytes(), np.asarray(layer["bias"], "<i4").tobytes(), np.asarray(layer["M"], "<u2").tobytes(),
                 np.asarray(layer["S"], np.uint8).tobytes()]
        if layer["lut"] is not None:
            parts.append(np.asarray(layer["lut"], np.int8).tobytes())
        offs = []
        for p in parts:
            offs.append(pos)
            blobs.append((pos, p))
            pos = _align(pos + len(p))
        lut_off = offs[4] if len(offs) > 4 else 0
        if kind == "conv":
            geo = layer["stride"] | (VALID if layer["padding"] == "valid" else 0)
            typ, n_in, n_out = CONV, W.shape[3], len(W)
            shape = conv_shape(shape, layer["stride"], layer["padding"], n_out)
        else:
            typ, geo, (n_out, n_in) = DENSE, 0, W.shape
            shape = (n_out,)
        records.append(LAYER.pack(typ, ACTS.index(layer["act"]), int(layer["zero"]), geo, n_in, n_out,
                                  offs[0], offs[1], offs[2], offs[3], lut_off, 0))
    size = pos + CRC.size
    out = bytearray(size)
    version = VERSION if all(layer.get("kind", "dense") == "dense" for layer in q.layers) else VERSION_LAYERS
    out[:HEADER.size] = HEADER.pack(MAGIC, version, 0, size, q.width, q.height, q.channels, q.input_offset,
                                    PREPROCESS.index(q.preprocess), q.preprocess_version, L, len(q.labels),
                                    OUTPUTS.index(q.output), 0, labels_off, len(label_bytes), HEADER.size, table_off)
    for l, r in enumerate(records):
        out[HEADER.size + LAYER.size * l:HEADER.size + LAYER.size * (l + 1)] = r
    out[labels_off:labels_off + len(label_bytes)] = label_bytes
    out[table_off:table_off + TABLE_SIZE] = np.asarray(q.table, "<u2").tobytes()
    for off, p in blobs:
        out[off:off + len(p)] = p
    out[-CRC.size:] = CRC.pack(binascii.crc32(bytes(out[:-CRC.size])) & 0xFFFFFFFF)
    from_bytes(bytes(out), "the model being written")  # never write a file our own reader rejects
    return bytes(out)


# What device/gnet.py holds in a board's heap for a model, measured with gc.mem_free() on
# the MicroPython unix port (64-bit; a 32-bit board's objects are smaller, so this errs
# high): a model's fixed objects, each layer's (its object, K, M, S, out, the sigmoid
# table), the work buffers (pairs, accumulators) and, streamed, one row of the widest
# layer, or in RAM the weights in arrays of about 4 KB. bench/board_heap.py checks it.
_HEAP_MODEL = 2650
_HEAP_LAYER = 620
_HEAP_CHUNK = 120
_CHUNK_BYTES = 4096
# The board app itself besides the model (its code and mnistify's, precompiled; the frame
# buffer and mnistify's tables; gnet's loader while the model loads; the headroom it
# keeps): the smallest virtual-board heap that serves camera frames less the model's
# heap, measured by bench/board_heap.py (rounded up). Streamed, the app has 80x60 frames
# at that heap; in RAM it wants a 160x128 frame beside the model.
APP_HEAP = {"streamed": 55 * 1024, "in_ram": 86 * 1024}
# With a ConvNet the app also holds device/gnet_conv.py and its kernel's module, and its
# load passes through more at once (gnet_conv_load.py's checks, dropped after the load; a
# conv's weights read and transposed chunk by chunk): bench/board_heap.py, the shipped
# ConvNet, 87 KB streamed (18.1 KB of model) and 89 KB in RAM (22.9 KB), app 68.9 / 66.1 KB,
# rounded up. (`bench/board_heap.py --parts` shows where it goes.)
APP_HEAP_CONVNET = {"streamed": 69 * 1024, "in_ram": 67 * 1024}


def board_heap(q):
    """The heap a board needs for q: {"model": {"in_ram", "streamed"}, the model alone;
    "app": {"in_ram", "streamed"}, the board app with it, in bytes (estimates); "frames":
    {"in_ram", "streamed"}, the frame buffer the app has beside the model at that heap}.
    (An MLP in RAM: the app wants a 160x128 frame beside it. A ConvNet's in-RAM figure is
    the smallest heap that holds it in RAM at all, where the frame is 80x60.)"""
    model = runtime_heap(q)
    app = APP_HEAP_CONVNET if q.convnet else APP_HEAP
    return {"model": model, "app": {k: model[k] + app[k] for k in model},
            "frames": {"in_ram": "80x60" if q.convnet else "160x128", "streamed": "80x60"}}


def runtime_heap(q, backend="python"):
    """{"in_ram": bytes, "streamed": bytes}: the heap device/gnet.py holds for q's model
    in each mode (without the app: board_heap adds it) with `backend` ("viper": one table
    per layer, no accumulators; the others: the most)."""
    fixed = _HEAP_MODEL
    weights = 0
    dense = [L for L in q.layers if L.get("kind", "dense") == "dense"]
    shape = (q.height, q.width, q.channels)
    shared = [0, 0]  # viper: the convs' padded input and output (device/gnet_conv_viper.py)
    for i, L in enumerate(q.layers):
        kind = L.get("kind", "dense")
        if kind != "dense":
            # a ConvNet's layer (device/gnet_conv.py): its whole output picture; the first
            # one's input made int8; a conv's weights in RAM either way, with viper also
            # its padded input and its table (the weights transposed in place of the rows)
            out = conv_shape(shape, L["stride"], L["padding"], len(L["W"])) if kind == "conv" else (
                (shape[0] // 2, shape[1] // 2, shape[2]) if kind == "pool" else (shape[2],))
            # (the first layer's int8 copy of the picture, which the viper conv reads as bytes)
            viper = kind == "conv" and backend == "viper"
            x0 = i == 0 and not viper
            fixed += _HEAP_LAYER + 160 + (0 if viper else int(np.prod(out))) + (int(np.prod(shape)) if x0 else 0)
            if kind != "conv" and backend == "viper" and i:  # a pool's or average's table: its geometry, the sums
                fixed += 112 + (4 * shape[2] if kind == "gap" else 0)
            if kind == "conv":
                co, n = len(L["W"]), L["W"][0].size
                fixed += co * n + _HEAP_CHUNK
                if viper:  # its table (K, M, S in it); its chunk list; one padded input and one output for all convs
                    padded = ((out[0] - 1) * L["stride"] + 3) * ((out[1] - 1) * L["stride"] + 3) * shape[2]
                    fixed += 12 * co + 96
                    shared = [max(shared[0], padded), max(shared[1], int(np.prod(out)))]
                else:
                    fixed += 8 * co
            shape = out
            continue
        n_out, n_in = L["W"].shape
        fixed += _HEAP_LAYER + 8 * n_out + (256 if L["lut"] is not None else 0)
        per = max(1, _CHUNK_BYTES // n_in)
        weights += n_out * n_in + _HEAP_CHUNK * (-(-n_out // per))
        shape = (n_out,)
    widest_in = max(L["W"].shape[1] for L in dense)
    if 4 * widest_in + 16 >= shared[0]:  # the padded input is the dense layers' gather buffer
        shared[0] = 0
    fixed += sum(shared)
    # the gathered inputs; the accumulators (viper sums in registers and keeps each layer's
    # constants in one table: about the same bytes as K, M, S and the LUT apart)
    fixed += 4 * widest_in + 4 * (1 if backend == "viper" else max(L["W"].shape[0] for L in dense))
    return {"in_ram": fixed + weights, "streamed": fixed + widest_in}


def save(q, path):
    """Write atomically (temporary file, fsync, rename); returns the size in bytes."""
    from trainer.mlp import write_atomic

    data = to_bytes(q)
    write_atomic(path, data)
    return len(data)


def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FormatError("%s: no such file" % path) from None
    return from_bytes(data, path)


def crc32_of(path):
    """The CRC-32 a .gnet file carries in its last 4 bytes: which model it is (the board's
    INFO reports the same number)."""
    with open(path, "rb") as f:
        f.seek(-CRC.size, 2)
        return CRC.unpack(f.read(CRC.size))[0]


def is_gnet(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def from_bytes(data, name="model"):
    """Parse and validate everything FORMAT.md says a reader must check; FormatError if not."""
    def bad(msg, *a):
        raise FormatError("%s: %s" % (name, msg % a))

    n = len(data)
    if n < HEADER.size + CRC.size:
        bad("%d bytes, too short for a .gnet model (the header alone is %d bytes); truncated?", n, HEADER.size)
    (magic, version, flags, size, width, height, channels, input_offset, prep, prep_version, L, n_classes,
     output, reserved, labels_off, labels_size, layers_off, table_off) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        bad("magic %r is not %r: not a gentlenet .gnet model (a float checkpoint is .npz; export it with "
            "`gentlenet export`)", magic, MAGIC)
    if version not in (VERSION, VERSION_LAYERS):
        bad("format version %d; this gentlenet reads versions %d and %d (%s)", version, VERSION, VERSION_LAYERS,
            "update gentlenet" if version > VERSION_LAYERS else "re-export the model")
    if size != n:
        bad("the header says %d bytes but the file has %d: %s", size, n,
            "truncated" if n < size else "extra bytes at the end")
    crc = CRC.unpack_from(data, n - CRC.size)[0]
    actual = binascii.crc32(data[:n - CRC.size]) & 0xFFFFFFFF
    if crc != actual:
        bad("CRC32 mismatch (stored %08x, computed %08x): the file is corrupt", crc, actual)
    if flags:
        bad("unknown flags 0x%04x", flags)
    if reserved:
        bad("reserved header byte is %d, must be 0", reserved)
    if not (1 <= width and 1 <= height and 1 <= channels):
        bad("input shape %dx%dx%d", width, height, channels)
    if input_offset not in INPUT_OFFSETS:
        bad("input_offset %d: the bounds need -128 or -127 (|x| <= 128)", input_offset)
    if prep >= len(PREPROCESS):
        bad("unknown preprocessing code %d", prep)
    if output >= len(OUTPUTS):
        bad("unknown output code %d", output)
    if not (1 <= L <= MAX_LAYERS):
        bad("%d layers (1 to %d allowed)", L, MAX_LAYERS)
    if not n_classes:
        bad("no classes")
    end = n - CRC.size
    spans = []

    def span(what, off, length, align=1):
        if off % align:
            bad("%s at offset %d is not aligned to %d bytes", what, off, align)
        if off < HEADER.size or off + length > end:
            bad("%s at offset %d, %d bytes, lies outside the file's data (%d..%d)", what, off, length, HEADER.size, end)
        spans.append((off, length, what))

    if layers_off != HEADER.size:
        bad("layer table at offset %d, expected %d", layers_off, HEADER.size)
    span("layer table", layers_off, LAYER.size * L, 4)
    span("labels", labels_off, labels_size)
    span("output table", table_off, TABLE_SIZE, 4)
    labels, p, stop = [], labels_off, labels_off + labels_size
    while p < stop:
        k = data[p]
        if p + 1 + k > stop:
            bad("label %d runs past the labels block", len(labels))
        try:
            labels.append(bytes(data[p + 1:p + 1 + k]).decode("utf-8"))
        except UnicodeDecodeError:
            bad("label %d is not UTF-8", len(labels))
        p += 1 + k
    if len(labels) != n_classes:
        bad("%d labels for %d classes", len(labels), n_classes)
    layers, records, shape = [], [], (height, width, channels)  # what the next layer reads
    for l in range(L):
        (typ, act, zero, geo, n_in, n_out, w_off, b_off, m_off, s_off, lut_off,
         res1) = LAYER.unpack_from(data, layers_off + LAYER.size * l)
        if typ not in KINDS:
            bad("layer %d has type %d; 1 (dense), 2 (conv), 3 (max pool) and 4 (global average) exist", l, typ)
        if typ != DENSE and version == VERSION:
            bad("layer %d has type %d (%s), which a version %d file does not hold (dense only; a ConvNet is version "
                "%d)", l, typ, KINDS[typ], version, VERSION_LAYERS)
        if act >= len(ACTS):
            bad("layer %d: unknown activation code %d", l, act)
        if res1 or (geo and typ != CONV):
            bad("layer %d: reserved fields must be 0", l)
        last = l == L - 1
        if last and typ != DENSE:
            bad("the last layer is a %s layer; it must be dense (its outputs are the scores)", KINDS[typ])
        picture = len(shape) == 3
        if typ in (POOL, GAP):
            if act or zero or w_off or b_off or m_off or s_off or lut_off:
                bad("layer %d (%s) has weights, an activation or a zero point; it has none", l, KINDS[typ])
            if not picture or n_in != shape[2]:
                bad("layer %d (%s) takes %d channels but gets %s: shapes do not add up", l, KINDS[typ], n_in,
                    "x".join(map(str, shape)) if picture else "a flat vector")
            if n_out != n_in:
                bad("layer %d (%s) has %d outputs for %d channels; it keeps the channels", l, KINDS[typ], n_out, n_in)
            if typ == POOL and min(shape[:2]) < 2:
                bad("layer %d (pool) gets %s: too small for a 2x2 window", l, "x".join(map(str, shape)))
            shape = (shape[0] // 2, shape[1] // 2, n_in) if typ == POOL else (n_in,)
            records.append((typ, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            continue
        if typ == CONV:
            if geo not in (1, 2, 1 | VALID, 2 | VALID):
                bad("layer %d (conv): byte 3 is %d; stride 1 or 2, plus %d for 'valid' padding", l, geo, VALID)
            if activations.from_code(act).lut:
                bad("layer %d (conv): activation %s has a lookup table; a conv's is none or relu", l, ACTS[act])
            if not picture or n_in != shape[2]:
                bad("layer %d (conv) takes %d channels but gets %s: shapes do not add up", l, n_in,
                    "x".join(map(str, shape)) if picture else "a flat vector")
            stride, padding = geo & 3, "valid" if geo & VALID else "same"
            nxt = conv_shape(shape, stride, padding, n_out)
            if min(nxt) < 1:
                bad("layer %d (conv) leaves nothing of its %s input", l, "x".join(map(str, shape)))
            w_size = n_out * 9 * n_in
        else:
            flat = int(np.prod(shape))
            if n_in > MAX_IN:
                bad("layer %d has %d inputs; at most %d (the device runtime's int16 index)", l, n_in, MAX_IN)
            if n_in != flat:
                bad("layer %d takes %d inputs but %s gives %d: shapes do not add up", l, n_in,
                    "the input image" if l == 0 else "layer %d" % (l - 1), flat)
            stride = padding = None
            nxt = (n_out,)
            w_size = n_out * n_in
        if not n_out:
            bad("layer %d has no outputs", l)
        if last and n_out != n_classes:
            bad("the last layer has %d outputs for %d classes: shapes do not add up", n_out, n_classes)
        if last and act != 0:
            bad("the last layer's activation must be none (the scores are its int8 logits), not %s", ACTS[act])
        span("layer %d weights" % l, w_off, w_size)
        span("layer %d bias" % l, b_off, 4 * n_out, 4)
        span("layer %d multipliers" % l, m_off, 2 * n_out, 2)
        span("layer %d shifts" % l, s_off, n_out)
        if activations.from_code(act).lut:
            if not lut_off:
                bad("layer %d is %s but has no lookup table", l, ACTS[act])
            span("layer %d lookup table" % l, lut_off, 256)
        elif lut_off:
            bad("layer %d is %s but has a lookup table", l, ACTS[act])
        records.append((typ, act, zero, w_size, n_in, n_out, w_off, b_off, m_off, s_off, lut_off, stride, padding))
        shape = nxt
    if version == VERSION_LAYERS and all(r[0] == DENSE for r in records):
        bad("a version %d file of dense layers only; an MLP is version %d", version, VERSION)
    spans.sort()
    for (o1, n1, w1), (o2, n2, w2) in zip(spans, spans[1:]):
        if o1 + n1 > o2:
            bad("%s (offset %d, %d bytes) overlaps %s (offset %d)", w1, o1, n1, w2, o2)
    for l, rec in enumerate(records):
        if rec[0] in (POOL, GAP):
            layers.append({"kind": KINDS[rec[0]]})
            continue
        typ, act, zero, w_size, n_in, n_out, w_off, b_off, m_off, s_off, lut_off, stride, padding = rec
        W = np.frombuffer(data, np.int8, w_size, w_off).reshape(n_out, -1)  # (n_out, n_in or 9 * c_in) int8
        bias = np.frombuffer(data, "<i4", n_out, b_off).astype(np.int32)  # (n_out,)
        M = np.frombuffer(data, "<u2", n_out, m_off).astype(np.uint16)  # (n_out,)
        S = np.frombuffer(data, np.uint8, n_out, s_off).copy()  # (n_out,)
        lut = np.frombuffer(data, np.int8, 256, lut_off).copy() if lut_off else None
        if (W == -128).any():
            bad("layer %d has weight -128; weights are in [-127, 127]", l)
        if (M == 0).any():
            bad("layer %d: multiplier 0 for neuron %d", l, int(np.argmax(M == 0)))
        if ((S < 1) | (S > 30)).any():
            bad("layer %d: shift %d outside 1..30", l, int(S[(S < 1) | (S > 30)][0]))
        A, B = bounds(W, bias)
        over = (B > LIMIT) | (A * M.astype(np.int64) + (np.int64(1) << (S.astype(np.int64) - 1)) > LIMIT)
        if over.any():
            bad("layer %d neuron %d: its arithmetic could exceed +/-2^30 (see FORMAT.md, bounds)", l,
                int(np.argmax(over)))
        layer = {"W": W.copy(), "bias": bias, "M": M, "S": S, "act": ACTS[act], "zero": zero, "lut": lut}
        if typ == CONV:
            layer.update(kind="conv", W=W.reshape(n_out, 3, 3, n_in).copy(), stride=stride, padding=padding)
        layers.append(layer)
    table = np.frombuffer(data, "<u2", 256, table_off).astype(np.uint16)
    check_table(table, OUTPUTS[output], bad)
    return QModel(layers, labels, OUTPUTS[output], table, width, height, channels, input_offset,
                  PREPROCESS[prep], prep_version)
