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


class BoardError(RuntimeError):
    def __init__(self, message, answer=None):
        super().__init__(message)
        self.answer = answer or {}
        self.code = self.answer.get("error")


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
            self.request("INFO", timeout=1.0)
            return self
        except BoardError as e:
            if e.code is not None:
                raise
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
            raise BoardError("the board's app started without a model: %s" % ready["error"], ready)
        return self

    def _open(self):
        import serial

        try:
            return serial.serial_for_url(self.url, baudrate=115200, timeout=0.2)
        except (serial.SerialException, ValueError) as e:
            raise BoardError("cannot open board port %s: %s" % (self.url, e)) from None

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
        # the JSON line with this seq; other lines (stale answers, prints) are set aside
        deadline = time.time() + timeout
        buf = b""
        while time.time() < deadline:
            chunk = self.ser.readline()
            if not chunk:
                continue
            buf += chunk
            if not buf.endswith(b"\n"):
                continue
            line, buf = buf.strip(), b""
            try:
                a = json.loads(line)
            except ValueError:
                self.noise = (self.noise + [line[:200]])[-5:]
                continue
            if isinstance(a, dict) and a.get("seq") in (seq, -1):
                if a.get("seq") == -1 and seq:
                    raise BoardError("board rejected a request: %s (%s)" % (a.get("message"), a.get("error")), a)
                return a
        hint = ("; last lines from the board: %s" % self.noise[-2:]) if self.noise else ""
        raise BoardError("no answer from the board at %s within %.1f s waiting for %s%s" % (self.url, timeout, what, hint))

    def info(self):
        return self.request("INFO")

    def classify(self, grey, fmt="grey8", digit=False):
        """grey: (h, w) uint8 (a camera frame; the board preprocesses it) or, fmt "mnist",
        a 28x28 MNIST-style digit. Returns the board's answer."""
        grey = np.ascontiguousarray(grey, dtype=np.uint8)
        h, w = grey.shape
        data = grey.tobytes()
        args = [w, h, fmt, len(data), "%08x" % (binascii.crc32(data) & 0xFFFFFFFF)] + (["digit"] if digit else [])
        return self.request("CLASSIFY", args, payload=data)

    def camera(self, kind, port, baud=115200, res="80x60"):
        return self.request("CAMERA", [kind, port, baud, res], timeout=max(self.timeout, 15))

    def snap(self, digit=False):
        return self.request("SNAP", ["digit"] if digit else [], timeout=max(self.timeout, 15))

    def leave(self):
        return self.request("REPL")
