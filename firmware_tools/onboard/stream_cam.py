# A camera board that streams frames over its USB serial line, for
# `gentlenet classify --kind stream`: copy it to an OpenMV Cam (as main.py) or to an
# ESP32-CAM running a MicroPython build with the `camera` module.
#
#   host: "snap\n"  ->  board: "FRAME <fmt> <w> <h> <length> <crc32 hex>\n" + <length> bytes
#   fmt: grey8 (OpenMV: raw 8-bit grey, row-major) or jpeg (ESP32-CAM).
#
# The host checks the CRC-32 and drops a damaged frame. StreamSim in camsim.py speaks the
# same bytes; this script itself needs the hardware (it is not run by the tests).
import sys
from binascii import crc32

try:  # OpenMV
    import sensor
    import pyb

    sensor.reset()
    sensor.set_pixformat(sensor.GRAYSCALE)
    sensor.set_framesize(sensor.QQVGA)  # 160x120
    sensor.skip_frames(time=2000)      # let exposure settle
    usb = pyb.USB_VCP()
    usb.setinterrupt(-1)               # frames may contain 0x03: no KeyboardInterrupt from them

    def grab():
        img = sensor.snapshot()
        return "grey8", img.width(), img.height(), img.bytearray()

    def read_line():
        return usb.readline()

    def write(b):
        usb.write(b)
except ImportError:  # ESP32-CAM (MicroPython with the `camera` module)
    import camera

    camera.init(0, format=camera.JPEG, framesize=camera.FRAME_QQVGA)

    def grab():
        return "jpeg", 160, 120, camera.capture()

    def read_line():
        return sys.stdin.buffer.readline()

    def write(b):
        sys.stdout.buffer.write(b)

while True:
    line = read_line()
    if not line or line.strip() != b"snap":
        continue
    fmt, w, h, data = grab()
    write(("FRAME %s %d %d %d %08x\n" % (fmt, w, h, len(data), crc32(data) & 0xFFFFFFFF)).encode())
    write(data)
