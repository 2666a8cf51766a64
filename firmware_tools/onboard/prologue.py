# What the scripts in this folder share. They run on MicroPython (and CPython) as
#
#   micropython firmware_tools/onboard/SCRIPT.py [-d DEVICE_DIR] ARGS...
#
# with device/ (or DEVICE_DIR, e.g. a folder of .mpy files) first on the import path.
# Nothing on the host imports this folder: it is the device side of the tests.
import sys
import time


def setup(argv):
    # argv without "-d DIR"; DIR, else the repository's device/, first on sys.path
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    device = here + "/../../device"
    if len(argv) > 2 and argv[1] == "-d":
        device = argv[2]
        argv = argv[:1] + argv[3:]
    sys.path.insert(0, device)
    return argv


try:
    ticks_ms = time.ticks_ms
except AttributeError:  # CPython
    def ticks_ms():
        return int(time.time() * 1000)


def heap_peak():
    # the most the heap has held (MicroPython builds with mem_peak), else None
    try:
        import micropython
        return micropython.mem_peak() if hasattr(micropython, "mem_peak") else None
    except ImportError:
        return None

