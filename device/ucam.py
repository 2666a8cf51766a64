# 4D Systems uCAM-II / uCAM-III serial camera, raw 8-bit grey, over any stream: a
# machine.UART on a board, a pty or file on the unix port (and pyserial on the host, see
# firmware_tools/cameras.py, which adds JPEG). Runs unchanged on MicroPython and CPython.
#
# Every command and answer is 6 bytes: 0xAA, the command ID, four parameters.
#   host SYNC (up to 60 times, 5 ms more wait each) -> camera ACK(SYNC) + SYNC -> host ACK
#   INITIAL(grey8, raw size) -> ACK
#   SNAPSHOT(uncompressed) -> ACK                  (the frame is frozen in the camera)
#   GET PICTURE(snapshot) -> ACK, DATA(length: 3 bytes little-endian), then the pixels
#   (row-major, one byte each) -> host ACK(DATA)
# A NAK carries an error number. An idle camera sleeps (15 s by default) and then needs a
# new SYNC: capture() re-synchronises once when the camera stops answering.
# Raw pictures carry no checksum, so the frozen snapshot is read until two reads in a row
# have the same CRC-32 (at most _READS): line noise is caught, never classified.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from binascii import crc32
import time

import select  # MicroPython 1.22+ (the runtime's floor) names it so on every port


def _ticks_ms():
    try:
        return time.ticks_ms()
    except AttributeError:  # CPython
        return int(time.monotonic() * 1000)


def _ticks_diff(a, b):
    try:
        return time.ticks_diff(a, b)
    except AttributeError:
        return a - b

_HEAD = const(0xAA)          # first byte of every command and answer
_INITIAL = const(0x01)       # AA 01 00 colour raw-size jpeg-size
_GET_PICTURE = const(0x04)   # AA 04 type 00 00 00
_SNAPSHOT = const(0x05)      # AA 05 type skip-lo skip-hi 00
_DATA = const(0x0A)          # AA 0A type len0 len1 len2 (length little-endian)
_SYNC = const(0x0D)          # AA 0D 00 00 00 00
_ACK = const(0x0E)           # AA 0E command-id ack-counter package-lo package-hi
_NAK = const(0x0F)           # AA 0F 00 nak-counter error 00
_GREY8 = const(0x03)         # INITIAL colour: 8-bit grey
_PIC_SNAPSHOT = const(0x01)  # GET PICTURE: the last SNAPSHOT
_SYNC_TRIES = const(60)      # the datasheet's limit
_ACK_MS = const(500)         # wait for an answer to a command
_DATA_MS = const(1000)       # silence inside picture data that means the camera stopped
_READS = const(3)            # reads of one snapshot looking for two that agree
_SNAP_RAW = const(0x01)      # SNAPSHOT: uncompressed
_DRAIN_MAX = const(4096)     # bytes a drain discards at most (a line that never goes quiet)
_S_IFMT = const(0o170000)    # stat mode: file type bits
_S_IFCHR = const(0o020000)   # stat mode: a character device (a tty, a pty, a UART)

RAW_SIZES = {"80x60": 0x01, "160x120": 0x03, "128x128": 0x09, "128x96": 0x0B}
JPEG_SIZES = {"160x128": 0x03, "320x240": 0x05, "640x480": 0x07}
NAK_ERRORS = {
    0x01: "picture type error", 0x02: "picture up scale", 0x03: "picture scale error",
    0x04: "unexpected reply", 0x05: "send picture timeout", 0x06: "unexpected command",
    0x07: "SRAM JPEG type error", 0x08: "SRAM JPEG size error", 0x09: "picture format error",
    0x0A: "picture size error", 0x0B: "parameter error", 0x0C: "send register timeout",
    0x0D: "command ID error", 0x0F: "picture not ready", 0x10: "transfer package number error",
    0x11: "set transfer package size wrong", 0xF0: "command header error",
    0xF1: "command length error", 0xF5: "send picture error", 0xFF: "send command error",
}


