"""Host-side drivers for serial cameras, over pyserial (`serial.serial_for_url`, so
/dev/ttyUSB0, a pty path and loop:// all work).

    cam = open_camera("ucam", "/dev/ttyUSB0")      # or "ucam-jpeg", "vc0706", "stream"
    frame = cam.grab()        # Frame: .grey (h, w) uint8, .jpeg (bytes or None)
    cam.close()

The uCAM driver is device/ucam.py itself (one implementation of the protocol, tested on
MicroPython too) over a pyserial wire, plus JPEG in packages. Every driver raises
CameraError with a message naming what went wrong; none returns a frame it could not
check (a JPEG package with a bad checksum, a VC0706 frame whose two reads differ, a
stream frame whose CRC-32 is wrong, a picture cut short).
"""
from __future__ import annotations

import binascii
import time
from dataclasses import dataclass

import numpy as np

from device import ucam
from firmware_tools.scene import decode_jpeg


class CameraError(OSError):
    pass


@dataclass
class Frame:
    grey: np.ndarray          # (h, w) uint8, what the network's preprocessing gets
    jpeg: bytes | None = None  # the camera's JPEG, when it sent one
    retries: int = 0          # transfers repeated to get a clean frame


class SerialWire:
    """device/ucam.py's wire over pyserial: fill() returns what arrived before a silence."""

    def __init__(self, ser):
        self.ser = ser

    def write(self, data):
        self.ser.write(bytes(data))

    def fill(self, buf, start, n, timeout_ms):
        # as device/ucam.py's PollWire: a silence of timeout_ms, or timeout_ms + n ms in all
        self.ser.timeout = timeout_ms / 1000
        deadline = time.time() + (timeout_ms + n) / 1000
        got = 0
        while got < n and time.time() < deadline:
            chunk = self.ser.read(n - got)
            if not chunk:
                break
            buf[start + got:start + got + len(chunk)] = chunk
            got += len(chunk)
        return got

    def drain(self):
        # what is waiting (a half answer from before), at most 64 KB: a line that never
        # goes quiet must not hold us here
        self.ser.timeout = 0
        for _ in range(16):
            if not self.ser.read(4096):
                break

    def close(self):
        self.ser.close()


def open_serial(url, baud=115200):
    import serial

    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=1)
    except (serial.SerialException, ValueError) as e:
        from firmware_tools.ports import cannot_open

        raise CameraError(cannot_open(url, e, "camera")) from None


class UCamHost(ucam.UCam):
    """uCAM-II/III on the host: raw grey (device/ucam.py) and JPEG in packages."""
    PACKAGE = 512  # bytes per JPEG package, the largest the camera allows

    def __init__(self, ser, mode="raw", res=None):
        self.mode = mode
        if mode == "jpeg":
            res = res or "160x128"
            if res not in ucam.JPEG_SIZES:
                raise CameraError("uCAM JPEG size %r: one of %s" % (res, ", ".join(sorted(ucam.JPEG_SIZES))))
            super().__init__(SerialWire(ser), "80x60")
            self.res = res
        else:
            super().__init__(SerialWire(ser), res or "80x60")

    def describe(self):
        return "ucam %s %s" % (self.res, "jpeg" if self.mode == "jpeg" else "grey8")

    def start(self):
        self.sync()
        self.init()
        return self

    def init(self):
        if self.mode == "jpeg":
            self.command(0x01, 0, 0x07, 0, ucam.JPEG_SIZES[self.res], "INITIAL")
            n = self.PACKAGE
            self.command(0x06, 0x08, n & 0xFF, n >> 8, 0, "SET PACKAGE SIZE")
        else:
            self.init_raw()

    def grab(self):
        try:
            try:
                if not self.synced:
                    raise OSError("not synchronised")
                return self._grab()
            except OSError:
                self.synced = False
                self.sync()
                self.init()
                f = self._grab()
                f.retries += 1
                return f
        except OSError as e:
            raise CameraError(str(e)) from None

    def _grab(self):
        if self.mode != "jpeg":
            buf = bytearray(self.width * self.height)
            self._raw(buf)
            return Frame(np.frombuffer(bytes(buf), np.uint8).reshape(self.height, self.width))
        jpeg, retries = self._jpeg()
        try:
            return Frame(decode_jpeg(jpeg), jpeg, retries)
        except ValueError as e:
            raise OSError("uCAM: %s" % e) from None

    def _jpeg(self):
        # SNAPSHOT(compressed), GET PICTURE(snapshot) -> DATA(length), then packages on request
        self.wire.drain()
        self.command(0x05, 0x00, 0, 0, 0, "SNAPSHOT")
        self.command(0x04, 0x01, 0, 0, 0, "GET PICTURE")
        a = self.answer(1000)
        if a is None or a[1] != 0x0A:
            raise OSError("uCAM: no DATA after GET PICTURE")
        length = a[3] | a[4] << 8 | a[5] << 16
        per = self.PACKAGE - 6
        out = bytearray()
        retries = 0
        pid = 0
        while len(out) < length:
            want = min(per, length - len(out))
            pkg = bytearray(want + 6)
            for attempt in range(3):
                self.wire.drain()
                self.send(0x0E, 0, 0, pid & 0xFF, pid >> 8)  # ACK(package id): send me package pid
                got = self.wire.fill(pkg, 0, want + 6, 1000)
                ok = (got == want + 6 and (pkg[0] | pkg[1] << 8) == pid and (pkg[2] | pkg[3] << 8) == want
                      and sum(pkg[:want + 4]) & 0xFF == pkg[want + 4])
                if ok:
                    break
                retries += 1
            else:
                raise OSError("uCAM: JPEG package %d failed its checksum 3 times: noise on the line" % pid)
            out += pkg[4:4 + want]
            pid += 1
        self.send(0x0E, 0, 0, 0xF0, 0xF0)  # ACK(F0F0): picture received
        return bytes(out), retries


