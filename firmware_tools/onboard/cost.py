# What device/gnet.py costs, for bench/device.py (run under valgrind's callgrind, whose
# instruction counts a busy machine does not disturb): three runs of this script tell the
# instructions of the import, of the load and of N classifications apart.
#
#   micropython firmware_tools/onboard/cost.py [-d DIR] MODEL IMAGES N BACKEND [stream]
#
# N = -1: import gnet only; 0: and load MODEL; N > 0: and classify the first N images of
# IMAGES (784 bytes each). Prints nothing but the number of images classified.
import sys

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402


def main(argv):
    n = int(argv[3])
    if n < 0:
        print(0)
        return
    m = gnet.Model(argv[1], stream=len(argv) > 5 and argv[5] == "stream", backend=argv[4] or None)
    image = bytearray(784)  # (784,) uint8, reused
    done = 0
    with open(argv[2], "rb") as f:
        while done < n and f.readinto(image) == 784:
            m.scores(image)
            done += 1
    m.close()
    print(done)


main(ARGV)
