"""Simulated serial cameras on a pseudo-terminal, byte for byte like the hardware.

    sim = UCamSim(scene).start()     # sim.port: /dev/pts/N, open it with pyserial
    sim.fault("corrupt")             # the next picture has one byte flipped
    ...
    sim.stop()

Kinds: "ucam" (4D Systems uCAM-II: 6-byte commands, raw grey and JPEG in packages),
"vc0706" (the "TTL serial JPEG camera": 0x56/0x76 commands, frame buffer read in
chunks), "stream" (a board such as an OpenMV Cam running firmware_tools/onboard/stream_cam.py:
"snap\\n" -> a header line and the bytes). Each picture is rendered by a Scene from the
next digit; `sim.sent` records (digit index, label, CRC-32 of the grey frame) for tests.

Faults, each for the next picture unless said (`sim.fault(name)`):
  drop     one byte of the picture never arrives
  corrupt  one byte of the picture arrives changed (one read of it; a re-read is clean)
  stop     the picture stops half way, then the camera is quiet until a SYNC/reset/new request
  silent   the camera stops answering anything (until sim.fault("wake"))
  sleep    the camera sleeps: it ignores everything until woken (uCAM: SYNC; VC0706: reset)
  garbage  noise bytes on the line before the next answer
"""
from __future__ import annotations

import binascii
import os
import select
import threading
import time

from firmware_tools import ptyport

FAULTS = ("drop", "corrupt", "stop", "silent", "sleep", "garbage", "wake")


