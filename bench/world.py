"""Frames as hard as the world (trainer/world.py) -> device/mnistify.py -> the
shipped model: accuracy per condition and per resolution beside clean accuracy on the
same digits, the worst frames as a contact sheet.

    python bench/world.py [--data DIR] [--frames 10000] [--seed 1] [--conditions thick,glare]

Frame i shows test digit i with condition i % 19 at resolution (i // 19) % 4 (80x60,
160x120, 320x240, 640x480), so the 10,000 official test digits give every condition 526
frames, about 130 at each resolution (at 200 a condition, one model's gap to clean moved
by 2 points between two draws of the same condition: too few to hold a condition to a
3-point floor). "clean" beside each row: the same digits as 28x28 MNIST digits, given to
the model directly. Prints tables; writes bench/results/world.json and
bench/results/world-frames.png (the worst frames: the frame with the box found, the
28x28 the network saw, what it read, the condition). Redraw one frame:
`World(...).frame(i)` with the seed printed.

Board == host: every frame also goes through the board's code on the MicroPython unix port
(mnistify in place, as the app runs it, then the model with viper), and the bytes are
compared with the host's (--no-board-check skips it).

Time on the board: mnistify on the MicroPython unix port (precompiled, as flashed), ms
per frame at each resolution, best of 3, on 10 frames: 80x60 and 160x120 in the virtual
board's 192 KB heap beside the app's ballast (bench/frames.py), 320x240 and 640x480 (more
than any board's frame buffer: the host shrinks those) in a 2 MB heap.
"""
import argparse
import json
import os
import sys
import time
from multiprocessing import Pool

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from device import mnistify  # noqa: E402
from trainer import world  # noqa: E402
from trainer import data, qformat, quantize, report  # noqa: E402

_W = None


def _init(images, labels, seed, names):
    global _W
    _W = world.World(images, labels, seed=seed, conditions=names)


def _one(i):
    # frame i drawn and made MNIST-style: (frame, 28x28 bytes, box, seconds in mnistify)
    f = _W.frame(i)
    info = {}
    t = time.time()
    d = mnistify.mnistify(f.tobytes(), f.shape[1], f.shape[0], info=info)
    return f, bytes(d), info.get("box"), time.time() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--conditions", default="", help="comma-separated names (default: all %d)" % len(world.CONDITIONS))
    ap.add_argument("--model", default=os.path.join(ROOT, "weights", "mnist-cnn-8s2-16s2-32s2-10.gnet"),
                    help=".gnet model (default: the shipped ConvNet)")
    ap.add_argument("--worst", type=int, default=30, help="frames on the contact sheet")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--board-timing", action=argparse.BooleanOptionalAction, default=True,
                    help="time mnistify on the MicroPython unix port at each resolution")
    ap.add_argument("--board-check", action=argparse.BooleanOptionalAction, default=True,
                    help="every frame through the board's code on the MicroPython unix port too (mnistify and the "
                    "model), compared with the host's bytes")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "world.json"))
    ap.add_argument("--sheet", default=os.path.join(ROOT, "bench", "results", "world-frames.png"))
    args = ap.parse_args(argv)
    names = [c for c in args.conditions.split(",") if c] or list(world.CONDITIONS)
    test = data.load_split(args.data, "test")
    order = np.random.default_rng(args.seed).permutation(len(test))
    n = min(args.frames, len(test))
    images = test.images.reshape(-1, 28, 28)[order[:n]]
    labels = test.labels[order[:n]].astype(int)
    W = world.World(images, labels, seed=args.seed, conditions=names)
    q = qformat.load(args.model)
    t0 = time.time()
    with Pool(args.jobs, initializer=_init, initargs=(images, labels, args.seed, names)) as pool:
        got = pool.map(_one, range(n), chunksize=8)
    digits = np.array([np.frombuffer(g[1], np.uint8).reshape(28, 28) for g in got])
    scores = quantize.reference(q, digits)
    pred = quantize.argmax(scores)
    ok = pred == labels
    clean = quantize.argmax(quantize.reference(q, images)) == labels
    conds = np.array([W.condition(i) for i in range(n)])
    res = np.array(["%dx%d" % W.resolution(i) for i in range(n)])
    secs = np.array([g[3] for g in got])
    result = {"model": os.path.basename(args.model), "mnistify": mnistify.VERSION, "frames": n, "seed": args.seed,
              "accuracy": float(ok.mean()), "clean": float(clean.mean()), "conditions": [], "resolutions": []}
    print("mnistify v%d on %d world frames (seed %d, model %s), %.0f s: %.1f%% read right, clean %.1f%% on the same "
          "digits (gap %.1f points)" % (mnistify.VERSION, n, args.seed, result["model"], time.time() - t0,
                                        100 * ok.mean(), 100 * clean.mean(), 100 * (clean.mean() - ok.mean())))
    print("%-12s %5s %8s %8s %6s   %s" % ("condition", "n", "frames", "clean", "gap", "what the world does"))
    for c in names:
        s = conds == c
        row = {"condition": c, "n": int(s.sum()), "accuracy": float(ok[s].mean()), "clean": float(clean[s].mean())}
        row["gap_points"] = round(100 * (row["clean"] - row["accuracy"]), 2)
        result["conditions"].append(row)
        print("%-12s %5d %7.1f%% %7.1f%% %6.1f   %s" % (c, row["n"], 100 * row["accuracy"], 100 * row["clean"],
                                                     row["gap_points"], world.CONDITIONS[c]))
    print("%-12s %5s %8s %8s %6s %12s" % ("resolution", "n", "frames", "clean", "gap", "host ms/frame"))
    for r in ["%dx%d" % wh for wh in W.resolutions]:
        s = res == r
        row = {"resolution": r, "n": int(s.sum()), "accuracy": float(ok[s].mean()), "clean": float(clean[s].mean()),
               "host_ms": round(1000 * float(secs[s].mean()), 1)}
        row["gap_points"] = round(100 * (row["clean"] - row["accuracy"]), 2)
        result["resolutions"].append(row)
        print("%-12s %5d %7.1f%% %7.1f%% %6.1f %12.1f" % (r, row["n"], 100 * row["accuracy"], 100 * row["clean"],
                                                        row["gap_points"], row["host_ms"]))
    # the worst frames: misread ones first, least sure of the right digit
    conf_true = scores[np.arange(n), labels]
    worst = sorted(range(n), key=lambda i: (bool(ok[i]), int(conf_true[i])))[:args.worst]
    items = [{"frame": got[i][0], "box": got[i][2], "digit": digits[i],
              "lines": ["#%d: %d read as %d" % (i, labels[i], pred[i]), "%s %s" % (conds[i], res[i])]} for i in worst]
    os.makedirs(os.path.dirname(args.sheet), exist_ok=True)
    report.contact_sheet(items, args.sheet)
    result["sheet"] = os.path.relpath(args.sheet, ROOT)
    result["worst"] = [W.describe(i) for i in worst]
    print("worst %d frames: %s" % (len(items), args.sheet))
    if args.board_timing:
        import frames as fb  # bench/frames.py: its MicroPython timer

        print("%-12s %14s" % ("resolution", "board ms/frame"))
        mod = os.path.join(ROOT, "device", "mnistify.py")
        for row in result["resolutions"]:
            w, h = (int(v) for v in row["resolution"].split("x"))
            frames = [world.render(images[i], w, h, "clean", np.random.default_rng(i)) for i in range(10)]
            ms = fb._time_on_micropython(mod, frames, heap=None if w * h <= 160 * 128 else "2m")
            row["board_ms"] = None if ms is None else round(ms, 2)
            print("%-12s %14s" % (row["resolution"], "no MicroPython" if ms is None else "%.2f" % ms))
    if args.board_check:
        result["board"] = board_check([g[0] for g in got], digits, q, scores, args.jobs)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote %s" % args.json)
    return 0


