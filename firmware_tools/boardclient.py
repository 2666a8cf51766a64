"""The host's side of the board application's protocol (device/PROTOCOL.md).

    board = BoardClient("/dev/ttyACM0").start()   # starts main.py's app if it is not running
    board.info()                                  # {"model": {...}, "mem_free": ..., ...}
    board.classify(grey)                          # (h, w) uint8 -> {"label": "7", "scores": [...], ...}
    board.close()
"""
from __future__ import annotations

import base64
import binascii
import json
import time

import numpy as np

MAGIC = b"GNT1"
CTRL_B = b"\x02"  # leave the raw REPL for the friendly one
CTRL_C = b"\x03"  # interrupt the running program (KeyboardInterrupt)
CTRL_D = b"\x04"  # friendly REPL: soft reset; MicroPython restarts and runs main.py
MAX_LINE = 1 << 16   # the longest answer line read (a CLASSIFY answer with its digit is ~1.5 KB)
REJECT_GRACE = 0.5   # s to wait for our own answer after a seq -1 error (maybe stale)


class BoardError(RuntimeError):
    def __init__(self, message, answer=None):
        super().__init__(message)
        self.answer = answer or {}
        self.code = self.answer.get("error")


def check_classified(a):
    """A CLASSIFY/SNAP answer has the fields of PROTOCOL.md with the right types; a board
    that sends anything else gets a BoardError, never a crash further on."""
    ints = ("class", "us", "us_preprocess", "us_model", "digit_crc")
    ok = (isinstance(a.get("label"), str) and isinstance(a.get("scores"), list) and len(a["scores"]) <= 256
          and all(isinstance(v, int) and -128 <= v <= 127 for v in a["scores"])
          and all(isinstance(a.get(k), int) for k in ints)
          and isinstance(a.get("confidence"), (int, float)) and 0 <= a["confidence"] <= 1)
    if not ok:
        raise BoardError("the board's answer does not follow the protocol: %s" % json.dumps(a)[:200], a)
    return a