class PollWire:
    # A stream read with a timeout: select.poll, then one byte at a time (a blocking
    # read of more could wait forever on a camera that stopped).
    def __init__(self, stream):
        self.stream = stream
        self._poll = select.poll()
        self._poll.register(stream, select.POLLIN)
        self._one = bytearray(1)

    def write(self, data):
        self.stream.write(data)

    def fill(self, buf, start, n, timeout_ms):
        # buf[start:start+n] from the stream; returns how many arrived before a silence of
        # timeout_ms, or before timeout_ms + n ms in all (1 ms a byte is 9600 baud: a line
        # that trickles a byte at a time cannot hold us for hours)
        one = self._one
        t0 = _ticks_ms()
        for i in range(start, start + n):
            if not self._poll.poll(timeout_ms) or not self.stream.readinto(one):
                return i - start
            buf[i] = one[0]
            if _ticks_diff(_ticks_ms(), t0) > timeout_ms + n:
                return i + 1 - start
        return n

    def drain(self):
        # discard what is waiting (a half answer from before), at most _DRAIN_MAX bytes
        n = 0
        while n < _DRAIN_MAX and self._poll.poll(0) and self.stream.readinto(self._one):
            n += 1

    def close(self):
        try:
            self.stream.close()
        except AttributeError:
            pass


def open_port(spec, baud=115200):
    # "1" or "1,4,5" (UART id, tx pin, rx pin) on a board; a serial device path (a tty or a
    # pty) on the unix port. Anything else is refused before it is opened: a mistyped
    # argument must never open (and write SYNCs into) a file such as model.gnet.
    if spec[:1].isdigit():
        try:
            import machine
            parts = [int(p) for p in spec.split(",")]
            if len(parts) == 3:
                uart = machine.UART(parts[0], baud, tx=machine.Pin(parts[1]), rx=machine.Pin(parts[2]))
            elif len(parts) == 1:
                uart = machine.UART(parts[0], baud)
            else:
                raise ValueError("%r: a UART id, or id,tx,rx" % spec)
        except (ImportError, AttributeError):
            raise OSError("%r: this port has no machine.UART; give a serial device path" % spec)
        return PollWire(uart)
    import os
    try:
        mode = os.stat(spec)[0]
    except OSError:
        raise OSError("%r: no such serial device" % spec)
    if mode & _S_IFMT != _S_IFCHR:
        raise OSError("%r is not a serial device (a file or folder); give a UART id or a tty path" % spec)
    try:
        return PollWire(open(spec, "r+b"))
    except OSError as e:
        raise OSError("%r: cannot open it: %s" % (spec, why(e)))


# errno -> what it means here (MicroPython's str(OSError(6)) is just "6")
_ERRNO = {1: "not permitted", 2: "no such device", 5: "input/output error", 6: "no such device or address (ENXIO)",
          13: "permission denied", 16: "busy", 19: "no such device", 110: "timed out"}


def why(e):
    # an exception's message, an errno said in words
    a = e.args
    if len(a) == 1 and isinstance(a[0], int):
        return "error %d: %s" % (a[0], _ERRNO.get(a[0], "see errno %d" % a[0]))
    return str(e)


def start(args):
    # CAMERA's arguments (kind, port, [baud], [WxH]) -> a synchronised UCam in raw mode
    if args[0] != "ucam":
        raise ValueError("camera kind %r: the board drives ucam (uCAM-II/III raw grey)" % args[0])
    cam = UCam(open_port(args[1], int(args[2]) if len(args) > 2 else 115200), args[3] if len(args) > 3 else "80x60")
    try:
        cam.sync()
        cam.init_raw()
    except OSError as e:
        cam.close()
        raise OSError(why(e))
    return cam


