"""Float checkpoint -> .gnet file plus its card (a JSON file beside it: data, accuracies,
size, sha256), the step `gentlenet export` runs."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from trainer import evaluate, qformat, quantize
from trainer.mlp import write_atomic

PERCENTILES = (99.9, 99.99, 99.999, 100.0)
# PTQ losing more than this many points of accuracy calls for quantisation-aware training.
MAX_LOSS_POINTS = 0.3


def choose_percentile(model, calib_images, candidates=PERCENTILES):
    """The calibration percentile whose int8 model agrees most often with the float model
    on the calibration (training) digits: no test labels are used to choose."""
    from trainer.layers import Net

    float_pred = evaluate.predict(model, calib_images)[0]
    # an MLP's layer outputs once, for every candidate (a ConvNet's each time: they would
    # take 57 MB for the shipped one's 5,000 calibration digits)
    seen = None if isinstance(model, Net) else quantize.calibrate(model, calib_images)
    best = None
    for p in candidates:
        q = _quantize(model, calib_images, p, seen)
        agree = float((quantize.argmax(quantize.reference(q, calib_images)) == float_pred).mean())
        if best is None or agree > best[1]:
            best = (p, agree, q)
    return best


def _quantize(model, calib_images, percentile, seen=None):
    """The int8 QModel of an MLP (trainer/quantize.py) or of a layer stack (trainer/qlayers.py)."""
    from trainer.layers import Net

    if isinstance(model, Net):
        from trainer import qlayers

        return qlayers.to_qmodel(model, calib_images, percentile, seen=seen)
    return quantize.quantize(model, calib_images, percentile, seen=seen)


def _bits(M):
    """[min, max] significant bits of a layer's multipliers."""
    b = np.floor(np.log2(M.astype(np.float64))).astype(int) + 1
    return [int(b.min()), int(b.max())]


def _sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def card_path(gnet_path):
    return os.path.splitext(gnet_path)[0] + ".json"


def export(model, meta, calib, test, out, percentile="auto", source=None, log=print):
    """Quantise `model` (calibrated on `calib`, a Split of training digits), write `out`
    (.gnet) and its card; evaluate float and int8 on `test` when given. Returns the card."""
    if percentile == "auto":
        percentile, agree, q = choose_percentile(model, calib.images)
        log("calibration: %d training digits; percentile %g agrees with the float model on %.2f%% of them" % (
            len(calib), percentile, 100 * agree))
    else:
        q = _quantize(model, calib.images, float(percentile))
    data = qformat.to_bytes(q)
    write_atomic(out, data)
    size, sha = len(data), hashlib.sha256(data).hexdigest()
    card = {
        "model": os.path.basename(out),
        "format": "gnet",
        "format_version": int.from_bytes(data[4:6], "little"),  # 1: an MLP, 2: a ConvNet
        "bytes": size,
        "sha256": sha,
        "architecture": q.spec,
        "hidden": q.hidden,
        "output": q.output,
        "labels": q.labels,
        "input": "28x28 grey, MNIST-style (white digit on black), pixel - 128",
        "preprocess": {"name": q.preprocess, "version": q.preprocess_version},
        "quantization": {
            "weights": "int8 per output neuron, symmetric", "activations": "int8", "calibration_digits": len(calib),
            "percentile": percentile, "multiplier_bits": [_bits(L["M"]) for L in q.layers if "M" in L]
        },
        "data": (meta or {}).get("data"),
        "training": (meta or {}).get("training"),
        "source_checkpoint": os.path.basename(source) if source else None,
        "source_sha256": _sha256_file(source) if source and os.path.isfile(source) else None,
        "board_heap": dict(
            qformat.board_heap(q), note="bytes of MicroPython heap (estimated for the 64-bit unix "
            "port; a 32-bit board needs less): the model alone, and the board app with it"),
    }
    if test is not None:
        float_pred = evaluate.predict(model, test.images)[0]
        scores = quantize.reference(q, test.images)
        int_pred = quantize.argmax(scores)
        fa = float((float_pred == test.labels).mean())
        ia = float((int_pred == test.labels).mean())
        card["accuracy"] = {"test_digits": len(test), "float": round(fa, 5), "int8": round(ia, 5),
                            "loss_points": round(100 * (fa - ia), 3),
                            "same_prediction": round(float((float_pred == int_pred).mean()), 5)}
        if 100 * (fa - ia) > MAX_LOSS_POINTS:
            log("WARNING: the int8 model loses %.2f points (more than %.1f): try another --percentile, "
                "or more calibration digits" % (100 * (fa - ia), MAX_LOSS_POINTS))
    write_atomic(card_path(out), (json.dumps(card, indent=1) + "\n").encode())
    return q, card
