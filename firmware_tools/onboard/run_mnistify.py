# The device side of the preprocessing parity check (`make test-parity`): device/mnistify.py
# on every frame of a file, on MicroPython or CPython.
#
#   micropython firmware_tools/onboard/run_mnistify.py FRAMES OUT [inplace]
#
# FRAMES: records of width (2 bytes, LE), height (2 bytes, LE), width*height grey bytes.
# OUT: 784 bytes per frame. Prints one JSON line: frames, milliseconds, peak heap.
import gc
import json
import sys

import prologue

ARGV = prologue.setup(sys.argv)  # device/ first on the import path
import mnistify  # noqa: E402


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
        t = prologue.ticks_ms()
        mnistify.mnistify(px, w, h, None, out, inplace)
        ms += prologue.ticks_ms() - t
        dst.write(out)
        n += 1
    dst.close()
    info = {"frames": n, "ms": ms, "implementation": sys.implementation.name, "inplace": inplace}
    info["heap_peak"] = prologue.heap_peak()
    print(json.dumps(info))


main(ARGV)
