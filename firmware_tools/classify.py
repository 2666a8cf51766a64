"""Frames from a camera -> classified on the board (or on the host), checked against the
host's reference pipeline.

The reference pipeline is the trainer's: device/mnistify.py on CPython (the same integer
algorithm the board runs) then trainer/quantize.py's numpy integer reference. With a
board, every answer is compared with it: the 28x28 the board saw (its CRC-32) and all
int8 scores must be equal, or the frame is counted as a mismatch.
"""
from __future__ import annotations

import binascii
import os
import time

import numpy as np

from firmware_tools.cameras import CameraError


def reference(q, grey):
    """(h, w) uint8 frame -> dict like the board's answer, computed on the host."""
    from device import mnistify
    from trainer import quantize

    if q.preprocess_version != mnistify.VERSION and q.preprocess == "mnistify":
        raise ValueError("the model expects mnistify v%d, this gentlenet has v%d" %
                         (q.preprocess_version, mnistify.VERSION))
    h, w = grey.shape
    digit = bytes(mnistify.mnistify(np.ascontiguousarray(grey).tobytes(), w, h))
    scores = quantize.reference(q, np.frombuffer(digit, np.uint8)[None])[0]
    k = int(np.argmax(scores))
    conf = int(quantize.confidence(q, scores[None])[0])
    return {"label": q.labels[k], "class": k, "scores": [int(s) for s in scores], "confidence": conf / 10000,
            "digit_crc": binascii.crc32(digit) & 0xFFFFFFFF, "digit": digit}


def fit(grey, limit):
    """Halve a frame (2x2 means, rounded half up) until it fits in `limit` bytes: the
    board's frame buffer. The board and the reference both get the halved frame."""
    while grey.size > limit:
        h, w = grey.shape[0] // 2 * 2, grey.shape[1] // 2 * 2
        g = grey[:h, :w].astype(np.uint16)
        grey = ((g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2] + 2) // 4).astype(np.uint8)
    return grey


def save_pair(path, grey, digit, scale=4):
    """The frame and the 28x28 the network saw, side by side in one PNG."""
    from PIL import Image

    side = 28 * scale
    h, w = grey.shape
    fw = max(1, round(w * side / h))
    frame = Image.fromarray(grey).resize((fw, side), Image.NEAREST)
    seen = Image.fromarray(np.frombuffer(digit, np.uint8).reshape(28, 28)).resize((side, side), Image.NEAREST)
    out = Image.new("L", (fw + 8 + side, side), 128)
    out.paste(frame, (0, 0))
    out.paste(seen, (fw + 8, 0))
    out.save(path)


MAX_FAILS = 3  # camera failures in a row that end a run


def safe_name(label):
    """A label as part of a file name: letters, digits, - and _ kept, anything else
    (a / from a board, a space) becomes _."""
    out = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in str(label))[:40]
    return out or "_"


def classify_on_board(board, grey, log=print):
    """board.classify, once more after an error: resent if the board reported one (noise on
    the line), after reconnecting if it did not answer (a reset, a wiggled cable)."""
    from firmware_tools.boardclient import BoardError

    try:
        return board.classify(grey)
    except BoardError as e:
        if e.code in ("too-big", "format", "no-model", "no-frame", "preprocess"):
            raise  # resending cannot help
        log("board: %s; %s" % (e, "sending again" if e.code else "reconnecting"))
        if e.code is None:
            board.reconnect()
        return board.classify(grey)


def run(camera, frames, q, board=None, save=None, log=print, on_frame=None):
    """Grab `frames` frames; classify each on `board` (a BoardClient) or, without one, on
    the host. Returns a summary dict with a row per frame."""
    if save:
        os.makedirs(save, exist_ok=True)
    rows = []
    t0 = time.time()
    limit = board.info()["frame_bytes"] if board is not None else 1 << 30
    fails = 0
    for i in range(frames):
        try:
            f = camera.grab()
        except CameraError as e:
            # the driver has already retried; one bad frame does not end the run, three do
            fails += 1
            rows.append({"frame": i, "error": str(e)})
            log("frame %3d: camera: %s" % (i, e))
            if fails == MAX_FAILS:
                raise CameraError("%d frames in a row failed; the last: %s" % (fails, e)) from None
            continue
        fails = 0
        f.grey = fit(f.grey, limit)
        ref = reference(q, f.grey)
        row = {"frame": i, "width": int(f.grey.shape[1]), "height": int(f.grey.shape[0]),
               "camera_retries": f.retries, "jpeg_bytes": len(f.jpeg) if f.jpeg is not None else None}
        if board is not None:
            a = classify_on_board(board, f.grey, log)
            agree = a["scores"] == ref["scores"] and a["digit_crc"] == ref["digit_crc"]
            row.update(label=a["label"], confidence=a["confidence"], scores=a["scores"], us=a["us"],
                       us_preprocess=a["us_preprocess"], us_model=a["us_model"], agree=agree,
                       reference_label=ref["label"])
        else:
            row.update(label=ref["label"], confidence=ref["confidence"], scores=ref["scores"], agree=None)
        if save:
            # the network's answer goes in the middle of the name, where it is never read as the
            # digit's label (data.label_of reads a leading or a trailing digit): a guess is not a truth
            save_pair(os.path.join(save, "frame-%04d-read-as-%s-unchecked.png" % (i, safe_name(row["label"]))),
                      f.grey, ref["digit"])
        rows.append(row)
        if on_frame:
            on_frame(row)
        else:
            where = ("board %.1f ms" % (row["us"] / 1000)) if board is not None else "host"
            check = "" if row["agree"] is None else (
                "  = reference" if row["agree"] else "  DIFFERS from the host reference")
            log("frame %3d: %s (%3.0f%%)  %s%s" % (i, row["label"], 100 * row["confidence"], where, check))
    done = [r for r in rows if "error" not in r]
    s = {"frames": len(done), "failed": len(rows) - len(done), "seconds": round(time.time() - t0, 2),
         "where": "board" if board is not None else "host", "rows": rows}
    if board is not None:
        s["agree"] = sum(r["agree"] for r in done)
    return s
