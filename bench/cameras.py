"""Cameras -> the virtual board, end to end: accuracy on camera frames against accuracy on
the clean digits, agreement with the host reference, time per frame.

    python bench/cameras.py [--data DIR] [--frames 200] [--model weights/mnist-784-100-10.gnet]

Each camera kind is simulated on a pty (firmware_tools/camsim.py) showing official MNIST
test digits; frames are grabbed by the host driver, sent to the virtual board (real
MicroPython, 192 KB heap), classified there, and checked against the host reference.
Prints a table and writes bench/results/cameras.json. Times are this machine's (the unix
port on x86-64, a pty instead of a UART), not a board's.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware_tools import boardclient, cameras, camsim, classify, flash, scene  # noqa: E402
from firmware_tools.vboard import VirtualBoard  # noqa: E402
from trainer import qformat, quantize  # noqa: E402

KINDS = [(kind, camsim.simulator(kind)) for kind in cameras.KINDS]  # every kind of the registry


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "mnist"))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--model", default=os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "cameras.json"))
    args = ap.parse_args(argv)
    sc = scene.load_scene(args.data, seed=1)
    q = qformat.load(args.model)
    n = args.frames
    clean = float((quantize.reference(q, sc.images[:n]).argmax(1) == sc.labels[:n]).mean())
    rows = []
    with tempfile.TemporaryDirectory() as d:
        b = VirtualBoard(os.path.join(d, "flash")).start()
        try:
            # the runtime as source, then precompiled: bytes on the wire, free RAM once the app runs
            flashes = {}
            for how, comp in (("source", False), ("mpy", None)):
                fl = flash.flash(b.port, args.model, show_progress=False, log=lambda *a: None, compile=comp)
                board = boardclient.BoardClient(b.port).start()
                info = board.info()
                flashes[how] = {
                    "sent": fl["sent"], "wire_bytes": fl["wire_bytes"], "seconds": fl["seconds"],
                    "compiled": fl["compiled"], "mem_free": info["mem_free"], "mem_alloc": info["mem_alloc"],
                    "load": (info.get("model") or {}).get("load")
                }
                board.close()
                b.stop()  # a fresh board each time: the same heap history
                b = VirtualBoard(os.path.join(d, "flash")).start()
            board = boardclient.BoardClient(b.port).start()
            for kind, cls in KINDS:
                with cls(sc) as sim:
                    cam = cameras.open_camera(kind, sim.port)
                    t = time.time()
                    r = classify.run(cam, n, q, board, on_frame=lambda row: None)
                    secs = time.time() - t
                    cam.close()
                    truth = [label for _, label, _ in sim.sent]
                acc = float(np.mean([int(row["label"]) == y for row, y in zip(r["rows"], truth)]))
                rows.append({
                    "camera": kind, "describe": cam.describe(), "frames": n, "accuracy": acc, "clean_accuracy": clean,
                    "agree_with_reference": r["agree"], "seconds_per_frame": round(secs / n, 4),
                    "board_ms_per_frame": round(float(np.mean([row["us"] for row in r["rows"]])) / 1000, 2),
                    "board_ms_preprocess": round(float(np.mean([row["us_preprocess"] for row in r["rows"]])) / 1000,
                                                 2), "camera_bytes_in": sim.bytes_in, "camera_bytes_out": sim.bytes_out
                })
            board.close()
        finally:
            b.stop()
    print("%-10s %-22s %6s %9s %9s %7s %8s %9s %9s" % ("camera", "mode", "frames", "accuracy", "clean", "agree",
                                                      "s/frame", "board ms", "cam bytes"))
    for r in rows:
        print("%-10s %-22s %6d %8.1f%% %8.1f%% %7d %8.3f %9.2f %9d" %
              (r["camera"], r["describe"], r["frames"], 100 * r["accuracy"], 100 * r["clean_accuracy"],
               r["agree_with_reference"], r["seconds_per_frame"], r["board_ms_per_frame"],
               r["camera_bytes_out"] // r["frames"]))
    for how, f in flashes.items():
        print("flash (%s): %d bytes on the wire, %.1f s; app started: %d bytes free, %d allocated; model %s" % (
            how, f["wire_bytes"], f["seconds"], f["mem_free"], f["mem_alloc"], (f["load"] or "?").split(" (")[0]))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"model": os.path.basename(args.model), "flash": flashes, "rows": rows}, f, indent=1)
    return 0 if all(r["agree_with_reference"] == r["frames"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
