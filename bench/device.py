"""What the device runtime costs, per backend and mode, on real interpreters: `make
bench-device`.

    python bench/device.py [--data DIR] [--images 200] [--no-callgrind] [--no-wasm]

For the shipped 784-100-10 and a 784-200-10 (the book's shape, sigmoid), on the MicroPython
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
as the baseline. Prints a table, writes bench/results/device.json.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware_tools import flash, parity  # noqa: E402
from firmware_tools.interpreter import find_micropython, find_wasm, onboard  # noqa: E402
from trainer import mlp, qformat, quantize  # noqa: E402

def instructions(cmd):
    """Instructions callgrind counts for the command (valgrind's "Collected" line)."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("callgrind failed on %s:\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


def runs(interp, model, images, backend, stream, heap=None, device=None):
    """run_model.py once (parity.run_device); its JSON line, or None when it failed (no heap)."""
    try:
        return parity.run_device(interp, model, images, images + ".out", backend, stream, heap, device)[0]
    except RuntimeError:
        return None


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
    return "%-12s %-40s %-7s %-9s %-6s %10s %12s %8s %8s" % (
        r["model"][:12], r["interpreter"][:40], r["backend"][:7], r["mode"], r["code"],
        "{:,}".format(r["instructions_per_image"]) if "instructions_per_image" in r else "--",
        "{:,}".format(r["instructions_load"]) if "instructions_load" in r else "--",
        "%.1f" % r["us_per_image"], "%s KB" % r["min_heap_kb"] if r.get("min_heap_kb") else "--")


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