class VC0706:
    """The VC0706 "TTL serial JPEG camera" (Adafruit 397/1386, LinkSprite LS-Y201)."""
    SIZES = {"640x480": 0x00, "320x240": 0x11, "160x120": 0x22}
    CHUNK = 2048  # frame-buffer bytes per READ_FBUF

    def __init__(self, ser, res="160x120", verify=True):
        if res not in self.SIZES:
            raise CameraError("VC0706 size %r: one of %s" % (res, ", ".join(self.SIZES)))
        self.ser, self.res, self.verify = ser, res, verify
        self.version = None

    def describe(self):
        return "vc0706 %s jpeg" % self.res

    def _send(self, cmd, args=b""):
        # 56 (request) 00 (serial number) cmd len args
        self.ser.write(bytes([0x56, 0x00, cmd, len(args)]) + args)

    def _reply(self, cmd, timeout=1.0):
        # 76 (reply) 00 cmd status len, then len bytes; bytes before 76 00 cmd are skipped
        self.ser.timeout = timeout
        deadline = time.time() + timeout
        window = b""
        while time.time() < deadline:
            c = self.ser.read(1)
            if not c:
                break
            window = (window + c)[-3:]
            if window == bytes([0x76, 0x00, cmd]):
                rest = self.ser.read(2)
                if len(rest) < 2:
                    break
                status, n = rest
                data = self.ser.read(n)
                if len(data) < n:
                    break
                if status:
                    raise CameraError("VC0706: command 0x%02x failed with status %d" % (cmd, status))
                return data
        raise CameraError(
            "VC0706: no answer to command 0x%02x: check wiring, power and baud rate (38400 after power-up)" % cmd)

    def start(self):
        self.reset()
        self._send(0x11)  # GEN_VERSION
        self.version = self._reply(0x11).decode(errors="replace")
        self._send(0x31, bytes([0x04, 0x01, 0x00, 0x19, self.SIZES[self.res]]))  # WRITE_DATA: image size
        self._reply(0x31)
        return self

    def reset(self):
        # SYSTEM_RESET: ack, then the camera reboots and prints its boot text ending "Init end\r\n"
        self.ser.reset_input_buffer()
        self._send(0x26)
        self._reply(0x26)
        self.ser.timeout = 0.2
        text = b""
        deadline = time.time() + 3
        while b"Init end\r\n" not in text and time.time() < deadline:
            text += self.ser.read(64)
        if b"Init end\r\n" not in text:
            raise CameraError("VC0706: no boot text after reset (got %r)" % text[-40:])

    def _fbuf(self, length):
        out = b""
        while len(out) < length:
            n = min(self.CHUNK, length - len(out))
            # READ_FBUF: 0C args: 00 (current frame) 0A (MCU mode), address (4), length (4), delay (2, 0.01 ms)
            self._send(0x32, b"\x00\x0a" + len(out).to_bytes(4, "big") + n.to_bytes(4, "big") + b"\x00\x0a")
            self._reply(0x32)
            self.ser.timeout = 1.0
            data = self.ser.read(n)
            if len(data) < n:
                raise CameraError("VC0706: frame read stopped after %d of %d bytes" % (len(out) + len(data), length))
            self._reply(0x32)  # the same 5 bytes close the data
            out += data
        return out

    def grab(self):
        for attempt in range(2):
            try:
                return self._grab(attempt)
            except CameraError:
                if attempt:
                    raise
                self.start()  # a camera that stopped or slept comes back after a reset

    def _grab(self, attempt):
        self._send(0x36, b"\x00")  # FBUF_CTRL: stop the current frame (capture)
        self._reply(0x36)
        try:
            self._send(0x34, b"\x00")  # GET_FBUF_LEN of the current frame
            length = int.from_bytes(self._reply(0x34), "big")
            if not length:
                raise CameraError("VC0706: empty frame buffer")
            reads, retries = [self._fbuf(length)], 0
            # no checksum in this protocol: read the frozen frame until two reads agree
            while self.verify and (len(reads) < 2 or reads[-1] != reads[-2]):
                if len(reads) == 3:
                    raise CameraError("VC0706: three reads of one frame differ: noise on the line")
                reads.append(self._fbuf(length))
                retries += len(reads) > 2
            try:
                return Frame(decode_jpeg(reads[-1]), reads[-1], retries + attempt)
            except ValueError as e:
                raise CameraError("VC0706: %s" % e) from None
        finally:
            self._send(0x36, b"\x03")  # FBUF_CTRL: resume frame
            try:
                self._reply(0x36)
            except CameraError:
                pass

    def close(self):
        self.ser.close()


