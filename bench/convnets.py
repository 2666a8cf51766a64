"""Small ConvNets on the 5,000-digit sample, in float: which architecture is worth making
int8 and putting on a board (issue 22). Each is trained by trainer/train.py's loop (the
MLP's recipe: momentum SGD, cosine schedule, the same augmentation), then read on the
official test set.

    python bench/convnets.py [--data DIR] [--epochs 40] [--seeds 1] [--lr 0.1] [--specs conv8,pool,dense10 ...]

Prints one row per architecture: multiply-adds per image (layers.macs: what the board's
integer kernels will spend), the bytes its weights take as int8 with int32 biases, float
and int8 test accuracy per seed (trainer/qlayers.py's integer records, calibrated on the
training digits at the 99.99th percentile), training seconds. Writes
bench/results/convnets.json. The .gnet records and the device kernels come next.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware_tools.interpreter import find_micropython, instructions_per_image  # noqa: E402
from trainer import data, layers, qformat, qlayers, train  # noqa: E402
from trainer.evaluate import predict  # noqa: E402

SPECS = (
    "conv8,pool,conv16,pool,dense10",         # the probe
    "conv8s2,conv12s2,conv18s2,gap,dense10",  # emlearn-micropython's MNIST CNN's shape
    "conv8s2,conv16s2,dense10",               # two stride-2 convolutions, a dense on top
    "conv8s2,conv16s2,conv32s2,dense10",
)


def board_cost(model, tr, te, n):
    """Instructions per image on the board (the int8 .gnet, viper kernels, the MicroPython
    unix port, callgrind over n test digits); None when not measured."""
    if not n:
        return None
    with tempfile.TemporaryDirectory() as d:
        path, images = os.path.join(d, "m.gnet"), os.path.join(d, "images.bin")
        qformat.save(qlayers.to_qmodel(model, tr.images), path)
        te.images[:n].astype(np.uint8).tofile(images)
        return instructions_per_image(path, images, n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: train's, 0.1; a net with max "
                    "pools learns better at 0.03)")
    ap.add_argument("--specs", nargs="*", default=list(SPECS))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "convnets.json"))
    ap.add_argument("--callgrind", type=int, default=10, metavar="N", help="test digits whose board cost "
                    "callgrind counts (the last seed's int8 model, viper, MicroPython unix port; 0: none)")
    a = ap.parse_args(argv)
    tr, te = data.load_split(a.data, "train"), data.load_split(a.data, "test")
    print("%d training digits, %d test digits, %d epochs, %d seed(s)" % (len(tr), len(te), a.epochs, a.seeds))
    print("%-40s %9s %8s %-16s %-16s %8s %12s" % ("layers", "MACs", "bytes", "float", "int8", "seconds",
                                                  "instr/image"))
    if a.callgrind and not (shutil.which("valgrind") and find_micropython()):
        print("NOTE: no valgrind or no MicroPython here: instructions per image NOT MEASURED")
        a.callgrind = 0
    rows = []
    for spec in a.specs:
        accs, int8, secs = [], [], []
        for seed in range(a.seeds):
            t = time.time()
            model, _, _ = train.train(tr, None, dict(arch=spec, epochs=a.epochs, seed=seed, lr=a.lr),
                                      log=lambda *x: None, show_progress=False)
            secs.append(round(time.time() - t, 1))
            accs.append(round(float((predict(model, te.images)[0] == te.labels).mean()), 5))
            scores = qlayers.reference(qlayers.quantize_net(model, tr.images), te.images)
            int8.append(round(float((scores.argmax(axis=1) == te.labels).mean()), 5))
        size = sum(layer.W.size + 4 * layer.b.size for layer in model.held)
        row = dict(spec=spec, macs=layers.macs(model.layers), bytes=int(size), float_accuracy=accs,
                   int8_accuracy=int8, int8_median=float(np.median(int8)), seconds=secs, epochs=a.epochs,
                   lr=a.lr, train_n=len(tr), instructions_per_image=board_cost(model, tr, te, a.callgrind))
        rows.append(row)
        pc = lambda v: " ".join("%.2f%%" % (100 * x) for x in v)  # noqa: E731
        print("%-40s %9d %8d %-16s %-16s %8s %12s" % (
            spec, row["macs"], size, pc(accs), pc(int8), " ".join("%.0f" % x for x in secs),
            "{:,}".format(row["instructions_per_image"]) if row["instructions_per_image"] else "--"))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(dict(machine=os.uname().machine, rows=rows), f, indent=1)
    print("wrote %s" % a.json)


if __name__ == "__main__":
    main()
