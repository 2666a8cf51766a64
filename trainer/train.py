"""Mini-batch SGD with momentum for `MLP`, deterministic for a seed.

Memory: the training set stays uint8; one batch at a time becomes float32 (augmented,
scaled), and accuracy is measured in chunks. That is what lets a 60,000-digit set train
on a 512 MB Raspberry Pi Zero.
"""
from __future__ import annotations

import math
import os
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
    weight_decay=5e-5, augment=True, targets=[0.01, 0.99], book_backprop=False, seed=0, camera_aug=0.0,
)
# With camera_aug (a share of each batch, 0..1): every training digit drawn this many times
# as a camera frame and read back by mnistify, before training (trainer/camera.py)
CAMERA_COPIES = 2
# Tariq Rashid's network from "Make Your Own Neural Network": 784-200-10, sigmoid, no
# biases, inputs 0.01..1.0, targets 0.01/0.99, learning rate 0.1, one digit at a time, 5
# epochs, errors back-propagated the book's way.
RASHID = dict(
    sizes=[784, 200, 10], hidden="sigmoid", output="sigmoid", bias=False, input_scaling="rashid",
    init="rashid", epochs=5, batch=1, lr=0.1, momentum=0.0, schedule="constant",
    weight_decay=0.0, augment=False, targets=[0.01, 0.99], book_backprop=True,
)
# `gentlenet train --arch cnn`: the ConvNet (trainer/layers.py's spec) and its learning rate
CNN = "conv8s2,conv16s2,conv32s2,dense10"
CNN_LR = 0.1
SCHEDULES = ("cosine", "step", "constant")
# Fine-tuning (`gentlenet train --from`): a trained network goes on learning, from a user's
# own digits mixed with the digits it learnt from (so it learns theirs without forgetting
# MNIST's), at a tenth of the learning rate, for a few epochs.
FINETUNE = dict(epochs=20, lr=0.01)
FINETUNE_SHARE = 0.25  # the user's digits' share of each epoch: repeated to reach it
FINETUNE_MNIST = 5000  # MNIST digits mixed in at most (a random sample of a larger set): epochs stay short
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


def mix(own, base, share=FINETUNE_SHARE):
    """Split of `base` (MNIST; FINETUNE_MNIST of them at most) and `own` (a user's digits)
    repeated to make about `share` of it (at least once each): what a fine-tuning epoch
    goes through."""
    from trainer.data import Split

    if base is None or not len(base):
        return own
    if len(base) > FINETUNE_MNIST:
        pick = np.sort(np.random.default_rng(0).permutation(len(base))[:FINETUNE_MNIST])
        base = Split(base.images[pick], base.labels[pick])
    reps = max(1, int(round(share * len(base) / ((1 - share) * max(1, len(own))))))
    return Split(np.concatenate([base.images] + [own.images] * reps),
                 np.concatenate([base.labels] + [own.labels] * reps))


def finetune_settings(trained, given=None):
    """The settings of a fine-tuning run: those `trained` (a checkpoint's "training") was
    trained with, FINETUNE's epochs and learning rate, no camera frames (they would be drawn
    for every digit again), then what the user gave."""
    s = {k: v for k, v in (trained or {}).items() if k != "seconds"}
    s.update(FINETUNE, camera_aug=0.0)
    s.update({k: v for k, v in (given or {}).items() if v is not None})
    return s


def finetune(model, own, base, trained=None, given=None):
    """(a fine-tuned copy of `model`, history, settings): `own` mixed with `base`, with the
    settings of `gentlenet train --from` (finetune_settings); `model` is left as it was."""
    import copy

    return train(mix(own, base), None, finetune_settings(trained, given), log=lambda *a: None, show_progress=False,
                 start=copy.deepcopy(model))


def accuracy(model, split):
    """Fraction correct on a Split (predicted a chunk at a time)."""
    from trainer.evaluate import predict

    return float((predict(model, split.images)[0] == split.labels).mean()) if len(split) else float("nan")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: `model` holds the weights of the last finished epoch
    (`history[-1]`), or the initial ones when none had finished (`history` empty);
    `checkpoint` is the resume checkpoint written for that epoch, or None."""

    def __init__(self, model, history, settings, checkpoint=None):
        super().__init__("training interrupted")
        self.model, self.history, self.settings, self.checkpoint = model, history, settings, checkpoint


RESUME_FORMAT = 1  # the "resume" record in a checkpoint's meta


def fingerprint(split):
    """A short hash of a training set's digits and labels: a run resumes on the same data."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(split.images).tobytes())
    h.update(np.ascontiguousarray(split.labels).astype(np.uint8).tobytes())
    return h.hexdigest()[:16]