class UCam:
    def __init__(self, wire, res="80x60"):
        if res not in RAW_SIZES:
            raise ValueError("uCAM raw size %r: one of %s" % (res, ", ".join(sorted(RAW_SIZES))))
        self.wire = wire
        self.res = res
        w, h = res.split("x")
        self.width, self.height = int(w), int(h)
        self.synced = False
        self._cmd = bytearray(6)   # the command being sent
        self._ans = bytearray(6)   # the answer being read

    def describe(self):
        return "ucam %s grey8" % self.res

    def close(self):
        self.wire.close()

    # ------------------------------------------------------------ the 6-byte packets
    def send(self, cid, p1=0, p2=0, p3=0, p4=0):
        c = self._cmd
        c[0] = _HEAD
        c[1] = cid
        c[2] = p1
        c[3] = p2
        c[4] = p3
        c[5] = p4
        self.wire.write(c)

    def answer(self, timeout_ms=_ACK_MS):
        # the next 6-byte packet (bytes before 0xAA are skipped), or None when none came
        # within timeout_ms: a line that sends only noise ends too
        a = self._ans
        t0 = _ticks_ms()
        while True:
            if self.wire.fill(a, 0, 1, timeout_ms) < 1:
                return None
            if a[0] == _HEAD:
                break
            if _ticks_diff(_ticks_ms(), t0) > timeout_ms:
                return None
        if self.wire.fill(a, 1, 5, timeout_ms) < 5:
            return None
        return a

    def command(self, cid, p1=0, p2=0, p3=0, p4=0, what="command"):
        # send and wait for its ACK; a NAK or silence raises OSError. Stale packets (the
        # camera's late ACK or SYNC for an earlier SYNC on a slow line) are skipped.
        self.send(cid, p1, p2, p3, p4)
        t0 = _ticks_ms()
        while True:
            a = self.answer()
            if a is None:
                raise OSError("uCAM: no answer to %s (0x%02x)" % (what, cid))
            if a[1] == _NAK:
                raise OSError("uCAM: %s refused: NAK %s" % (what, NAK_ERRORS.get(a[4], "error 0x%02x" % a[4])))
            if a[1] == _ACK and a[2] == cid:
                return a
            stale = a[1] == _SYNC or (a[1] == _ACK and a[2] == _SYNC)
            if not stale or _ticks_diff(_ticks_ms(), t0) > _ACK_MS:
                raise OSError("uCAM: %s answered with %02x %02x instead of ACK" % (what, a[1], a[2]))

    def sync(self, tries=_SYNC_TRIES):
        # SYNC until the camera ACKs and sends its own SYNC, then ACK that
        self.wire.drain()
        for i in range(tries):
            self.send(_SYNC)
            a = self.answer(5 + i)  # the datasheet's growing wait
            if a is None or a[1] != _ACK or a[2] != _SYNC:
                continue
            a = self.answer()
            if a is not None and a[1] == _SYNC:
                self.send(_ACK, _SYNC)
                self.synced = True
                # answers to the earlier SYNCs may still be on their way: let them land
                # and drop them, so that the next command reads its own answer
                for _ in range(2 * i + 2):  # at most an ACK and a SYNC per earlier SYNC
                    if self.answer(20 + i) is None:
                        break
                return i + 1
        raise OSError("uCAM: no answer to %d SYNCs: check wiring (camera TX -> board RX), power and baud rate" % tries)

    def init_raw(self):
        self.command(_INITIAL, 0, _GREY8, RAW_SIZES[self.res], 0, "INITIAL")

    # ------------------------------------------------------------ pictures
    def capture(self, buf):
        # a raw grey frame into buf; returns (width, height). Re-syncs once if needed.
        try:
            if not self.synced:
                raise OSError("not synchronised")
            return self._raw(buf)
        except OSError:
            self.synced = False
            self.sync()
            self.init_raw()
            return self._raw(buf)

    def _raw(self, buf):
        n = self.width * self.height
        if len(buf) < n:
            raise ValueError("frame buffer of %d bytes for a %s frame" % (len(buf), self.res))
        self.wire.drain()
        self.command(_SNAPSHOT, _SNAP_RAW, 0, 0, 0, "SNAPSHOT")
        last = None
        for i in range(_READS):
            crc = self._read_snapshot(buf, n)
            if crc == last:
                return self.width, self.height
            last = crc
        raise OSError(
            "uCAM: %d reads of one snapshot all differ: noise on the line (check wiring, lower the baud rate)" % _READS)

    def _read_snapshot(self, buf, n):
        # GET PICTURE(snapshot) into buf[:n]; returns its CRC-32
        self.command(_GET_PICTURE, _PIC_SNAPSHOT, 0, 0, 0, "GET PICTURE")
        a = self.answer(_DATA_MS)
        if a is None or a[1] != _DATA:
            raise OSError("uCAM: no DATA after GET PICTURE")
        length = a[3] | a[4] << 8 | a[5] << 16
        if length != n:
            raise OSError("uCAM: DATA of %d bytes, a %s grey frame is %d" % (length, self.res, n))
        got = self.wire.fill(buf, 0, n, _DATA_MS)
        if got != n:
            raise OSError("uCAM: picture stopped after %d of %d bytes" % (got, n))
        self.send(_ACK, _DATA, 0, 1, 0)  # ACK(DATA): picture received
        return crc32(memoryview(buf)[:n])
