# The device side of the preprocessing parity check (`make test-parity`): device/mnistify.py
# on every frame of a file, on MicroPython or CPython.
#
#   micropython firmware_tools/run_mnistify.py FRAMES OUT [inplace]
#
# FRAMES: records of width (2 bytes, LE), height (2 bytes, LE), width*height grey bytes.
# OUT: 784 bytes per frame. Prints one JSON line: frames, milliseconds, peak heap.
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/../device")

import gc
import json
import time

import mnistify


def _ticks_ms():
    try:
        return time.ticks_ms()
    except AttributeError:
        return int(time.time() * 1000)


def main(argv):
    inplace = len(argv) > 3 and argv[3] == "inplace"
    src = open(argv[1], "rb")
    dst = open(argv[2], "wb")
    out = bytearray(784)  # (28, 28) uint8, reused
    n = 0
    ms = 0
    while True:
        head = src.read(4)
        if len(head) < 4:
            break
        w = head[0] | head[1] << 8
        h = head[2] | head[3] << 8
        px = bytearray(src.read(w * h))  # writable: the in-place run may invert it
        gc.collect()
        t = _ticks_ms()
        mnistify.mnistify(px, w, h, None, out, inplace)
        ms += _ticks_ms() - t
        dst.write(out)
        n += 1
    dst.close()
    info = {"frames": n, "ms": ms, "implementation": sys.implementation.name, "inplace": inplace}
    try:
        import micropython
        info["heap_peak"] = micropython.mem_peak() if hasattr(micropython, "mem_peak") else None
    except ImportError:
        pass
    print(json.dumps(info))


main(sys.argv)
