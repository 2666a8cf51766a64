# The heap device/gnet.py holds for a model, in RAM and streamed: the device side of the
# test of qformat.runtime_heap (what `gentlenet export` prints).
#
#   micropython -X heapsize=1024k firmware_tools/onboard/heap.py BACKEND MODEL...
#
# A line per model and mode: "<path> <0 in RAM | 1 streamed> <bytes held> <streamed row
# buffer bytes>". The first model is loaded once beforehand, so that gnet's own code is
# not counted in its numbers (give it twice and drop the first two lines). BACKEND: one of
# gnet.BACKENDS, or "" for the fastest here.
import gc
import sys

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402


def main(backend, names):
    for name in names:
        for stream in (False, True):
            gc.collect()
            a = gc.mem_free()
            m = gnet.Model(name, stream=stream, backend=backend or None)
            gc.collect()
            b = gc.mem_free()
            rows = len(m._rows) if stream else 0
            m.close()
            m = None
            gc.collect()
            # what the model held: the heap it takes, or (when something older was still
            # reachable at `a` from a stale word on the stack, which MicroPython's GC
            # treats as a pointer) the heap its release gives back
            print(name, int(stream), max(a, gc.mem_free()) - b, rows)


main(ARGV[1], ARGV[2:])
