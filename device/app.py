# The board application: serve a host over the board's serial line (the USB REPL stream
# on a real board, stdin/stdout on the unix port). main.py on the board runs `app.main()`.
# The protocol is in device/PROTOCOL.md; in short, a request is one ASCII line
#
#   GNT1 <seq> <COMMAND> [args]\n          (CLASSIFY: then the base64 payload and \n)
#
# and the answer is one JSON line {"seq": .., "ok": true|false, ...}. Everything the host
# sends is ASCII, so no byte of it is Ctrl-C (0x03): the REPL's Ctrl-C always interrupts
# the app and mpremote can always reconnect.
#
# Bad input never stops the service: bytes before the magic are skipped (resync), a bad
# CRC or header is answered with an error, a frame larger than the frame buffer is
# rejected from its header (its payload is skipped, never stored), and a sender that
# stops mid-frame is answered with a timeout. Buffers are allocated once, at start.
import gc
import sys
import time

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

import select  # MicroPython 1.22+ (the runtime's floor) names it so on every port

import binascii
import json

import gnet

mnistify = None  # imported once the model is loaded: see App.load_model

_MAGIC = b"GNT1"
_VERSION = const(1)
_LINE = const(96)           # longest request line after the magic
_FRAMES = ((160, 128), (80, 60))  # frame buffers, largest first: 160x128 holds every uCAM raw size
#                                   and the smallest JPEG's; 80x60 (uCAM raw's default) where that does not fit
_HEADROOM = const(4096)     # heap left free once loaded: answers, base64 chunks, small lists, the GC's slack
_LOADING = const(16384)     # heap a streamed load needs at the least: gnet's file checker (dropped after)
#                             and a small model's tables
_B64_CHUNK = const(256)     # base64 characters decoded at a time (a multiple of 4)
_TIMEOUT_MS = const(2000)   # silence inside a request that abandons it
_NL = const(10)             # "\n" ends a request line and a payload
_CR = const(13)             # "\r" (a terminal's Enter) ends a line too; CRLF counts once

_FORMATS = {"grey8": 1, "mnist": 1}  # pixel format -> bytes per pixel
_CAMERA_HEAP = const(12288)  # heap a board camera needs: ucam's code (9.5 KB as .mpy on the unix
#                              port, 64-bit: bigger than a 32-bit board's), its driver object, slack
_B64_ROW = const(57)        # digit bytes per base64 piece of an answer (76 characters)


def _ticks_us():
    try:
        return time.ticks_us()
    except AttributeError:
        return time.perf_counter_ns() // 1000


def _ticks_diff(a, b):
    try:
        return time.ticks_diff(a, b)
    except AttributeError:
        return a - b


def _mem_free():
    # free heap bytes after a collection; a large number where the interpreter does not say
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else 1 << 30


def _import_mnistify():
    # once a model is loaded: mnistify's code (small pieces) then goes where gnet's
    # dropped loader was, instead of adding to the load's peak
    global mnistify
    if mnistify is None:
        gc.collect()
        import mnistify as m
        mnistify = m


