"""The smallest heap on which the board app serves camera frames, per model and mode,
found by bisection on the virtual board (real MicroPython, `-X heapsize=`), beside what
trainer/qformat.py's board_heap() estimates (what `gentlenet export` prints and
`gentlenet flash` warns with).

    python bench/board_heap.py [--data DIR] [--model M.gnet ...] [--frames 20] [--parts]

A heap "serves" when the app loads the model and 20 desk-camera frames are classified
exactly as the host does. Two numbers per model: the smallest heap that serves at all
(the app streams the model there) and the smallest on which the app holds it in RAM
(beside a 160x128 frame buffer, its rule). Resolution 1 KB.
--parts: before the bisection, where the heap goes, part by part, with an 80x60 frame
(firmware_tools/onboard/heap_parts.py on the flashed files: the code of each module, the
model's data, the frame and mnistify's tables); the bisected heap less their sum is the
App object, the load's peak, the heap's holes and the app's headroom.
--romfs (with --parts): the same parts with the code run in place from a ROMFS image
(`mpremote romfs build` of the flashed .mpy files), as on a board with a ROM partition
(MicroPython 1.25+; not the Pico and ESP32 builds): what the code would cost there.
Writes bench/results/board_heap.json. The unix port is 64-bit: a 32-bit board's objects
are smaller, so a real board of the same heap has some room to spare.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware_tools import boardclient, cameras, camsim, classify, flash, scene  # noqa: E402
from firmware_tools.interpreter import find_micropython, onboard  # noqa: E402
from firmware_tools.vboard import VirtualBoard  # noqa: E402
from trainer import mlp, qformat, quantize  # noqa: E402


def serves(flash_dir, heap_kb, q, sc, frames, mode):
    """True when the app on a heap of heap_kb KB loads the model in `mode` and classifies
    `frames` camera frames as the host does."""
    b = VirtualBoard(flash_dir, micropython=find_micropython(), heapsize="%dk" % heap_kb).start()
    try:
        try:
            c = boardclient.BoardClient(b.port, timeout=20).start()
        except boardclient.BoardError:
            return False  # no model: the app says so at start
        try:
            model = c.info()["model"]
            if model is None or (mode == "in RAM" and model["stream"]):
                return False
            with camsim.VC0706Sim(sc) as sim:
                cam = cameras.open_camera("vc0706", sim.port)
                try:
                    r = classify.run(cam, frames, q, c, on_frame=lambda row: None)
                finally:
                    cam.close()
            return r["frames"] == frames and r["agree"] == frames
        except (boardclient.BoardError, OSError):
            return False
        finally:
            c.close()
    finally:
        b.stop()


def romfs_image(flash_dir):
    """A ROMFS image of the flashed .mpy files (mpremote romfs build), for heap_parts."""
    src = flash_dir + ".romfs-files"  # beside the board's folder, not in it
    os.makedirs(src, exist_ok=True)
    for name in os.listdir(flash_dir):
        if name.endswith(".mpy"):
            shutil.copyfile(os.path.join(flash_dir, name), os.path.join(src, name))
    image = flash_dir + ".romfs"
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    r = subprocess.run([mpremote if os.path.exists(mpremote) else "mpremote", "romfs", "--no-mpy", "-o", image,
                        "build", src], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(image):
        raise SystemExit("mpremote romfs build failed: %s" % (r.stderr or r.stdout)[-2000:])
    return image


def heap_parts(flash_dir, stream, romfs=None):
    """[(bytes, part)] from firmware_tools/onboard/heap_parts.py on the flashed files, an
    80x60 frame (romfs: their ROMFS image, run in place); the last is the total."""
    cmd = onboard(find_micropython(), "heap_parts", "model.gnet", int(stream), 80, 60, *([romfs] if romfs else []),
                  device=".", heapsize="1024k")
    r = subprocess.run(cmd, cwd=flash_dir, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit("heap_parts.py failed: %s" % (r.stderr or r.stdout)[-2000:])
    return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in r.stdout.splitlines() if line.strip()]


def bisect(ok, lo, hi):
    """The smallest n in (lo, hi] with ok(n), given ok(hi) and not ok(lo)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def book_model(path):
    """784-200-10 sigmoid, the book's shape (random weights: the heap does not depend on them)."""
    rng = np.random.default_rng(0)
    q = quantize.quantize(mlp.MLP([784, 200, 10], hidden="sigmoid", output="sigmoid", bias=False, seed=1),
                          rng.integers(0, 256, (200, 28, 28), dtype=np.uint8))
    qformat.save(q, path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--model", nargs="*", help="models (default: the shipped one and the book's 784-200-10)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--parts", action="store_true", help="also where the heap goes, part by part")
    ap.add_argument("--romfs", action="store_true", help="with --parts: also with the code in a ROMFS image")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "board_heap.json"))
    args = ap.parse_args(argv)
    sc = scene.load_scene(args.data, seed=1, log=lambda *a: None)
    tmp = tempfile.TemporaryDirectory(prefix="gentlenet-heap-")
    models = args.model or [os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"),
                            book_model(os.path.join(tmp.name, "book-784-200-10.gnet"))]
    rows = []
    print("%-28s %-9s %10s %10s %10s %10s" % ("model", "mode", "min heap", "model", "estimate", "app"))
    for path in models:
        q = qformat.load(path)
        need = qformat.runtime_heap(q)
        fdir = os.path.join(tmp.name, os.path.basename(path) + ".flash")
        b = VirtualBoard(fdir, micropython=find_micropython(), heapsize="1024k").start()
        try:
            flash.flash(b.port, path, show_progress=False, log=lambda *a: None)
        finally:
            b.stop()
        parts = {}
        if args.parts:
            image = romfs_image(fdir) if args.romfs else None
            for mode in ("streamed", "in RAM"):
                parts[mode] = heap_parts(fdir, mode == "streamed")
                print("%s, %s, 80x60 frames: where the heap goes" % (os.path.basename(path), mode))
                for n, name in parts[mode]:
                    print("  %8.1f KB  %s" % (n / 1024, name))
                if image:
                    rom = heap_parts(fdir, mode == "streamed", image)
                    parts[mode + ", code in ROMFS"] = rom
                    print("  the same with the code run in place from a ROMFS image:")
                    for n, name in rom:
                        print("  %8.1f KB  %s" % (n / 1024, name))
        lo = 24
        for mode in ("streamed", "in RAM"):
            ok = lambda kb: serves(fdir, kb, q, sc, args.frames, mode)  # noqa: E731
            hi = 1024
            if not ok(hi):
                print("%-28s %-9s  does not serve even at %d KB" % (os.path.basename(path), mode, hi))
                continue
            kb = lo = bisect(ok, lo, hi)
            key = "streamed" if mode == "streamed" else "in_ram"
            model = need[key]
            estimate = model + qformat.APP_HEAP[key]
            row = {"model": os.path.basename(path), "mode": mode, "min_heap": kb * 1024, "model_heap": model,
                   "estimate": estimate, "app_heap": kb * 1024 - model}
            if mode in parts:
                row["parts"] = [{"bytes": n, "part": name} for n, name in parts[mode]]
                row["beyond_parts"] = kb * 1024 - parts[mode][-1][0]
            if mode + ", code in ROMFS" in parts:
                row["parts_romfs"] = [{"bytes": n, "part": name} for n, name in parts[mode + ", code in ROMFS"]]
            rows.append(row)
            print("%-28s %-9s %8d KB %8.1f KB %8.1f KB %8.1f KB" % (row["model"], mode, kb, model / 1024,
                                                                  estimate / 1024, row["app_heap"] / 1024))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"micropython": "unix port, 64-bit", "frames": args.frames, "rows": rows}, f, indent=1)
    print("wrote %s" % args.json)


if __name__ == "__main__":
    main()
