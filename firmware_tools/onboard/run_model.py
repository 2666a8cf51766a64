# Classify a file of raw images with device/gnet.py and write the int8 scores and the
# confidence: the device side of `make test-parity`. Runs unchanged on MicroPython and
# CPython:
#
#   micropython firmware_tools/onboard/run_model.py MODEL IMAGES SCORES [BACKEND] [stream]
#
# IMAGES: n * n_in bytes (uint8 pixels). SCORES: per image n_classes bytes (int8 scores)
# and 2 bytes (uint16 LE: the confidence in 1/10000), written as it goes. BACKEND: one of
# gnet.BACKENDS ("" or none: the fastest here). Prints one JSON line: images, backend,
# milliseconds, heap (MicroPython).
import gc
import json
import sys

import prologue

ARGV = prologue.setup(sys.argv)  # device/ first on the import path
import gnet  # noqa: E402


def main(argv):
    if len(argv) < 4:
        print("usage: run_model.py MODEL IMAGES SCORES [%s] [stream]" % "|".join(gnet.BACKENDS))
        sys.exit(2)
    backend = argv[4] if len(argv) > 4 and argv[4] else None
    stream = len(argv) > 5 and argv[5] == "stream"
    gc.collect()
    model = gnet.Model(argv[1], stream=stream, backend=backend)
    n_in = model.width * model.height * model.channels
    image = bytearray(n_in)  # (n_in,) uint8, reused for every image
    conf = bytearray(2)      # the confidence, uint16 little-endian
    n = 0
    src = open(argv[2], "rb")
    dst = open(argv[3], "wb")
    gc.collect()
    info = {"backend": model.backend, "stream": stream, "implementation": sys.implementation.name}
    try:
        info["heap_total"] = gc.mem_alloc() + gc.mem_free()
        info["heap_model"] = gc.mem_alloc()  # live bytes: code, model, buffers
    except AttributeError:  # CPython
        pass
    t0 = prologue.ticks_ms()
    while src.readinto(image) == n_in:
        if n == 1 and "heap_model" in info:
            # what one classification allocates (function frames; garbage the GC reclaims)
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            s = model.scores(image)
            info["heap_per_image"] = gc.mem_alloc() - before
            info["heap_peak"] = gc.mem_alloc()  # the most the heap holds while classifying
            gc.enable()
        else:
            s = model.scores(image)
        c = model.confidence(s)
        conf[0] = c & 255
        conf[1] = c >> 8
        dst.write(s)
        dst.write(conf)
        n += 1
    info["ms"] = prologue.ticks_ms() - t0
    info["images"] = n
    src.close()
    dst.close()
    model.close()
    print(json.dumps(info))


main(ARGV)
