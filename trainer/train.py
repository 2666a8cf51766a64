"""Mini-batch SGD with momentum for `MLP`, deterministic for a seed.

Memory: the training set stays uint8; one batch at a time becomes float32 (augmented,
scaled), and accuracy is measured in chunks. That is what lets a 60,000-digit set train
on a 512 MB Raspberry Pi Zero.
"""
from __future__ import annotations

import math
import time

import numpy as np

from trainer import progress
from trainer.augment import Augment
from trainer.mlp import MLP
from trainer.preprocess import to_input

# The defaults: 784-100-10, ReLU, softmax, heavy augmentation, cosine-decayed SGD.
DEFAULTS = dict(
    sizes=[784, 100, 10], hidden="relu", output="softmax", bias=True, input_scaling="unit",
    init="he", epochs=None, batch=64, lr=0.1, momentum=0.9, schedule="cosine",
    weight_decay=5e-5, augment=True, targets=[0.01, 0.99], book_backprop=False, seed=0,
)
# Tariq Rashid's network from "Make Your Own Neural Network": 784-200-10, sigmoid, no
# biases, inputs 0.01..1.0, targets 0.01/0.99, learning rate 0.1, one digit at a time, 5
# epochs, errors back-propagated the book's way.
RASHID = dict(
    sizes=[784, 200, 10], hidden="sigmoid", output="sigmoid", bias=False, input_scaling="rashid",
    init="rashid", epochs=5, batch=1, lr=0.1, momentum=0.0, schedule="constant",
    weight_decay=0.0, augment=False, targets=[0.01, 0.99], book_backprop=True,
)
SCHEDULES = ("cosine", "step", "constant")
# Without --epochs: enough epochs to show the network about this many (augmented) digits,
# 200 epochs of a 5,000-digit set, 17 of a 60,000-digit set.
AUTO_SAMPLES = 1_000_000


def auto_epochs(n_train):
    return int(min(200, max(5, math.ceil(AUTO_SAMPLES / max(1, n_train)))))


def learning_rate(s, step, total):
    if s["schedule"] == "constant":
        return s["lr"]
    if s["schedule"] == "cosine":
        return s["lr"] * 0.5 * (1 + math.cos(math.pi * step / total))
    if s["schedule"] == "step":  # divide by 10 at 50 % and 75 % of training
        return s["lr"] * (0.1 ** ((step >= total * 0.5) + (step >= total * 0.75)))
    raise ValueError("unknown schedule %r (known: %s)" % (s["schedule"], ", ".join(SCHEDULES)))


def accuracy(model, split):
    """Fraction correct on a Split (predicted a chunk at a time)."""
    from trainer.evaluate import predict

    return float((predict(model, split.images)[0] == split.labels).mean()) if len(split) else float("nan")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: `model` holds the weights of the last finished epoch
    (`history[-1]`), or the initial ones when none had finished (`history` empty)."""

    def __init__(self, model, history, settings):
        super().__init__("training interrupted")
        self.model, self.history, self.settings = model, history, settings


def train(train_split, test_split=None, settings=None, log=print, show_progress=None):
    """Train a new MLP; returns (model, history, settings actually used)."""
    s = dict(DEFAULTS)
    s.update({k: v for k, v in (settings or {}).items() if v is not None})
    n = len(train_split)
    if n == 0:
        raise ValueError("no training digits")
    if s["epochs"] is None:
        s["epochs"] = auto_epochs(n)
    if s["sizes"][0] != 784:
        raise ValueError("the first layer must have 784 inputs (28x28 pixels), not %d" % s["sizes"][0])
    if s["schedule"] not in SCHEDULES:
        raise ValueError("unknown schedule %r (known: %s)" % (s["schedule"], ", ".join(SCHEDULES)))
    rng = np.random.default_rng(s["seed"])
    model = MLP(s["sizes"], s["hidden"], s["output"], s["bias"], s["input_scaling"],
                seed=int(rng.integers(2 ** 31)), init=s["init"])
    aug = None
    if s["augment"]:
        aug = Augment(**s["augment"]) if isinstance(s["augment"], dict) else Augment()
        s["augment"] = aug.settings()
    if s["book_backprop"] and s["output"] != "sigmoid":
        raise ValueError("the book's back-propagation needs a sigmoid output")
    velocity = [np.zeros_like(p) for p in model.params]
    batch = int(s["batch"])
    steps_per_epoch = max(1, n // batch)
    total = s["epochs"] * steps_per_epoch
    targets = tuple(s["targets"])
    mom, wd = np.float32(s["momentum"]), np.float32(s["weight_decay"])
    n_w = len(model.W)
    history = []
    step = 0
    t_start = time.time()
    done = [p.copy() for p in model.params]  # the weights after the last finished epoch
    try:
        for epoch in range(1, s["epochs"] + 1):
            t0 = time.time()
            order = rng.permutation(n)
            loss_sum, right, seen = 0.0, 0, 0
            bar = progress.Bar(steps_per_epoch, "epoch %d/%d" % (epoch, s["epochs"]), enabled=show_progress)
            for k in range(steps_per_epoch):
                idx = order[k * batch:(k + 1) * batch]
                imgs = train_split.images[idx]
                if aug is not None:
                    imgs = aug(imgs, rng)
                x = to_input(imgs, s["input_scaling"])  # (batch, 784) float32
                y = train_split.labels[idx]
                acts = model.forward(x)
                loss, delta, error = model.loss_and_delta(acts[-1], y, targets)
                grads = model.backward(acts, delta, error if s["book_backprop"] else None)
                lr = np.float32(learning_rate(s, step, total))
                for j, (p, g, v) in enumerate(zip(model.params, grads, velocity)):
                    if wd and j < n_w:  # decay weights, not biases
                        g = g + wd * p
                    v *= mom
                    v -= lr * g
                    p += v
                step += 1
                loss_sum += loss * len(y)
                right += int((acts[-1].argmax(1) == y).sum())
                seen += len(y)
                if k % 16 == 0 or k == steps_per_epoch - 1:
                    bar.update(k + 1, "loss %.4f  acc %.1f%%" % (loss_sum / seen, 100.0 * right / seen))
            bar.close()
            rec = {"epoch": epoch, "seconds": round(time.time() - t0, 3), "loss": round(loss_sum / seen, 5),
                   "train_accuracy": round(right / seen, 5)}
            if test_split is not None and len(test_split):
                rec["test_accuracy"] = round(accuracy(model, test_split), 5)
            history.append(rec)
            for p, d in zip(model.params, done):
                d[...] = p
            if not progress.interactive(show_progress) and (epoch % max(1, s["epochs"] // 10) == 0 or
                                                            epoch == s["epochs"]):
                log("epoch %3d/%d  loss %.4f  train %.2f%%%s  (%.1fs)" % (
                    epoch, s["epochs"], rec["loss"], 100 * rec["train_accuracy"],
                    "  test %.2f%%" % (100 * rec["test_accuracy"]) if "test_accuracy" in rec else "", rec["seconds"]))
    except KeyboardInterrupt:
        for p, d in zip(model.params, done):
            p[...] = d  # back to the last finished epoch
        s["seconds"] = round(time.time() - t_start, 2)
        raise Interrupted(model, history, s) from None
    s["seconds"] = round(time.time() - t_start, 2)
    return model, history, s
