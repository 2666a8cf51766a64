"""Accuracy, per-class accuracy and the confusion matrix of a model on a labelled set."""
from __future__ import annotations

import numpy as np

from trainer.data import N_CLASSES
from trainer.layers import forget
from trainer.preprocess import to_input


def predict(model, images, chunk=None):
    """(n, 28, 28) uint8 -> (labels (n,) int, probabilities (n, 10) float32). chunk: images
    at a time (default 2,000; a ConvNet 250: its convolutions' columns take 45 KB an image)."""
    chunk = chunk or (250 if hasattr(model, "spec") else 2000)
    probs = []
    for i in range(0, len(images), chunk):
        probs.append(model.forward(to_input(images[i:i + chunk], model.input_scaling))[-1])
        forget(model.layers)  # (what a backward would need: none comes)
    p = np.concatenate(probs) if probs else np.zeros((0, N_CLASSES), np.float32)
    return p.argmax(axis=1), p


def metrics(labels, predicted):
    """A JSON-ready dict: n, accuracy, per_class accuracy, confusion[true][predicted]."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for c in range(N_CLASSES):
        total = int(confusion[c].sum())
        per_class[str(c)] = round(confusion[c, c] / total, 5) if total else None
    n = int(len(labels))
    return {"n": n, "correct": int(np.trace(confusion)),
            "accuracy": round(float(np.trace(confusion)) / n, 5) if n else None,
            "per_class": per_class, "confusion": confusion.tolist()}


def format_metrics(m, title="accuracy"):
    lines = [
        "%s: %.2f%% (%d of %d)" % (title, 100 * m["accuracy"], m["correct"], m["n"]),
        "per class: " + "  ".join("%s %s" % (c, "--" if a is None else "%.1f" % (100 * a))
                                  for c, a in m["per_class"].items()),
        "confusion (rows: true digit, columns: predicted):", "      " + "".join("%6d" % c for c in range(N_CLASSES))
    ]
    for c, row in enumerate(m["confusion"]):
        lines.append("%6d" % c + "".join("%6d" % v for v in row))
    return "\n".join(lines)
