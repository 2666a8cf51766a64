# What a board says when a model does not fit its heap: device/gnet.py imports this only
# after a MemoryError, and drops it after (a board that loads never holds it).
import gc
import sys


def largest(free):
    # the largest block the heap can give now, at most `free` bytes: bisected (the free total
    # says nothing of its pieces), each failed try costing a collection; asked only after a failure
    lo, hi = 0, free
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        try:
            b = bytearray(mid)
            b = None
            lo = mid
        except MemoryError:
            hi = mid - 1
    return lo


def why(e, stream):
    # ": it ran out (the block asked for), the free heap and its largest block; what to do"
    # A ConvNet's modules, imported for the load, go too: their code would otherwise stay
    # where this load put it, splitting the heap for the app's next plan (a smaller frame)
    for name in [k for k in sys.modules if k.startswith("gnet_conv")]:
        sys.modules.pop(name)
    if not hasattr(gc, "mem_free"):
        return ""
    gc.collect()
    free = gc.mem_free()
    big = largest(free)
    need = "".join(c for c in str(e) if c.isdigit())  # "memory allocation failed, allocating 784 bytes"
    return ": it ran out of heap (%s); what it had taken given back, the heap has %d bytes free, the largest " \
        "block %d; %s" % ("a block of %s bytes more was needed" % need if need else "an allocation failed",
                          free, big, "use a smaller model or a board with more RAM" if stream else
                          "stream it from flash (stream=True) or use a smaller model")