def default_every(epochs):
    """Epochs between resume checkpoints: about 20 in a run, at least one an epoch."""
    return max(1, int(epochs) // 20)


def duration(seconds):
    """'2 h 05 min', '3 min 20 s', '12 s', '0.4 s'."""
    if seconds < 10:
        return "%.1f s" % max(0.0, seconds)
    seconds = int(round(seconds))
    if seconds >= 3600:
        return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d s" % seconds


def save_resume(path, model, velocity, state, meta=None):
    """A resume checkpoint: the weights (an ordinary checkpoint, so eval/export read it),
    the momentum buffers and `state` (epoch, step, history, settings, the random
    generator's state, the data's fingerprint), written atomically."""
    from trainer import mlp

    info = dict(meta or {})
    info.update(training=state["settings"], history=state["history"], resume=dict(
        format=RESUME_FORMAT, epoch=state["epoch"], step=state["step"], rng=state["rng"], data=state["data"],
        seconds=state["seconds"]))
    mlp.save(model, path, info, arrays={"velocity%d" % j: v for j, v in enumerate(velocity)})


def load_resume(path):
    """(model, velocity, state) from a resume checkpoint; a clear error for anything else."""
    from trainer import mlp

    model, meta = mlp.load(path)
    r = meta.get("resume")
    if not isinstance(r, dict) or r.get("format") != RESUME_FORMAT:
        raise mlp.CheckpointError("%s: a finished model, not a resume checkpoint (training writes those as "
                                  "<name>.resume.npz while it runs)" % path)
    try:
        with np.load(path, allow_pickle=False) as z:
            velocity = [z["velocity%d" % j].astype(np.float32) for j in range(len(model.params))]
    except KeyError as e:
        raise mlp.CheckpointError("%s: damaged resume checkpoint (%s missing)" % (path, e)) from None
    if any(v.shape != p.shape for v, p in zip(velocity, model.params)):
        raise mlp.CheckpointError("%s: damaged resume checkpoint (momentum shapes)" % path)
    state = dict(settings=meta["training"], history=meta.get("history") or [], epoch=int(r["epoch"]),
                 step=int(r["step"]), rng=r["rng"], data=r["data"], seconds=float(r.get("seconds", 0)))
    return model, velocity, state


def train(train_split, test_split=None, settings=None, log=print, show_progress=None, checkpoint=None, every=None,
          resume=None, meta=None, start=None):
    """Train a new MLP or ConvNet, or go on training `start` (a trained model: fine-tuning,
    its architecture kept); returns (model, history, settings actually used).

    checkpoint: a path where a resume checkpoint is written (atomically) every `every`
    epochs and on Ctrl-C; resume: (model, velocity, state) from load_resume, continued to
    the same weights, bit for bit, as the uninterrupted run."""
    if resume is not None:
        s = dict(resume[2]["settings"])
    else:
        s = dict(DEFAULTS)
        s.update({k: v for k, v in (settings or {}).items() if v is not None})
    n = len(train_split)
    if n == 0:
        raise ValueError("no training digits")
    if s["epochs"] is None:
        s["epochs"] = auto_epochs(n)
    if s["sizes"][0] != 784:
        raise ValueError("the first layer must have 784 inputs (28x28 pixels), not %d" % s["sizes"][0])
    n_classes = int(train_split.labels.max()) + 1
    if s["sizes"][-1] < n_classes:
        raise ValueError("the last layer has %d outputs, but the digits have %d classes: end the layer sizes in %d, "
                         "like 784,100,%d" % (s["sizes"][-1], n_classes, 10, 10))
    if s["schedule"] not in SCHEDULES:
        raise ValueError("unknown schedule %r (known: %s)" % (s["schedule"], ", ".join(SCHEDULES)))
    data_id = fingerprint(train_split)
    rng = np.random.default_rng(s["seed"])
    if start is not None:  # fine-tuning: the trained network, its weights moved by this run
        model = start
    elif s.get("arch"):  # a stack of trainer/layers.py's layers (a ConvNet), else the MLP
        from trainer.layers import Net

        model = Net(s["arch"], seed=int(rng.integers(2 ** 31)))
    else:
        model = MLP(s["sizes"], s["hidden"], s["output"], s["bias"], s["input_scaling"],
                    seed=int(rng.integers(2 ** 31)), init=s["init"])
    aug = None
    if s["augment"]:
        aug = Augment(**s["augment"]) if isinstance(s["augment"], dict) else Augment()
        s["augment"] = aug.settings()
    if s["book_backprop"] and s["output"] != "sigmoid":
        raise ValueError("the book's back-propagation needs a sigmoid output")
    share = float(s.get("camera_aug") or 0.0)
    if not 0.0 <= share <= 1.0:
        raise ValueError("camera_aug is a share of each batch, 0 to 1, not %g" % share)
    cam = None
    if share:
        from trainer import camera

        cam = camera.frames(train_split, CAMERA_COPIES, int(s["seed"]), data_id,
                            cache_dir=os.path.dirname(os.path.abspath(checkpoint)) if checkpoint else None,
                            log=log, show_progress=show_progress)  # (copies * n, 28, 28) uint8
    velocity = [np.zeros_like(p) for p in model.params]
    history, first, step, spent = [], 1, 0, 0.0
    if resume is not None:
        model, velocity, state = resume
        if state["data"] != data_id:
            raise ValueError("this is not the data the run was started on (fingerprint %s, the checkpoint's %s): "
                             "give the same --data" % (data_id, state["data"]))
        rng.bit_generator.state = state["rng"]
        history, first, step, spent = list(state["history"]), state["epoch"] + 1, state["step"], state["seconds"]
        log("resuming after epoch %d of %d" % (state["epoch"], s["epochs"]))
    every = every or default_every(s["epochs"])
    batch = int(s["batch"])
    steps_per_epoch = max(1, n // batch)
    total = s["epochs"] * steps_per_epoch
    targets = tuple(s["targets"])
    mom, wd = np.float32(s["momentum"]), np.float32(s["weight_decay"])
    n_w = len(model.W)
    t_start = time.time()

    def snapshot(epoch):  # the state after a finished epoch: what a resume continues from
        return dict(settings=s, history=list(history), epoch=epoch, step=step, rng=rng.bit_generator.state,
                    data=data_id, seconds=round(spent + time.time() - t_start, 2))

    done = ([p.copy() for p in model.params], [v.copy() for v in velocity], snapshot(first - 1))
    estimated = False
    try:
        for epoch in range(first, s["epochs"] + 1):
            t0 = time.time()
            order = rng.permutation(n)
            loss_sum, right, seen = 0.0, 0, 0
            bar = progress.Bar(steps_per_epoch, "epoch %d/%d" % (epoch, s["epochs"]), enabled=show_progress)
            for k in range(steps_per_epoch):
                idx = order[k * batch:(k + 1) * batch]
                imgs = train_split.images[idx]  # (batch, 28, 28) uint8, a copy
                if cam is not None:  # a share of the batch as the board sees it through a camera
                    pick = rng.random(len(idx)) < share
                    imgs[pick] = cam[rng.integers(0, CAMERA_COPIES, int(pick.sum())) * n + idx[pick]]
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
                if not estimated and (time.time() - t0 > 5 or k + 1 == steps_per_epoch):
                    # before a long run goes on: how long the whole of it will take here
                    estimated = True
                    per_step = (time.time() - t0) / (k + 1)
                    log("estimated time: %s for %d epochs of %d digits on this machine%s" % (
                        duration(per_step * (total - step + k + 1)), s["epochs"] - epoch + 1, n,
                        "; a resume checkpoint every %d epoch%s: %s" % (every, "s" if every > 1 else "", checkpoint)
                        if checkpoint else ""))
                if k % 16 == 0 or k == steps_per_epoch - 1:
                    bar.update(k + 1, "loss %.4f  acc %.1f%%" % (loss_sum / seen, 100.0 * right / seen))
            bar.close()
            rec = {"epoch": epoch, "seconds": round(time.time() - t0, 3), "loss": round(loss_sum / seen, 5),
                   "train_accuracy": round(right / seen, 5)}
            if test_split is not None and len(test_split):
                rec["test_accuracy"] = round(accuracy(model, test_split), 5)
            history.append(rec)
            done = ([p.copy() for p in model.params], [v.copy() for v in velocity], snapshot(epoch))
            if checkpoint and epoch < s["epochs"] and (epoch % every == 0):
                save_resume(checkpoint, model, velocity, done[2], meta)
            if not progress.interactive(show_progress) and (epoch % max(1, s["epochs"] // 10) == 0 or
                                                            epoch == s["epochs"] or epoch == first):
                per_epoch = (time.time() - t_start) / (epoch - first + 1)
                log("epoch %3d/%d  loss %.4f  train %.2f%%%s  (%s an epoch, %s)" % (
                    epoch, s["epochs"], rec["loss"], 100 * rec["train_accuracy"],
                    "  test %.2f%%" % (100 * rec["test_accuracy"]) if "test_accuracy" in rec else "",
                    duration(per_epoch), "done" if epoch == s["epochs"] else
                    "about %s left" % duration(per_epoch * (s["epochs"] - epoch))))
    except KeyboardInterrupt:
        params, vel, state = done
        for p, d in zip(model.params, params):
            p[...] = d  # back to the last finished epoch
        s["seconds"] = state["seconds"]
        written = None
        if checkpoint and state["epoch"] >= 1:
            save_resume(checkpoint, model, vel, state, meta)
            written = checkpoint
        raise Interrupted(model, state["history"], s, written) from None
    s["seconds"] = round(spent + time.time() - t_start, 2)
    return model, history, s