class StreamCam:
    """A board that streams frames (firmware_tools/onboard/stream_cam.py on an OpenMV Cam or
    ESP32-CAM): "snap\\n" -> "FRAME <fmt> <w> <h> <length> <crc32 hex>\\n" + bytes."""
    MAX = 4 * 1024 * 1024

    def __init__(self, ser):
        self.ser = ser
        self.last = None

    def describe(self):
        return "stream %s" % (self.last or "")

    def start(self):
        self.ser.reset_input_buffer()
        return self

    def grab(self):
        for attempt in range(2):
            try:
                f = self._grab()
                f.retries = attempt
                return f
            except CameraError:
                if attempt:
                    raise
                time.sleep(0.1)
                self.ser.reset_input_buffer()

    def _grab(self):
        self.ser.write(b"snap\n")
        self.ser.timeout = 2.0
        deadline = time.time() + 2.0
        line = b""
        while not line.startswith(b"FRAME ") and time.time() < deadline:
            line = self.ser.readline()
            if not line:
                break
            if line.startswith(b"ERR"):
                raise CameraError("stream camera: %s" % line.decode(errors="replace").strip())
            line = line[line.find(b"FRAME "):] if b"FRAME " in line else line
        if not line.startswith(b"FRAME "):
            raise CameraError("stream camera: no FRAME header within 2 s (is stream_cam.py running on the board?)")
        try:
            _, fmt, w, h, n, crc = line.decode().split()
            w, h, n, crc = int(w), int(h), int(n), int(crc, 16)
        except ValueError:
            raise CameraError("stream camera: bad header %r" % line[:60]) from None
        if fmt not in ("grey8", "jpeg") or not 0 < n <= self.MAX or (fmt == "grey8" and n != w * h):
            raise CameraError("stream camera: header %r does not describe a frame I take" % line.strip()[:60])
        data = self.ser.read(n)
        if len(data) < n:
            raise CameraError("stream camera: frame stopped after %d of %d bytes" % (len(data), n))
        if binascii.crc32(data) & 0xFFFFFFFF != crc:
            raise CameraError("stream camera: frame CRC-32 mismatch (noise on the line)")
        self.last = "%s %dx%d" % (fmt, w, h)
        if fmt == "jpeg":
            return Frame(decode_jpeg(data), data)
        return Frame(np.frombuffer(data, np.uint8).reshape(h, w))

    def close(self):
        self.ser.close()


@dataclass(frozen=True)
class Kind:
    """One kind of camera: everything the rest of gentlenet needs to know about it."""
    driver: object   # (pyserial port, resolution or None) -> an unstarted driver
    baud: int        # its default speed
    simulator: str   # the class in firmware_tools/camsim.py that speaks its protocol on a pty
    describe: str    # one line for --help


# The registry of camera kinds: the command's choices, the simulators, the bench and the
# tests derive from it. A new kind: its driver above, its simulator in camsim.py, a row.
KINDS = {
    "ucam": Kind(lambda ser, res: UCamHost(ser, "raw", res), 115200, "UCamSim",
                 "4D Systems uCAM-II/III, raw 8-bit grey (80x60 default)"),
    "ucam-jpeg": Kind(lambda ser, res: UCamHost(ser, "jpeg", res), 115200, "UCamSim",
                      "the same camera in JPEG (160x128 default), 512-byte packages"),
    "vc0706": Kind(lambda ser, res: VC0706(ser, res or "160x120"), 38400, "VC0706Sim",
                   "VC0706 'TTL serial JPEG camera' (160x120 default)"),
    "stream": Kind(lambda ser, res: StreamCam(ser), 115200, "StreamSim",
                   "a board streaming frames (firmware_tools/onboard/stream_cam.py)"),
}


def open_camera(kind, url, baud=None, res=None):
    """A started camera driver of one of KINDS."""
    if kind not in KINDS:
        raise CameraError("camera kind %r: one of %s" % (kind, ", ".join(KINDS)))
    k = KINDS[kind]
    ser = open_serial(url, baud or k.baud)
    try:
        cam = k.driver(ser, res)
        try:
            return cam.start()
        except OSError as e:
            raise CameraError(str(e)) from None
    except BaseException:
        ser.close()
        raise
