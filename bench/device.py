"""What the device runtime costs, per backend and mode, on real interpreters: `make
bench-device`.

    python bench/device.py [--data DIR] [--images 200] [--no-callgrind] [--no-wasm]

For the shipped 784-100-10, a 784-200-10 (the book's shape, sigmoid) and every ConvNet in
weights/ (or --convnets), on the MicroPython
unix port (each backend there, in RAM and streamed, runtime as source and as .mpy) and on
the webassembly MicroPython (32-bit, ulab; source):
- instructions per image and for the load, counted by valgrind's callgrind (unix port
  only; counts that a busy machine does not change): firmware_tools/onboard/cost.py run
  three times (import only; load; load and N images);
- microseconds per image (firmware_tools/onboard/run_model.py on --images test digits; a
  wall-clock figure: it moves with the machine's load);
- the smallest heap (-X heapsize, bisected to 1 KB) that loads the model and classifies
  (unix port);
beside the naive float-list port of the book's network (firmware_tools/onboard/book_naive.py)
as the baseline; for a ConvNet also instructions per multiply-add, beside a C reference
convolution's (bench/conv_ref.c, gcc -O2, its conv layers). Prints a table, writes bench/results/device.json.
"""
import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware_tools import flash, parity  # noqa: E402
from firmware_tools.interpreter import find_micropython, find_wasm, instructions, onboard  # noqa: E402
from trainer import mlp, qformat, quantize  # noqa: E402

def runs(interp, model, images, backend, stream, heap=None, device=None):
    """run_model.py once (parity.run_device); its JSON line, or None when it failed (no heap)."""
    try:
        return parity.run_device(interp, model, images, images + ".out", backend, stream, heap, device)[0]
    except RuntimeError:
        return None


def macs(q):
    """Multiply-adds per image of a QModel (conv: 9 c_in per output value; dense: n_in per output)."""
    total, shape = 0, (q.height, q.width, q.channels)
    for L in q.layers:
        kind = L.get("kind", "dense")
        if kind == "conv":
            out = qformat.conv_shape(shape, L["stride"], L["padding"], len(L["W"]))
            total += int(np.prod(out)) * L["W"][0].size
        elif kind == "dense":
            total += L["W"].size
            out = (len(L["W"]),)
        else:
            out = (shape[0] // 2, shape[1] // 2, shape[2]) if kind == "pool" else (shape[2],)
        shape = out
    return total


def c_reference(q, work):
    """The C reference convolution (bench/conv_ref.c, gcc -O2) on each 'same' conv of q:
    its instructions per multiply-add (callgrind), conv layers only."""
    exe = os.path.join(work, "conv_ref")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "conv_ref.c")], check=True)
    ins = n_macs = 0
    shape = (q.height, q.width, q.channels)
    for L in q.layers:
        kind = L.get("kind", "dense")
        if kind == "conv":
            co, s = len(L["W"]), L["stride"]
            out = qformat.conv_shape(shape, s, L["padding"], co)
            base = [exe, str(shape[0]), str(shape[1]), str(shape[2]), str(co), str(s)]
            ins += (instructions(base + ["5"]) - instructions(base + ["0"])) // 5
            n_macs += int(np.prod(out)) * 9 * shape[2]
            shape = out
        elif kind == "pool":
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
    return {"model": q.spec + " conv layers", "interpreter": "C, gcc -O2 (bench/conv_ref.c)", "backend": "C",
            "mode": "in RAM", "code": "native", "macs": n_macs, "instructions_per_image": ins,
            "instructions_per_mac": round(ins / max(1, n_macs), 1), "us_per_image": None}