class _PtySim(ptyport.Started):
    def __init__(self, scene, start_index=0):
        self.scene = scene
        self.index = start_index  # the next digit to show
        self.sent = []            # (index, label, crc32 of the grey frame) per picture rendered
        self.faults = []
        self.silent = False
        self.asleep = False
        self._stopped = False     # silent because the "stop" fault cut a picture short
        self.bytes_in = 0
        self.bytes_out = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        self._master, self._slave, self.port = ptyport.open_raw()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        ptyport.close(self._master, self._slave)

    def fault(self, name):
        if name not in FAULTS:
            raise ValueError("fault %r: one of %s" % (name, ", ".join(FAULTS)))
        with self._lock:
            if name == "wake":
                self.silent = self.asleep = False
            elif name == "silent":
                self.silent = True
            elif name == "sleep":
                self.asleep = True
            else:
                self.faults.append(name)

    def _take(self, name):
        with self._lock:
            if name in self.faults:
                self.faults.remove(name)
                return True
        return False

    # ------------------------------------------------------------ bytes
    def _read(self, n):
        out = b""
        while len(out) < n:
            if not select.select([self._master], [], [], 0.1)[0]:
                if self._stop.is_set():
                    raise EOFError
                continue
            try:
                b = os.read(self._master, n - len(out))
            except OSError:
                raise EOFError from None
            if not b:
                raise EOFError
            self.bytes_in += len(b)
            out += b
        return out

    def _write(self, data):
        if self.silent or self._stop.is_set():
            return
        if self._take("garbage"):
            data = b"\x00\xff\x55garbage\xaa\x13" + data
        try:
            os.write(self._master, data)
            self.bytes_out += len(data)
        except OSError:
            pass

    def _picture_bytes(self, data):
        # apply the picture faults to a picture (or one package of it) about to be sent
        if self._take("drop"):
            k = len(data) // 2
            data = data[:k] + data[k + 1:]
        if self._take("corrupt"):
            k = len(data) // 2
            data = data[:k] + bytes([data[k] ^ 0x5A]) + data[k + 1:]
        if self._take("stop"):
            self._write(data[:len(data) // 2])
            self.silent = True
            self._stopped = True
            return None
        return data

    def _resume(self):
        # a camera stopped half way by the "stop" fault answers a new request again
        if self._stopped:
            self._stopped = self.silent = False

    def _render(self, w, h, jpeg=False, quality=85):
        i = self.index
        self.index += 1
        grey = self.scene.frame(i, w, h)
        self.sent.append((i, self.scene.label(i), binascii.crc32(grey.tobytes()) & 0xFFFFFFFF))
        if jpeg:
            return self.scene.jpeg(i, w, h, quality)
        return grey.tobytes()

    def _loop(self):
        try:
            self.serve()
        except EOFError:
            pass


class UCamSim(_PtySim):
    """4D Systems uCAM-II. Commands AA id p1 p2 p3 p4; see device/ucam.py."""
    RAW = {0x01: (80, 60), 0x03: (160, 120), 0x09: (128, 128), 0x0B: (128, 96)}
    JPEG = {0x03: (160, 128), 0x05: (320, 240), 0x07: (640, 480)}

    def __init__(self, scene, sync_delay=0.0, **kw):
        super().__init__(scene, **kw)
        self.sync_delay = sync_delay  # s before answering a SYNC: a slow camera, or a busy machine
        self.synced = False
        self.colour = None
        self.raw_size = self.jpeg_size = None
        self.package = 64
        self.snapshot = None  # (kind, bytes) frozen by SNAPSHOT
        self._jpeg = None     # the JPEG being sent in packages
        self._acks = 0
        self._naks = 0

    def _packet(self, cid, p1=0, p2=0, p3=0, p4=0):
        return bytes([0xAA, cid, p1, p2, p3, p4])

    def _ack(self, cid, lo=0, hi=0):
        self._acks = (self._acks + 1) & 0xFF
        self._write(self._packet(0x0E, cid, self._acks, lo, hi))

    def _nak(self, error):
        self._naks = (self._naks + 1) & 0xFF
        self._write(self._packet(0x0F, 0, self._naks, error, 0))

    def serve(self):
        while True:
            b = self._read(1)
            if b[0] != 0xAA:
                continue  # not a command start: the camera ignores it
            cmd = self._read(5)
            cid, p = cmd[0], cmd[1:]
            if cid in (0x0D, 0x04, 0x05):  # SYNC, GET PICTURE, SNAPSHOT
                self._resume()
            if self.silent:
                continue
            if self.asleep:
                if cid != 0x0D:
                    continue
                self.asleep = False
            self._command(cid, p)

    def _command(self, cid, p):
        if cid == 0x0D:    # SYNC -> ACK(SYNC) + SYNC
            if self.sync_delay:
                time.sleep(self.sync_delay)  # the host meanwhile sends more SYNCs: each is answered
            self._ack(0x0D)
            self._write(self._packet(0x0D))
            return
        if cid == 0x0E:    # ACK from the host: the end of a SYNC or a picture, or a package request
            if p[0] == 0x0D:
                self.synced = True
            elif p[0] == 0x00 and self._jpeg is not None:
                self._send_package(p[2] | p[3] << 8)
            return
        if not self.synced:
            return  # before SYNC the camera has not locked onto the baud rate
        if cid == 0x01:    # INITIAL 00 colour raw jpeg
            colour, raw, jpeg = p[1], p[2], p[3]
            if colour == 0x03 and raw in self.RAW:
                self.colour, self.raw_size = colour, self.RAW[raw]
            elif colour == 0x07 and jpeg in self.JPEG:
                self.colour, self.jpeg_size = colour, self.JPEG[jpeg]
            elif colour not in (0x03, 0x07, 0x06, 0x08):
                return self._nak(0x09)  # picture format error
            else:
                return self._nak(0x0A)  # picture size error (or a colour mode this sim lacks)
            return self._ack(0x01)
        if cid == 0x06:    # SET PACKAGE SIZE 08 lo hi
            size = p[1] | p[2] << 8
            if p[0] != 0x08 or not 64 <= size <= 512:
                return self._nak(0x11)
            self.package = size
            return self._ack(0x06)
        if cid == 0x05:    # SNAPSHOT type skip-lo skip-hi
            if self.colour is None:
                return self._nak(0x0F)
            self._ack(0x05)
            if p[0] == 0x01 and self.colour == 0x03:
                self.snapshot = ("raw", self._render(*self.raw_size))
            elif p[0] == 0x00 and self.colour == 0x07:
                self.snapshot = ("jpeg", self._render(*self.jpeg_size, jpeg=True))
            else:
                self.snapshot = None
            return
        if cid == 0x04:    # GET PICTURE type
            kind = p[0]
            if kind == 0x01:
                if self.snapshot is None:
                    return self._nak(0x0F)  # picture not ready
                what, data = self.snapshot
            elif kind == 0x02 and self.colour == 0x03:
                what, data = "raw", self._render(*self.raw_size)
            elif kind == 0x05 and self.colour == 0x07:
                what, data = "jpeg", self._render(*self.jpeg_size, jpeg=True)
            else:
                return self._nak(0x01)  # picture type error
            self._ack(0x04)
            n = len(data)
            self._write(self._packet(0x0A, kind, n & 0xFF, n >> 8 & 0xFF, n >> 16))
            if what == "raw":
                data = self._picture_bytes(data)
                if data is not None:
                    self._write(data)
                self._jpeg = None
            else:
                self._jpeg = data
            return
        if cid == 0x08:    # RESET
            self.synced = False
            self.colour = self.snapshot = None
            return self._ack(0x08)
        if cid in (0x07, 0x13, 0x14, 0x15):  # baud, light, contrast/brightness, sleep: accepted
            return self._ack(cid)
        self._nak(0x0D)  # command ID error

    def _send_package(self, pid):
        # package: id (2, LE), size (2, LE), data, verify (low byte of the sum of all before, 00)
        if pid == 0xF0F0:
            self._jpeg = None
            return
        per = self.package - 6
        data = self._jpeg[pid * per:(pid + 1) * per]
        if not data:
            return self._nak(0x10)  # transfer package number error
        body = bytes([pid & 0xFF, pid >> 8, len(data) & 0xFF, len(data) >> 8]) + data
        pkg = body + bytes([sum(body) & 0xFF, 0])
        pkg = self._picture_bytes(pkg)
        if pkg is not None:
            self._write(pkg)


class VC0706Sim(_PtySim):
    """VC0706 "TTL serial JPEG camera". Requests 56 serial cmd len args; answers 76 serial cmd status len data."""
    SIZES = {0x00: (640, 480), 0x11: (320, 240), 0x22: (160, 120)}
    BOOT = b"VC0703 1.00\r\nCtrl infr exist\r\nUser-defined sensor\r\n625\r\nInit end\r\n"

    def __init__(self, scene, **kw):
        super().__init__(scene, **kw)
        self.size = 0x00   # 640x480 after power-up, as the real camera
        self.frame = None  # the JPEG frozen by FBUF_CTRL stop

    def _reply(self, cmd, status=0, data=b""):
        self._write(bytes([0x76, 0x00, cmd, status, len(data)]) + data)

    def serve(self):
        while True:
            b = self._read(1)
            if b[0] != 0x56:
                continue
            serial, cmd, n = self._read(3)
            args = self._read(n) if n else b""
            if cmd == 0x26:  # reset wakes a sleeping or stuck camera (not a dead one)
                self._resume()
                self.asleep = self.asleep and self.silent
            if self.silent or self.asleep:
                continue
            self._command(cmd, args)

    def _command(self, cmd, a):
        if cmd == 0x26:    # SYSTEM_RESET -> ack, then the boot text
            self._reply(0x26)
            self.frame = None
            time.sleep(0.05)
            self._write(self.BOOT)
        elif cmd == 0x11:  # GEN_VERSION
            self._reply(0x11, 0, b"VC0703 1.00")
        elif cmd == 0x31 and len(a) == 5 and a[:4] == b"\x04\x01\x00\x19":  # WRITE_DATA image size
            if a[4] not in self.SIZES:
                return self._reply(0x31, 3)  # data format error
            self.size = a[4]
            self._reply(0x31)
        elif cmd == 0x30 and a == b"\x04\x01\x00\x19":  # READ_DATA image size
            self._reply(0x30, 0, bytes([self.size]))
        elif cmd == 0x36 and len(a) == 1:  # FBUF_CTRL: 00 stop (freeze a frame), 03 resume
            if a[0] == 0x00:
                self.frame = self._render(*self.SIZES[self.size], jpeg=True)
            elif a[0] == 0x03:
                self.frame = None
            self._reply(0x36)
        elif cmd == 0x34 and len(a) == 1:  # GET_FBUF_LEN -> 4 bytes big-endian
            n = len(self.frame) if self.frame else 0
            self._reply(0x34, 0, n.to_bytes(4, "big"))
        elif cmd == 0x32 and len(a) == 12:  # READ_FBUF 0C: type 0A, addr(4), len(4), delay(2)
            if self.frame is None:
                return self._reply(0x32, 4)  # can't execute now: no frozen frame
            addr = int.from_bytes(a[2:6], "big")
            n = int.from_bytes(a[6:10], "big")
            self._reply(0x32)
            data = self._picture_bytes(self.frame[addr:addr + n])
            if data is None:
                return
            self._write(data)
            self._reply(0x32)
        else:
            self._reply(cmd, 3)


class StreamSim(_PtySim):
    """A board streaming frames over USB serial (firmware_tools/onboard/stream_cam.py):
    "snap\\n" -> "FRAME <fmt> <w> <h> <length> <crc32 hex>\\n" + the bytes."""

    def __init__(self, scene, fmt="grey8", width=160, height=120, **kw):
        super().__init__(scene, **kw)
        self.fmt, self.width, self.height = fmt, width, height

    def serve(self):
        line = b""
        while True:
            c = self._read(1)
            if c != b"\n":
                line = (line + c)[-64:]
                continue
            cmd, line = line.strip(), b""
            self._resume()
            if self.silent or self.asleep:
                continue
            if cmd == b"snap":
                data = self._render(self.width, self.height, jpeg=self.fmt == "jpeg")
                head = "FRAME %s %d %d %d %08x\n" % (self.fmt, self.width, self.height, len(data),
                                                    binascii.crc32(data) & 0xFFFFFFFF)
                self._write(head.encode())
                data = self._picture_bytes(data)
                if data is not None:
                    self._write(data)
            elif cmd:
                self._write(b"ERR unknown command %r\n" % cmd[:20])


def simulator(kind):
    """The simulator class for a camera kind of firmware_tools/cameras.py's registry."""
    from firmware_tools.cameras import KINDS

    return globals()[KINDS[kind].simulator]
