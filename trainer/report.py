"""Pictures of what the network learned and sees (PNG, needs matplotlib: pip install gentlenet[report])."""
from __future__ import annotations

import os

import numpy as np

from trainer import activations
from trainer.data import N_CLASSES


def backquery(model, label, lo=0.01, hi=0.99):
    """Rashid's "peek inside the mind": run the network backwards from the output that says
    `label` to the input image it "imagines", (28, 28) float in 0..1.

    Each layer: undo the activation (its `inverse` in trainer/activations.py: sigmoid ->
    logit, ReLU -> itself; softmax -> log, centred, since logits are defined only up to a
    constant), send the signal back through W.T, and where the activation's range is bounded
    squeeze it into lo..hi so that its inverse is defined (the book's rescaling). Biases are
    left out, as in the book's bias-free network."""
    a = np.full(model.sizes[-1], lo, np.float64)
    a[label] = hi
    last = len(model.W) - 1
    for l in range(last, -1, -1):
        if l == last:
            z = np.log(a) - np.log(a).mean() if model.output == "softmax" else np.log(a / (1 - a))
        else:
            z = model.act.inverse(a)
        a = model.W[l].T.astype(np.float64) @ z  # (n_in,)
        if l > 0 and model.act.squeeze:
            a = (a - a.min()) / max(np.ptp(a), 1e-12) * (hi - lo) + lo
    return ((a - a.min()) / max(np.ptp(a), 1e-12)).reshape(28, 28)


