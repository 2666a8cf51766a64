"""Collect labelled digits from a camera: the user is asked for one digit at a time, shows
it, sees the 28x28 the network will be given, keeps it or takes it again.

The label saved is always the one the user was asked to write: what the network reads
is shown (it tells the user where it is wrong today) and never written into a name.

Files, in the book's naming (the label is the digit before the extension):
  <out>/<prefix>_<nnnn>_<label>.png          the camera frame as the board saw it (grey):
                                             the training data (`gentlenet train --from
                                             ... --data <out>` reads it through mnistify,
                                             to the same 28x28 bytes)
  <out>-2828/2828_<prefix>_<nnnn>_<label>.png  that 28x28, dark ink on white, as the book
                                             keeps its own digits: to look at
Numbering goes on after the files already in <out>: a second session adds, never overwrites.
"""
from __future__ import annotations

import io
import os
import re

import numpy as np

from firmware_tools import classify
from firmware_tools.cameras import CameraError

_NUMBERED = re.compile(r"_(\d{4,})_\d\.png$")


def safe_prefix(prefix):
    """A file-name prefix that never ends in a digit (it would be read as the label)."""
    return classify.safe_name(prefix).rstrip("0123456789_") or "mine"


def sketch(digit, cols=28):
    """The 28x28 as text, two characters a pixel: what the network will be given."""
    d = np.frombuffer(bytes(digit), np.uint8).reshape(28, 28)
    ramp = " .:-=+*#%@"
    return "\n".join("".join(ramp[int(v) * (len(ramp) - 1) // 255] * 2 for v in row) for row in d)


def next_number(out):
    """The number after the highest in <out>'s collected files (0 for a new folder)."""
    if not os.path.isdir(out):
        return 0
    nums = [int(m.group(1)) for m in (_NUMBERED.search(f) for f in os.listdir(out)) if m]
    return max(nums) + 1 if nums else 0


def save(out, prefix, number, label, grey, digit):
    """Write the frame and its 28x28 (atomically, each); returns the frame's path."""
    from PIL import Image

    from trainer.mlp import write_atomic

    def png(array):
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "PNG")
        return buf.getvalue()

    seen = out.rstrip("/\\") + "-2828"
    os.makedirs(out, exist_ok=True)
    os.makedirs(seen, exist_ok=True)
    name = "%s_%04d_%d.png" % (prefix, number, label)
    write_atomic(os.path.join(seen, "2828_" + name), png(255 - np.frombuffer(bytes(digit), np.uint8).reshape(28, 28)))
    path = os.path.join(out, name)
    write_atomic(path, png(np.ascontiguousarray(grey)))
    return path


def run(camera, q, labels, out, board=None, prefix="mine", ask=input, log=print):
    """Ask for each label in turn; returns [(path, label, what the network read)] of the
    digits kept. ask(prompt) -> the user's answer ('' = Enter; 'r' redo; 's' skip; 'q' quit)."""
    limit = board.info()["frame_bytes"] if board is not None else 1 << 30
    prompt = ask

    def ask(text):
        try:
            return prompt(text)
        except EOFError:  # no one at the keyboard (input closed): stop, keeping what was kept
            log("(end of input: stopping)")
            return "q"

    number = next_number(out)
    kept = []
    for label in labels:
        while True:
            a = ask("write a %d, show it to the camera and press Enter (s: skip it, q: stop) " % label).strip().lower()
            if a == "q":
                return kept
            if a == "s":
                break
            try:
                f = camera.grab()
            except CameraError as e:
                log("camera: %s; try again" % e)
                continue
            grey = classify.fit(f.grey, limit)
            ref = classify.reference(q, grey)
            read, conf = ref["label"], ref["confidence"]
            if board is not None:
                b = classify.classify_on_board(board, grey, log)
                if b["digit_crc"] != ref["digit_crc"] or b["scores"] != ref["scores"]:
                    log("the board's 28x28 or scores differ from the host's for this frame: not kept; try again")
                    continue
                read, conf = b["label"], b["confidence"]
            if not any(ref["digit"]):
                log("no digit found in the frame (%dx%d): try again" % (grey.shape[1], grey.shape[0]))
                continue
            log(sketch(ref["digit"]))
            log("the network reads it as %s (%.0f%%)%s" % (read, 100 * conf, "" if str(read) == str(label) else
                                                             ": it will learn that this is a %d" % label))
            a = ask("keep it as a %d? Enter: keep, r: take it again " % label).strip().lower()
            if a == "q":
                return kept
            if a == "r":
                continue
            path = save(out, prefix, number, label, grey, ref["digit"])
            number += 1
            kept.append((path, label, read))
            log("kept %s" % path)
            break
    return kept
