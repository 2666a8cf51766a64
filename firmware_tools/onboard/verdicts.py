# What device/gnet.py says of each model file: the device side of the model fuzz tests.
#
#   micropython firmware_tools/onboard/verdicts.py [-d DIR] FOLDER N IMAGES MODE [BACKEND]
#
# Loads FOLDER/0.gnet .. FOLDER/(N-1).gnet (MODE: ram, stream, or alternate: odd ones
# streamed; BACKEND: one of gnet.BACKENDS, else the fastest here) and prints a line per
# file: "i|LOADED|<scores hex>/<confidence>;..." for the three images of IMAGES (a third
# of its bytes each, the model's input size read from the start of each; "i|LOADED|big"
# when they are smaller), or "i|ModelError|message", or "i|<type>|message" for anything
# else (a finding).
import gc
import sys
from binascii import hexlify

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402


def verdict(path, stream, images, backend):
    try:
        m = gnet.Model(path, stream=stream, backend=backend)
    except gnet.ModelError as e:
        return "ModelError|%s" % e
    except Exception as e:  # noqa: anything else is a finding
        return "%s|%s" % (type(e).__name__, e)
    try:
        n = m.width * m.height * m.channels
        step = len(images) // 3
        if n > step:
            return "LOADED|big"  # more pixels than the test images have
        out = []
        for k in range(3):
            # a view, not a copy: a copy of a big forged picture may not fit beside the model
            s = m.scores(images[k * step:k * step + n])
            out.append("%s/%d" % (hexlify(bytes(s)).decode(), m.confidence(s)))
        return "LOADED|%s" % ";".join(out)
    except Exception as e:  # noqa
        return "CRASH %s|%s" % (type(e).__name__, e)
    finally:
        m.close()


def main(argv):
    folder, n, mode = argv[1], int(argv[2]), argv[4]
    backend = argv[5] if len(argv) > 5 and argv[5] else None
    with open(argv[3], "rb") as f:
        images = memoryview(f.read())
    for i in range(n):
        gc.collect()
        stream = mode == "stream" or (mode == "alternate" and i % 2 == 1)
        print("%d|%s" % (i, verdict("%s/%d.gnet" % (folder, i), stream, images, backend)))


main(ARGV)