class ReportError(RuntimeError):
    """The pictures cannot be drawn here (no matplotlib)."""


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ReportError(
            "gentlenet report draws with matplotlib: pip install 'gentlenet[report]' (or: make setup)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(history, path, augmented=True):
    """Loss and accuracy per epoch; returns the accuracy panel's legend (what the lines
    are called: "training (augmented)" only where the digits were)."""
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(ep, [h["loss"] for h in history], color="C0")
    ax1.set(title="training loss", xlabel="epoch")
    ax2.plot(ep, [100 * h["train_accuracy"] for h in history],
             label="training (augmented)" if augmented else "training")
    if any("test_accuracy" in h for h in history):
        ax2.plot(ep, [100 * h.get("test_accuracy", np.nan) for h in history], label="test")
    ax2.set(title="accuracy %", xlabel="epoch")
    legend = [t.get_text() for t in ax2.legend().get_texts()]
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return legend


def confusion(m, path):
    plt = _plt()
    cm = np.array(m["confusion"])
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(N_CLASSES):
        for j in range(N_CLASSES):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 3 else "black")
    ax.set(xticks=range(N_CLASSES), yticks=range(N_CLASSES), xlabel="predicted", ylabel="true digit",
           title="confusion matrix, %.2f%% of %d" % (100 * m["accuracy"], m["n"]))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mistakes(images, labels, predicted, probs, path, count=24):
    """The mistakes the network was surest of."""
    plt = _plt()
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:count]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), wrong):
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title("%d as %d\n%.0f%%" % (labels[i], predicted[i], 100 * probs[i, predicted[i]]), fontsize=8)
    fig.suptitle("most confident mistakes (true as predicted, confidence)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def imagine_title(model):
    """The picture says when the back-query cannot work: it inverts invertible activations only."""
    title = "what the network imagines for each label (back-query)"
    if not model.act.invertible:
        title += ("\n%s network: the back-query inverts %s layers, so for this network it is mostly noise; "
                  "train with --rashid to see the book's pictures" %
                  (model.hidden, " or ".join(a.name for a in activations.TABLE.values() if a.invertible and a.hidden)))
    return title


def imagine(model, path):
    plt = _plt()
    fig, axes = plt.subplots(1, N_CLASSES, figsize=(N_CLASSES * 1.1, 1.5))
    for c, ax in enumerate(axes):
        ax.imshow(backquery(model, c), cmap="gray_r")
        ax.set_title(str(c), fontsize=9)
        ax.axis("off")
    fig.suptitle(imagine_title(model), fontsize=9 if model.act.invertible else 7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def filters(net, path):
    """A ConvNet's first convolution: each output channel's 3x3 weights (of its first input
    channel), blue negative, red positive, on one scale: the strokes and edges it looks for."""
    plt = _plt()
    W = net.W[0]  # (c_out, 3, 3, c_in)
    lim = float(np.abs(W).max()) or 1.0
    fig, axes = plt.subplots(1, len(W), figsize=(len(W) * 0.9 + 0.4, 1.4), squeeze=False)
    for c, ax in enumerate(axes[0]):
        ax.imshow(W[c, :, :, 0], cmap="bwr", vmin=-lim, vmax=lim)
        ax.set_title(str(c), fontsize=8)
        ax.axis("off")
    fig.suptitle("first-layer filters (%s): red adds, blue takes away" % net.spec.split(",")[0], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def feature_maps(net, image, path, label=None):
    """What each picture layer of a ConvNet makes of one digit (28, 28) uint8: a row per
    layer, a tile per channel (at most 16), after its ReLU."""
    from trainer import layers as L
    from trainer.preprocess import to_input

    plt = _plt()
    x = to_input(image[None], net.input_scaling).reshape((1,) + net.input_shape)
    rows, name = [("input", x[0])], ""
    for k, layer in enumerate(net.layers):
        x = layer.forward(x)
        if not isinstance(layer, L.ReLU):
            name = "%s %dx%dx%d" % ((type(layer).__name__.lower(),) + x.shape[1:]) if x.ndim == 4 else ""
        nxt = net.layers[k + 1] if k + 1 < len(net.layers) else None
        if name and not isinstance(nxt, L.ReLU):  # (a conv's row shows it after its ReLU)
            rows.append((name, x[0]))
    cols = min(16, max(r[1].shape[-1] for r in rows))
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.8, len(rows) * 0.95), squeeze=False)
    for r, (name, a) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < a.shape[-1]:
                ax.imshow(a[:, :, c], cmap="gray")
        axes[r][0].set_title(name, fontsize=7, loc="left")
    fig.suptitle("what each layer makes of a %s" % ("digit" if label is None else "%d" % label), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(model, meta, test_split, out_dir, log=print):
    """Every picture into out_dir; returns their paths."""
    from trainer.evaluate import metrics, predict
    from trainer.layers import Net

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    if meta.get("history"):
        paths.append(os.path.join(out_dir, "curves.png"))
        curves(meta["history"], paths[-1], bool((meta.get("training") or {}).get("augment", True)))
    if test_split is not None and len(test_split):
        pred, probs = predict(model, test_split.images)
        paths.append(os.path.join(out_dir, "confusion.png"))
        confusion(metrics(test_split.labels, pred), paths[-1])
        paths.append(os.path.join(out_dir, "mistakes.png"))
        mistakes(test_split.images, test_split.labels, pred, probs, paths[-1])
    if isinstance(model, Net):  # a ConvNet: its filters and what they see (no back-query)
        paths.append(os.path.join(out_dir, "filters.png"))
        filters(model, paths[-1])
        if test_split is not None and len(test_split):
            paths.append(os.path.join(out_dir, "feature-maps.png"))
            feature_maps(model, test_split.images[0], paths[-1], int(test_split.labels[0]))
    else:
        paths.append(os.path.join(out_dir, "imagine.png"))
        imagine(model, paths[-1])
    for p in paths:
        log("wrote %s" % p)
    return paths


def contact_sheet(items, path, cols=3, frame_box=(320, 240)):
    """What the network saw, one tile per picture: the frame (its digit box in red) fitted
    into frame_box, the 28x28 that was classified, and lines of text under it. items:
    dicts with "frame" ((h, w) uint8), "box" ((x0, y0, x1, y1) inclusive, or None),
    "digit" ((28, 28) uint8) and "lines" (strings). Pillow only, so it works without
    matplotlib (a Pi Zero)."""
    from PIL import Image, ImageDraw

    if not items:
        raise ValueError("contact_sheet: no pictures")
    fw, fh = frame_box
    side = min(fh, 112)
    tile_w, tile_h = fw + 8 + side + 8, max(fh, side + 14 * 4) + 8
    rows = (len(items) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tile_w, rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    for n, it in enumerate(items):
        x, y = (n % cols) * tile_w, (n // cols) * tile_h
        frame = Image.fromarray(np.asarray(it["frame"], np.uint8)).convert("RGB")
        k = min(fw / frame.width, fh / frame.height)
        frame = frame.resize((max(1, round(frame.width * k)), max(1, round(frame.height * k))),
                             Image.NEAREST if k >= 1 else Image.BOX)
        if it.get("box"):
            x0, y0, x1, y1 = it["box"]
            ImageDraw.Draw(frame).rectangle([int(x0 * k), int(y0 * k), max(int(x0 * k), int((x1 + 1) * k) - 1),
                                             max(int(y0 * k), int((y1 + 1) * k) - 1)], outline=(230, 0, 0))
        sheet.paste(frame, (x, y))
        seen = Image.fromarray(np.asarray(it["digit"], np.uint8).reshape(28, 28)).resize((side, side), Image.NEAREST)
        sheet.paste(seen.convert("RGB"), (x + fw + 8, y))
        for i, line in enumerate(it.get("lines", [])[:4]):
            draw.text((x + fw + 8, y + side + 2 + 14 * i), line, fill=(0, 0, 0))
    sheet.save(path)
    return path
