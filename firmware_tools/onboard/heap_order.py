# Does the order of the board app's start change the smallest heap? The app today imports
# its code (app.py), then loads the model beside a held block for the frame, then imports
# mnistify. The load leaves its free heap in small holes between the model's objects, and
# mnistify's code then finds no block large enough (docs/REFERENCE.md). Loading the model
# first lets the app's code, small pieces, go into those holes.
#
#   micropython -X heapsize=78k firmware_tools/onboard/heap_order.py -d FLASH_DIR ORDER MODEL STREAM
#
# ORDER: "app-first" (as the app does it) or "load-first". Prints "OK <bytes free>" when the
# model, the app's code, mnistify's code, an 80x60 frame and mnistify's tables all fit, else
# "FAIL <error>". Only the parts: no App object, no serving (bench/board_heap.py bisects that).
import gc
import sys

import prologue

ARGV = prologue.setup(sys.argv)


_W, _H = 80, 60
_TABLES = 5912  # app._tables(80, 60): not imported from app, whose code's place is what is measured


def main(order, path, stream):
    import gnet

    try:
        if order == "app-first":
            import app  # noqa: F401
        hold = bytearray(_W * _H + _TABLES)  # held for the frame and mnistify's tables, as the app does
        m = gnet.Model(path, stream=stream)
        if order != "app-first":
            import app  # noqa: F401,F811
        import mnistify
        hold = None
        gc.collect()
        frame = bytearray(_W * _H)  # noqa: F841 (held while the free heap is read)
        work = mnistify.Work(_W, _H)  # noqa: F841
        gc.collect()
        print("OK", gc.mem_free(), len(m.layers))
    except MemoryError as e:
        print("FAIL", e)


main(ARGV[1], ARGV[2], ARGV[3] == "1")