def decoded(a, key, crc, n):
    """The base64 field `key` of an answer as bytes: n of them, their CRC-32 the answer's
    `crc` field, else a BoardError naming what is wrong."""
    try:
        data = base64.b64decode(a[key], validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        raise BoardError("the board's %s is not base64 (%s)" % (key, e), a) from None
    if len(data) != n:
        raise BoardError("the board's %s has %d bytes, not %d" % (key, len(data), n), a)
    if binascii.crc32(data) & 0xFFFFFFFF != a.get(crc):
        raise BoardError("the board's %s does not match its %s: damaged on the line" % (key, crc), a)
    return data


class BoardClient:
    def __init__(self, url, timeout=10.0, log=None):
        self.url = url
        self.ser = self._open()
        self.timeout = timeout
        self.log = log or (lambda *a: None)
        self.seq = 0
        self.noise = []  # lines that were not answers (boot text, prints), the last few

    def start(self):
        """Make sure the app is serving: ask; if nothing answers, soft-reset the board so
        that main.py starts it."""
        try:
            info = self.request("INFO", timeout=1.0)
        except BoardError as e:
            if e.code is not None:
                raise
        else:
            if info.get("model_error"):
                raise BoardError("the board's app cannot serve camera frames: %s" % info["model_error"], info)
            return self
        self.log("board: starting the app (soft reset)")
        self.ser.write(CTRL_C + CTRL_C)  # stop whatever runs
        time.sleep(0.2)
        self.ser.write(CTRL_B)           # out of the raw REPL, if it was there
        time.sleep(0.1)
        self.ser.reset_input_buffer()
        self.ser.write(CTRL_D)           # soft reset: main.py runs the app
        ready = self._read_answer(0, self.timeout, what="the app to start after a soft reset "
                                  "(is main.py on the board? run `gentlenet flash`)")
        if ready.get("error"):
            raise BoardError("the board's app cannot serve camera frames: %s" % ready["error"], ready)
        return self

    def _open(self):
        import serial

        try:
            return serial.serial_for_url(self.url, baudrate=115200, timeout=0.2)
        except (serial.SerialException, ValueError) as e:
            from firmware_tools.ports import cannot_open

            raise BoardError(cannot_open(self.url, e)) from None

    def reconnect(self, wait=10.0):
        """After a reset or a wiggled cable: reopen the port (a USB board comes back under
        the same name within a few seconds) and make sure the app serves again."""
        try:
            self.ser.close()
        except OSError:
            pass
        deadline = time.time() + wait
        while True:
            try:
                self.ser = self._open()
                break
            except BoardError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        return self.start()

    def close(self):
        self.ser.close()

    # ------------------------------------------------------------ requests
    def request(self, command, args=(), payload=None, timeout=None):
        self.seq = self.seq % 999999 + 1
        line = b"%s %d %s" % (MAGIC, self.seq, command.encode())
        if args:
            line += b" " + " ".join(str(a) for a in args).encode()
        try:
            self.ser.write(line + b"\n")
            if payload is not None:
                self.ser.write(base64.b64encode(payload) + b"\n")
            a = self._read_answer(self.seq, timeout or self.timeout, what=command)
        except OSError as e:  # pyserial's SerialException too: the port went away
            raise BoardError("board port %s: %s" % (self.url, e)) from None
        if not a.get("ok"):
            raise BoardError("board: %s failed: %s (%s)" % (command, a.get("message"), a.get("error")), a)
        return a

    def _read_answer(self, seq, timeout, what):
        # The JSON object line with this seq. Other lines (stale answers, prints, noise) are
        # set aside. An answer with seq -1 (a request the board could not parse) may be a
        # stale one, caused by line noise long ago: it fails this request only if our own
        # answer does not follow within a moment.
        deadline = time.time() + timeout
        buf = b""
        rejected = None
        while time.time() < deadline:
            chunk = self.ser.readline()
            if not chunk:
                continue
            buf += chunk
            if len(buf) > MAX_LINE:  # a line without end: noise, not an answer
                self.noise = (self.noise + [buf[:200]])[-5:]
                buf = b""
                continue
            if not buf.endswith(b"\n"):
                continue
            line, buf = buf.strip(), b""
            try:
                a = json.loads(line)
            except (ValueError, RecursionError):
                a = None
            if not isinstance(a, dict) or not isinstance(a.get("seq"), int):
                self.noise = (self.noise + [line[:200]])[-5:]
                continue
            if a["seq"] == seq:
                return a
            if a["seq"] == -1 and seq and rejected is None:
                rejected = a
                deadline = min(deadline, time.time() + REJECT_GRACE)
        if rejected is not None:
            raise BoardError("board rejected a request: %s (%s)" % (rejected.get("message"), rejected.get("error")),
                             rejected)
        hint = ("; last lines from the board: %s" % self.noise[-2:]) if self.noise else ""
        raise BoardError("no answer from the board at %s within %.1f s waiting for %s%s" %
                         (self.url, timeout, what, hint))

    def info(self):
        a = self.request("INFO")
        fb = a.get("frame_bytes")
        if not isinstance(fb, int) or isinstance(fb, bool) or not 784 <= fb <= 1 << 24:
            raise BoardError("the board reports a frame buffer of %r bytes; a gentlenet board has 784 or more "
                             "(is this gentlenet's device/app.py?)" % (fb,), a)
        m = a.get("model")
        if m is not None and (not isinstance(m, dict) or not isinstance(m.get("labels"), list)):
            raise BoardError("the board's INFO has no readable model card: %r" % (m,)[:200], a)
        return a

    def other_model(self, path, info=None):
        """None when the board's app runs the .gnet at `path` (the same CRC-32); else a
        sentence saying that it runs another one (and how to give it this one)."""
        from trainer import qformat

        theirs = ((info or self.info()).get("model") or {}).get("crc32")
        mine = "%08x" % qformat.crc32_of(path)
        if theirs == mine:
            return None
        return ("the board at %s runs a different model (CRC %s) than %s (CRC %s): gentlenet flash --model %s"
                % (self.url, theirs, path, mine, path))

    def classify(self, grey, fmt="grey8", digit=False):
        """grey: (h, w) uint8 (a camera frame; the board preprocesses it) or, fmt "mnist",
        a 28x28 MNIST-style digit. Returns the board's answer."""
        grey = np.ascontiguousarray(grey, dtype=np.uint8)
        h, w = grey.shape
        data = grey.tobytes()
        args = [w, h, fmt, len(data), "%08x" % (binascii.crc32(data) & 0xFFFFFFFF)] + (["digit"] if digit else [])
        return check_classified(self.request("CLASSIFY", args, payload=data))

    def camera(self, kind, port, baud=115200, res="80x60"):
        return self.request("CAMERA", [kind, port, baud, res], timeout=max(self.timeout, 15))

    def snap(self, digit=False, frame=False):
        """A frame from the board's camera, classified there. digit/frame: the answer also
        carries the 28x28 the network saw and the frame as captured, decoded to bytes and
        checked against their CRC-32s (digit_crc, frame_crc): a BoardError if damaged."""
        a = check_classified(self.request("SNAP", (["digit"] if digit else []) + (["frame"] if frame else []),
                                          timeout=max(self.timeout, 15)))
        pixels = a.get("width", 0) * a.get("height", 0)
        for key, crc, n, asked in (("digit", "digit_crc", 784, digit), ("frame", "frame_crc", pixels, frame)):
            if key in a:
                a[key] = decoded(a, key, crc, n)
            elif asked:
                raise BoardError("the board's answer has no %r field (an older app? gentlenet flash)" % key, a)
        return a

    def leave(self):
        return self.request("REPL")