def min_heap(model, images3, backend, stream, device):
    """The smallest -X heapsize (KB) on which the model loads and classifies 3 images."""
    ok = lambda kb: runs(find_micropython(), model, images3, backend, stream, "%dk" % kb, device) is not None  # noqa
    lo, hi = 8, 1024
    if not ok(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("GENTLENET_DATA",
                                                     os.path.join(ROOT, "..", "shared", "datasets", "mnist")))
    ap.add_argument("--images", type=int, default=200, help="test digits timed per run (default: %(default)s)")
    ap.add_argument("--callgrind-images", type=int, default=20, help="images counted by callgrind (default: 20)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-wasm", action="store_true")
    ap.add_argument("--convnets", nargs="*", help="ConvNet .gnet models (default: those in weights/)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "device.json"))
    args = ap.parse_args(argv)
    mp = find_micropython()
    if not mp:
        raise SystemExit("MISSING: no MicroPython unix port (make setup)")
    grind = not args.no_callgrind and shutil.which("valgrind")
    if not args.no_callgrind and not grind:
        print("NOTE: no valgrind here: instruction counts NOT MEASURED (apt-get install valgrind)")
    images, labels, train, desc = parity.find_images(args.data)
    digits = images[labels >= 0] if (labels >= 0).any() else images
    rows = []
    with tempfile.TemporaryDirectory(prefix="gentlenet-bench-device-") as work:
        img = os.path.join(work, "images.bin")
        digits[:args.images].astype(np.uint8).tofile(img)
        img3 = os.path.join(work, "images3.bin")
        digits[:3].astype(np.uint8).tofile(img3)
        book = os.path.join(work, "784-200-10.gnet")
        calib = (train.images if train is not None else digits.reshape(-1, 28, 28))[:2000]
        qformat.save(quantize.quantize(mlp.MLP([784, 200, 10], hidden="sigmoid", output="sigmoid", bias=False,
                                               seed=1), calib.reshape(-1, 28, 28)), book)
        models = [("784-100-10", os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")), ("784-200-10", book)]
        # every ConvNet that ships (.gnet version 2), and any given
        for path in sorted(args.convnets or glob.glob(os.path.join(ROOT, "weights", "*.gnet"))):
            if qformat.load(path).convnet and not any(path == m for _, m in models):
                models.append((qformat.load(path).spec, path))
        mpy = flash.precompile(os.path.join(work, "mpy"), mp)
        for name, model in models:
            for backend in parity.backends(mp):
                for stream in (False, True):
                    for code, device in (("source", None), ("mpy", mpy)):
                        row = {"model": name, "interpreter": "micropython unix (64-bit)", "backend": backend,
                               "mode": "streamed" if stream else "in RAM", "code": code}
                        info = runs(mp, model, img, backend, stream, None, device)
                        row["us_per_image"] = round(1000 * info["ms"] / info["images"], 1)
                        if grind:
                            base = onboard(mp, "cost", model, img, device=device)
                            tail = [backend] + (["stream"] if stream else [])
                            i_import = instructions(base + ["-1"] + tail)
                            i_load = instructions(base + ["0"] + tail)
                            i_n = instructions(base + [str(args.callgrind_images)] + tail)
                            row["instructions_load"] = i_load - i_import
                            row["instructions_per_image"] = (i_n - i_load) // args.callgrind_images
                            q = qformat.load(model)
                            if q.convnet:  # a ConvNet: what a multiply-add costs, all in
                                row["macs"] = macs(q)
                                row["instructions_per_mac"] = round(row["instructions_per_image"] / row["macs"], 1)
                        row["min_heap_kb"] = min_heap(model, img3, backend, stream, device)
                        rows.append(row)
                        print(_line(row), flush=True)
            if not args.no_wasm and find_wasm():
                for backend in parity.backends("wasm"):
                    for stream in (False, True):
                        info = runs("wasm", model, img, backend, stream)
                        row = {"model": name, "interpreter": "micropython webassembly (32-bit, ulab)",
                               "backend": backend, "mode": "streamed" if stream else "in RAM", "code": "source",
                               "us_per_image": round(1000 * info["ms"] / info["images"], 1)}
                        rows.append(row)
                        print(_line(row), flush=True)
        if grind and shutil.which("gcc"):
            for name, model in models:
                if qformat.load(model).convnet:
                    row = c_reference(qformat.load(model), work)
                    rows.append(row)
                    print(_line(row), flush=True)
        naive = {"model": "784-200-10 naive float lists (the book's, ported plainly)",
                 "interpreter": "micropython unix (64-bit)", "backend": "python floats", "mode": "in RAM",
                 "code": "source"}
        r = subprocess.run(onboard(mp, "book_naive", img, min(args.images, 50), heapsize="16m"),
                           capture_output=True, text=True, timeout=1800)
        info = json.loads(r.stdout.strip().splitlines()[-1])
        naive["us_per_image"] = round(1000 * info["ms"] / info["images"], 1)
        if grind:
            base = onboard(mp, "book_naive", img, heapsize="16m")
            i0, i5 = instructions(base + ["0"]), instructions(base + ["5"])
            naive["instructions_per_image"] = (i5 - i0) // 5
        rows.append(naive)
        print(_line(naive))
    machine = {"cpu": _cpu(), "cores": os.cpu_count(), "platform": platform.platform(),
               "micropython": subprocess.run([mp, "-c", "import sys; print(sys.version)"], capture_output=True,
                                             text=True).stdout.strip()}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": machine, "images": desc, "rows": rows}, f, indent=1)
    print("machine: %s, %d cores; wrote %s" % (machine["cpu"], machine["cores"], os.path.relpath(args.json)))


def _line(r):
    return "%-12s %-40s %-7s %-9s %-6s %10s %12s %8s %8s%s" % (
        r["model"][:12], r["interpreter"][:40], r["backend"][:7], r["mode"], r["code"],
        "{:,}".format(r["instructions_per_image"]) if "instructions_per_image" in r else "--",
        "{:,}".format(r["instructions_load"]) if "instructions_load" in r else "--",
        "%.1f" % r["us_per_image"] if r.get("us_per_image") is not None else "--",
        "%s KB" % r["min_heap_kb"] if r.get("min_heap_kb") else "--",
        "  %.1f per multiply-add (%s MACs)" % (r["instructions_per_mac"], "{:,}".format(r["macs"]))
        if "instructions_per_mac" in r else "")


def _cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    print("%-12s %-40s %-7s %-9s %-6s %10s %12s %8s %8s" % ("model", "interpreter", "backend", "mode", "code",
                                                            "instr/img", "instr load", "us/img", "min heap"))
    main()