def board_check(frames, digits, q, scores, jobs):
    """Every frame through the board's code on the MicroPython unix port: mnistify (as the
    board app runs it, in place) must give the host's 28x28 bytes, and the model (viper)
    the reference's scores and confidence. Returns the counts; prints them."""
    import struct
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from firmware_tools import parity
    from firmware_tools.interpreter import find_micropython, onboard

    mp = find_micropython()
    if not mp:
        print("board check NOT RUN: no MicroPython unix port (make setup)")
        return None
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        parts = [list(range(k, len(frames), jobs)) for k in range(jobs)]

        def run(k):
            blob, out = os.path.join(d, "frames%d.bin" % k), os.path.join(d, "out%d.bin" % k)
            with open(blob, "wb") as f:
                for i in parts[k]:
                    g = frames[i]
                    f.write(struct.pack("<HH", g.shape[1], g.shape[0]) + np.ascontiguousarray(g).tobytes())
            r = subprocess.run(onboard(mp, "run_mnistify", blob, out, "inplace"), capture_output=True, text=True,
                               timeout=3600)
            if r.returncode != 0:
                raise RuntimeError("run_mnistify.py failed:\n%s%s" % (r.stdout, r.stderr))
            return np.frombuffer(open(out, "rb").read(), np.uint8).reshape(-1, 28, 28)

        with ThreadPoolExecutor(jobs) as ex:
            outs = list(ex.map(run, range(jobs)))
        board = np.zeros_like(digits)
        for k, o in enumerate(outs):
            board[parts[k]] = o
        same_digit = (board == digits).all(axis=(1, 2))
        images = os.path.join(d, "digits.bin")
        board.reshape(len(board), -1).tofile(images)
        model = os.path.join(d, "model.gnet")
        qformat.save(q, model)
        info, got = parity.run_device(mp, model, images, os.path.join(d, "scores.bin"), "viper")
        ref = quantize.reference(q, board)
        bad, _ = parity.compare(ref, quantize.confidence(q, ref), got)
    res = {"frames": len(frames), "mnistify_equal": int(same_digit.sum()), "scores_equal": len(frames) - bad,
           "interpreter": "micropython unix port, %s backend" % info.get("backend"),
           "seconds": round(time.time() - t0, 1)}
    print("on the board's code (MicroPython unix port, mnistify in place, %s): the host's 28x28 on %d of %d frames, "
          "the reference's scores and confidence on %d of %d (%.0f s)" % (
              res["interpreter"].split(", ")[1], res["mnistify_equal"], len(frames), res["scores_equal"], len(frames),
              res["seconds"]))
    return res


if __name__ == "__main__":
    sys.exit(main())
