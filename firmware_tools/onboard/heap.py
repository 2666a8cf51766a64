# The heap device/gnet.py holds for a model, in RAM and streamed: the device side of the
# test of qformat.runtime_heap (what `gentlenet export` prints).
#
#   micropython -X heapsize=1024k firmware_tools/onboard/heap.py MODEL...
#
# A line per model and mode: "<path> <0 in RAM | 1 streamed> <bytes held> <streamed row
# buffer bytes>". The first model is loaded once beforehand, so that gnet's own code is
# not counted in its numbers (give it twice and drop the first two lines).
import gc
import sys

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402


def main(names):
    for name in names:
        for stream in (False, True):
            gc.collect()
            a = gc.mem_free()
            m = gnet.Model(name, stream=stream)
            gc.collect()
            print(name, int(stream), a - gc.mem_free(), len(m._rows) if stream else 0)
            m.close()
            m = None


main(ARGV[1:])
