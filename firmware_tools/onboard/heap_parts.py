# Where the board app's heap goes, part by part, for one model: the device side of
# `python bench/board_heap.py --parts`.
#
#   micropython -X heapsize=1024k firmware_tools/onboard/heap_parts.py -d FLASH_DIR MODEL STREAM W H [ROMFS]
#
# FLASH_DIR: the files as a board holds them (.mpy where precompiled). Each part is taken
# in the order the app takes it, and measured as the heap it adds (gc.mem_alloc() after a
# collection, before and after): the interpreter's own start, gnet's code with its
# fastest backend's kernels, app.py's code, a ConvNet's layer code (gnet_conv and its
# backend's kernels, imported here before the load so that its data is apart), the
# model's data (STREAM 1: streamed), mnistify's code, a W x H frame with mnistify's
# tables. One line a part: "<bytes> <name>". What the bisected smallest heap holds beyond
# their sum is the App object, the load's peak, the heap's holes and the app's headroom.
# ROMFS: an image of the .mpy files (`mpremote romfs build`), mounted first, as a board
# with a ROM partition has it (MicroPython 1.25+, vfs.VfsRom): its bytecode runs in place.
# Here the image is read into the heap; that block is not counted (a board maps it from
# flash), so the parts are what its code takes in RAM.
import gc
import sys

import prologue

ARGV = prologue.setup(sys.argv)
IMAGE = None
SKIP = 0  # the image's block, left out of the interpreter's part
if len(ARGV) > 5:
    import vfs

    gc.collect()
    SKIP = gc.mem_alloc()
    with open(ARGV[5], "rb") as f:
        IMAGE = f.read()
    gc.collect()
    SKIP = gc.mem_alloc() - SKIP
    vfs.mount(vfs.VfsRom(IMAGE), "/rom")
    sys.path.insert(0, "/rom")


def used():
    gc.collect()
    return gc.mem_alloc()


def main(path, stream, w, h):
    at = used() - SKIP
    print(at, "the interpreter (and this script)" + (" and the ROMFS mounted (its %d-byte image not counted)" % len(
        IMAGE) if IMAGE else ""))

    def part(name):
        nonlocal at
        now = used() - SKIP
        print(now - at, name)
        at = now

    import gnet
    part("gnet.py and the %s backend's kernels (code)" % gnet._FASTEST)
    import app  # noqa: F401
    part("app.py (code)")
    f = open(path, "rb")
    convnet = f.read(5)[4:] == b"\x02"  # version 2: a ConvNet
    f.close()
    if convnet:
        import gnet_conv  # noqa: F401
        try:
            __import__("gnet_conv_" + gnet._FASTEST)
        except ImportError:
            pass
        part("a ConvNet's layers: gnet_conv.py and its %s kernels (code)" % gnet._FASTEST)
    m = gnet.Model(path, stream=stream)
    part("the model's data (%s)" % ("streamed" if stream else "in RAM"))
    import mnistify
    part("mnistify.py (code)")
    frame = bytearray(w * h)
    work = mnistify.Work(w, h)
    part("a %dx%d frame and mnistify's tables" % (w, h))
    print(at, "total")
    return m, frame, work


main(ARGV[1], ARGV[2] == "1", int(ARGV[3]), int(ARGV[4]))