def _tables(w, h):
    # heap mnistify.Work(w, h) takes, rounded up (measured with gc.mem_free() on the unix
    # port: 5,600 bytes for 80x60, 18,688 for 160x128): six tables of (w/4)*(h/4) cells, 12 bytes
    # per possible part, a row of the digit's square, the coarse look (the frame shrunk
    # by s to at most 96 px a side, when it is larger), fixed tables and objects
    cw = (w + 3) >> 2
    ch = (h + 3) >> 2
    s = (max(w, h) + 95) // 96
    return 6 * cw * ch + 12 * min(255, ((cw + 1) >> 1) * ((ch + 1) >> 1)) + max(w, h) + (
        (w // s) * (h // s) if s > 1 else 0) + 3072


def _file_size(path):
    # (bytes in the file at path, the heap its model takes beyond them when loaded): a
    # ConvNet (.gnet version 2, byte 4) holds its pictures, its kernels' code and tables
    # besides its weights, about as much again as its file (bench/board_heap.py); (0, 0)
    # when it cannot be opened (the load then says why)
    try:
        f = open(path, "rb")
    except OSError:
        return 0, 0
    head = f.read(5)
    n = f.seek(0, 2)
    f.close()
    return n, n if len(head) == 5 and head[4] == 2 else 0


class Abandon(Exception):
    # a request that cannot be served: (code, message) for the error answer
    pass


class App:
    def __init__(self, model="model.gnet", inp=None, out=None):
        self.inp = inp or sys.stdin.buffer
        self.out = out or sys.stdout
        self._poll = select.poll()
        # sys.stdin: the documented way to poll the REPL stream
        self._poll.register(sys.stdin if inp is None else inp, select.POLLIN)
        self._one = bytearray(1)                  # the byte just read
        self._cr = False                          # the last line ended with "\r"; 2: a payload was cut
        #                                           by a new request, whose magic is read
        self._line = bytearray(_LINE)             # the request line after the magic
        self._b64 = bytearray(_B64_CHUNK)         # base64 text waiting to be decoded
        self.digit = bytearray(784)               # (28, 28) uint8: what the network sees
        self.camera = None
        self.model_path = model
        self.frame = None                         # (h, w) uint8 grey, row-major: CLASSIFY's payload
        self.work = None                          # mnistify's tables for frames up to the buffer's size
        self.model = None
        self.model_error = None                   # why there is no model (INFO, CLASSIFY's error)
        self.load_note = None                     # in RAM or streamed, the frame size, and why (INFO)
        self.load_model()
        self.commands = {                         # name -> (handler, argument counts allowed)
            "INFO": (self.info, (0,)),
            "CLASSIFY": (self.classify, (5, 6)),
            "SNAP": (self.snap, (0, 1, 2)),
            "CAMERA": (self.set_camera, (2, 3, 4)),
            "REPL": (self.leave, (0,)),
        }
        gc.collect()

    def load_model(self):
        # Plans, best first: a 160x128 frame buffer with the model in RAM (fastest), then
        # streamed from flash (any model that fits the flash runs); then the same with
        # 80x60. Each plan first holds, in one block, the bytes of the frame buffer and of
        # mnistify's tables; loads the model beside it (gnet's loader leaves its RAM in
        # small pieces among the model's objects) and imports mnistify (its code, small
        # pieces too, goes there); then frees the hold and allocates the frame and the
        # tables into it: they need large blocks, which a heap that has just loaded a
        # model has nowhere else. (Every name the app's modules add is kept in RAM, in
        # pools that grow by doubling: at 300 names a 5th pool takes 3.6 KB of a 64 KB
        # board's heap. micropython.qstr_info() counts them.) A model that fits no plan is a clear error (INFO and
        # every CLASSIFY), never a crash.
        tried = []
        size, more = _file_size(self.model_path)
        for w, h in _FRAMES:
            for stream in (False, True):
                how = "%s beside a %dx%d frame" % ("streamed" if stream else "in RAM", w, h)
                free = _mem_free()
                if free < w * h + _tables(w, h) + more + (_LOADING if stream else size + _HEADROOM):
                    tried.append("%s: %d bytes free" % (how, free))
                    continue  # cannot fit: an attempt would only leave the heap in pieces
                try:
                    hold = bytearray(w * h + _tables(w, h))
                    self.model = gnet.Model(self.model_path, stream=stream)
                    _import_mnistify()
                    hold = None
                    gc.collect()
                    self.frame = bytearray(w * h)
                    self.work = mnistify.Work(w, h)
                    self.load_note = "%s, %d bytes of heap free%s" % (how, _mem_free(), (
                        " (tried first: %s)" % "; ".join(tried)) if tried else "")
                    return
                except OSError as e:
                    self.model_error = "%s: %s" % (self.model_path, e)
                    return self._no_model()
                except gnet.ModelError as e:
                    if "not enough RAM" not in str(e):
                        self.model_error = str(e)
                        return self._no_model()
                    tried.append("%s: %s" % (how, e))
                except MemoryError:
                    tried.append("%s: not enough RAM" % how)
                hold = self.model = self.frame = self.work = None  # noqa: frees the hold before the next plan
        self.model_error = "%s (%d bytes) does not fit this board's heap: %s" % (self.model_path, size,
                                                                                 "; ".join(tried))
        self._no_model()

    def _no_model(self):
        # Without a model the app still answers (INFO, and an error to every CLASSIFY);
        # requests up to 80x60 are still read whole before the error.
        self.model = None
        gc.collect()
        try:
            _import_mnistify()  # INFO reports its version
            self.frame = bytearray(4800)
        except MemoryError:
            self.frame = bytearray(784)

    # ------------------------------------------------------------ the wire
    def _getc(self, timeout_ms):
        # one byte, or -1 after timeout_ms of silence
        if not self._poll.poll(timeout_ms):
            return -1
        if not self.inp.readinto(self._one):
            raise SystemExit  # the host closed the line (unix port)
        return self._one[0]

    def _need(self, what):
        c = self._getc(_TIMEOUT_MS)
        if c < 0:
            raise Abandon("timeout", "the sender stopped in the middle of %s (%d ms)" % (what, _TIMEOUT_MS))
        return c

    def answer(self, seq, digit=None, d=None, frame=None, **fields):
        # one JSON line, written a field at a time: a small heap whose free bytes are in
        # pieces never needs the whole text in one block (INFO's is 600 bytes, a digit's
        # 1 KB), nor a dict's (INFO's model). digit (bytes): the "digit" field, base64, a
        # row at a time. The separators are bytes, which a .mpy keeps as objects, not as
        # names (see load_model). d: the fields as a dict (a classification's: **d would
        # copy it, a 320-byte block that a 64 KB board streaming a model may not have).
        # frame (a view of the frame buffer): the "frame" field, base64, 57 bytes at a time.
        if d is not None:
            fields = d
        fields["seq"] = seq
        if "ok" not in fields:
            fields["ok"] = True
        w = self.out.write
        sep = b"{"
        for k in fields:
            w(sep)
            w(json.dumps(k))
            w(b": ")
            v = fields[k]
            if isinstance(v, dict):  # INFO's model: a field at a time too
                w(b"{")
                sep = b""
                for j in v:
                    w(sep)
                    w(json.dumps(j))
                    w(b": ")
                    w(json.dumps(v[j]))
                    sep = b", "
                w(b"}")
            else:
                w(json.dumps(v))
            sep = b", "
        for k in (digit, frame):
            if k is not None:
                w(b', "digit": "' if k is digit else b', "frame": "')
                for i in range(0, len(k), _B64_ROW):
                    w(binascii.b2a_base64(k[i:i + _B64_ROW])[:-1])
                w(b'"')
        w(b"}\n")

    def _wait_magic(self):
        # skip everything up to the magic: garbage, a half request, a terminal's typing
        k = 0
        while k < 4:
            c = self._getc(1000)
            if c < 0:
                continue
            if c == _MAGIC[k]:
                k += 1
            else:
                k = 1 if c == _MAGIC[0] else 0

    def _read_line(self):
        # the rest of the request line, as a list of str fields
        n = 0
        self._cr = False
        while True:
            c = self._need("a request line")
            if c == _NL or c == _CR:
                self._cr = c == _CR  # then a payload's first "\n" is the rest of a CRLF
                break
            if n == _LINE:
                self._skip_line()
                raise Abandon("header", "request line longer than %d bytes" % _LINE)
            if c < 32 or c > 126:
                raise Abandon("header", "byte 0x%02x in a request line" % c)
            self._line[n] = c
            n += 1
        return str(self._line[:n], "ascii").split()

    def _line_byte(self, what):
        # the next byte of a payload line, or -1 at its end ("\n", "\r" or "\r\n")
        c = self._need(what)
        if self._cr:  # the header ended with "\r": a "\n" now is the rest of its CRLF
            self._cr = False
            if c == _NL:
                c = self._need(what)
        return -1 if c == _NL or c == _CR else c

    def _skip_line(self):
        # discard up to the end of the line (a rejected payload), without storing it
        while self._line_byte("a payload being skipped") >= 0:
            pass

    # ------------------------------------------------------------ serving
    def serve(self):
        self.answer(0, event="ready", app=_VERSION, model=self.model_path, error=self.model_error)
        while True:
            if self.serve_one():
                return

    def serve_one(self):
        # one request; True when the host asked to leave
        if self._cr != 2:  # 2: a new request's magic came inside the last payload (_read_payload)
            self._wait_magic()
        seq = -1
        try:
            fields = self._read_line()
            if len(fields) < 2 or not fields[0].isdigit():
                raise Abandon("header", "expected `GNT1 <seq> <COMMAND> ...`, got %r" % " ".join(fields))
            seq = int(fields[0])
            name = fields[1].upper()
            if name not in self.commands:
                raise Abandon("command", "unknown command %r (%s)" % (name, " ".join(sorted(self.commands))))
            handler, counts = self.commands[name]
            if len(fields) - 2 not in counts:
                raise Abandon("command", "%s takes %s arguments, got %d" % (name, counts, len(fields) - 2))
            return handler(seq, fields[2:])
        except Abandon as e:
            self.answer(seq, ok=False, error=e.args[0], message=e.args[1])
        except (ValueError, OSError, MemoryError) as e:  # noqa: a bad request never stops the app
            self.answer(seq, ok=False, error="failed", message="%s: %s" % (type(e).__name__, e))
        return False

    # ------------------------------------------------------------ commands
    def info(self, seq, args):
        gc.collect()
        m = self.model
        model = None
        if m is not None:
            f = open(self.model_path, "rb")
            f.seek(-4, 2)
            crc = f.read(4)  # the file's own CRC-32, little-endian: which model this is
            f.close()
            model = {
                "file": self.model_path, "crc32": "%08x" % (crc[0] | crc[1] << 8 | crc[2] << 16 | crc[3] << 24),
                "labels": m.labels, "output": m.output, "shape": [m.layers[0].n_in] + [L.n_out for L in m.layers],
                "input": [m.width, m.height, m.channels], "preprocess": m.preprocess,
                "preprocess_version": m.preprocess_version, "stream": m.stream, "load": self.load_note
            }
        impl = sys.implementation
        self.answer(seq, app=_VERSION, model=model, model_error=self.model_error,
                    runtime="%s %s" % (impl.name, ".".join(str(v) for v in impl.version[:3])),
                    platform=sys.platform, backend=m.backend if m else None,
                    mem_free=gc.mem_free() if hasattr(gc, "mem_free") else None,
                    mem_alloc=gc.mem_alloc() if hasattr(gc, "mem_alloc") else None,
                    frame_bytes=len(self.frame), mnistify=mnistify.VERSION,
                    camera=self.camera.describe() if self.camera else None)
        return False

    def classify(self, seq, args):
        # CLASSIFY <w> <h> <fmt> <length> <crc32> [digit], then base64(payload) and "\n"
        try:
            w, h, n = int(args[0]), int(args[1]), int(args[3])
            crc = int(args[4], 16)
        except ValueError:
            self._skip_line()
            raise Abandon("header", "CLASSIFY <w> <h> <fmt> <length> <crc32 hex>: bad number in %r" % " ".join(args))
        fmt = args[2]
        bpp = _FORMATS.get(fmt)
        problem = None
        if bpp is None:
            problem = ("format", "pixel format %r: this board takes %s" % (fmt, ", ".join(sorted(_FORMATS))))
        elif w < 1 or h < 1 or n != w * h * bpp:
            problem = ("header", "%dx%d %s is %d bytes, the header says %d" % (w, h, fmt, w * h * bpp, n))
        elif fmt == "mnist" and (w, h) != (28, 28):
            problem = ("header", "mnist frames are 28x28, not %dx%d" % (w, h))
        elif n > len(self.frame):
            problem = ("too-big", "%dx%d %s is %d bytes; this board's frame buffer holds %d" % (
                w, h, fmt, n, len(self.frame)))
        if problem:
            self._skip_line()
            raise Abandon(*problem)
        self._read_payload(n)
        got = binascii.crc32(memoryview(self.frame)[:n]) & 0xFFFFFFFF
        if got != crc:
            raise Abandon("crc", "CRC32 of the %d bytes received is %08x, the header says %08x" % (n, got, crc))
        self._classify_frame(seq, w, h, fmt == "mnist", {}, args[5:] == ["digit"])
        return False

    def _read_payload(self, n):
        # base64 text -> self.frame[:n], decoded _B64_CHUNK characters at a time
        done = 0
        k = 0
        m = 0  # how much of the magic the last bytes spell: "GNT1" then " " is a new request
        while True:
            c = self._line_byte("a payload")
            if c < 0:
                break
            if not (65 <= c <= 90 or 97 <= c <= 122 or 48 <= c <= 57 or c == 43 or c == 47 or c == 61):
                if m == 4 and c == 32:  # the host reopened the line and sent a new request: it wins
                    self._cr = 2
                    raise Abandon("short", "the payload stopped and a new request began")
                self._skip_line()  # A-Z a-z 0-9 + / = only
                raise Abandon("payload", "byte 0x%02x in the base64 payload" % c)
            m = m + 1 if m < 4 and c == _MAGIC[m] else (1 if c == 71 else 0)  # 71: "G"
            self._b64[k] = c
            k += 1
            if k == _B64_CHUNK:
                done = self._decode(k, done, n, False)
                k = 0
        if k:
            done = self._decode(k, done, n, True)
        if done != n:
            raise Abandon("short", "payload of %d bytes, the header says %d" % (done, n))

    def _decode(self, k, done, n, at_end):
        # at_end: the payload's line end has been read already, so nothing is left to skip
        # (skipping then would swallow the next request)
        try:
            # (a view, not a slice: a slice is a copy, a 256-byte block that a fragmented
            # heap may not have; measured on a 64 KB board streaming the book's network)
            data = binascii.a2b_base64(memoryview(self._b64)[:k])
        except ValueError:
            if not at_end:
                self._skip_line()
            raise Abandon("payload", "the payload is not base64")
        if done + len(data) > n:
            if not at_end:
                self._skip_line()
            raise Abandon("long", "payload longer than the %d bytes the header says" % n)
        self.frame[done:done + len(data)] = data
        return done + len(data)

    def _classify_frame(self, seq, w, h, is_digit, extra, show=False):
        # preprocess self.frame (in place: it may be inverted) and answer with the class;
        # show: 1 (True) the answer carries the 28x28, 2 the frame as captured (then it is
        # preprocessed without being written to: at most 96x96 px, the size it works on
        # in place, a copy of it is made), 3 both
        if self.model is None:
            raise Abandon("no-model", "no model loaded: %s" % self.model_error)
        gc.collect()  # a whole heap for the preprocessing's temporaries: fragments kill small boards
        t0 = _ticks_us()
        if is_digit:
            self.digit[:] = memoryview(self.frame)[:784]
        else:
            if self.work is None:
                raise Abandon("no-frame", "no heap for camera frames on this board: %s" % self.model_error)
            m = self.model
            if m.preprocess == "mnistify" and m.preprocess_version != mnistify.VERSION:
                raise Abandon("preprocess", "the model expects frames prepared by mnistify v%d, this board has "
                              "v%d: flash a model exported for v%d" % (m.preprocess_version, mnistify.VERSION,
                                                                       mnistify.VERSION))
            mnistify.mnistify(memoryview(self.frame)[:w * h], w, h, None, self.digit, not show & 2, None, self.work)
        t1 = _ticks_us()
        k, label, conf, scores = self.model.classify(self.digit)
        t2 = _ticks_us()
        fields = {"label": label, "class": k, "scores": list(scores), "confidence": conf / 10000,
                  "us": _ticks_diff(t2, t0), "us_preprocess": _ticks_diff(t1, t0),
                  "us_model": _ticks_diff(t2, t1), "width": w, "height": h,
                  "digit_crc": binascii.crc32(self.digit) & 0xFFFFFFFF}
        fields.update(extra)
        self.answer(seq, self.digit if show & 1 else None, fields, memoryview(self.frame)[:w * h] if show & 2 else None)

    def snap(self, seq, args):
        # capture a frame from the board's camera, preprocess, classify
        if self.camera is None:
            raise Abandon("no-camera", "no camera: send CAMERA <kind> <port> [baud] [WxH] first")
        t0 = _ticks_us()
        try:
            w, h = self.camera.capture(self.frame)
        except OSError as e:
            raise Abandon("camera", str(e))
        extra = {"us_capture": _ticks_diff(_ticks_us(), t0),
                 "frame_crc": binascii.crc32(memoryview(self.frame)[:w * h]) & 0xFFFFFFFF}
        self._classify_frame(seq, w, h, False, extra, ("digit" in args) | ("frame" in args) << 1)
        return False

    def set_camera(self, seq, args):
        # CAMERA ucam <port> [baud] [WxH]: port is a UART number on a board, a path on unix
        if self.camera:
            self.camera.close()
            self.camera = None
        if "ucam" not in sys.modules and _mem_free() < _CAMERA_HEAP:  # refused before ucam is imported
            raise Abandon("no-memory", "a camera on the board needs %d bytes of heap: wire it to the host "
                          "(gentlenet classify --camera PORT)" % _CAMERA_HEAP)
        try:
            import ucam
            self.camera = ucam.start(args)  # its messages name the errno
        except (ImportError, OSError, ValueError, MemoryError) as e:
            sys.modules.pop("ucam", None)  # a failed CAMERA leaves the heap as it found it
            raise Abandon("camera", "%s: %s" % (type(e).__name__, e))
        self.answer(seq, camera=self.camera.describe())
        return False

    def leave(self, seq, args):
        self.answer(seq, event="bye", message="back to the REPL")
        return True


def main(model="model.gnet"):
    app = App(model)
    import os
    for name in os.listdir():  # a flash cut short leaves <file>.part (never read): it goes at boot
        if name[-5:].encode() == b".part":
            os.remove(name)
    gc.collect()
    try:
        app.serve()
    except KeyboardInterrupt:  # Ctrl-C from the REPL's terminal: back to the REPL
        pass
