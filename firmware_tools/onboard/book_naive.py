# The baseline for bench/device.py: the book's network (784-200-10, sigmoid, no biases)
# ported to MicroPython the plain way, float lists and math.exp, as one would first write
# it from "Make Your Own Neural Network"; random weights (the cost does not depend on them).
#
#   micropython firmware_tools/onboard/book_naive.py IMAGES N [HIDDEN]
#
# Prints a JSON line: images, milliseconds.
import json
import math
import random
import sys

import prologue


def query(wih, who, inputs):
    hidden = [1 / (1 + math.exp(-sum(w * x for w, x in zip(row, inputs)))) for row in wih]
    return [1 / (1 + math.exp(-sum(w * h for w, h in zip(row, hidden)))) for row in who]


def main(argv):
    n = int(argv[2])
    hidden = int(argv[3]) if len(argv) > 3 else 200
    random.seed(0)
    wih = [[random.random() - 0.5 for _ in range(784)] for _ in range(hidden)]
    who = [[random.random() - 0.5 for _ in range(hidden)] for _ in range(10)]
    image = bytearray(784)
    done = 0
    t0 = prologue.ticks_ms()
    with open(argv[1], "rb") as f:
        while done < n and f.readinto(image) == 784:
            query(wih, who, [p / 255 * 0.99 + 0.01 for p in image])
            done += 1
    print(json.dumps({"images": done, "ms": prologue.ticks_ms() - t0}))


main(sys.argv)
