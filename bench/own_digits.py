"""Your own digits: how the shipped networks read digits by writers outside MNIST
(trainer/writers.py's styles), and what fine-tuning on 100 of them does (issue 23).

    python bench/own_digits.py [--data DIR] [--from CKPT] [--styles continental] [--own 100] [--held 500] [--seeds 3]

1. Side by side: the shipped int8 models (the MLP and the ConvNet, quantize.reference: the
   board's bytes) on `--held` digits of every style and on the official test set.
2. Fine-tuning, per style and seed: `--own` digits in the style (10 writers) teach the
   float checkpoint `--from` (default: the shipped ConvNet's, weights/*.npz) by
   `train.finetune` (the settings `gentlenet train --from` uses), mixed with
   MNIST's training digits; accuracy before and after on `--held` digits by OTHER writers
   of the style and on the official test set, float and int8 (calibrated on the training
   digits as `gentlenet export` does). Floors (the issue's): the held-out style gains at
   least 10 points or ends within 2 points of clean MNIST; MNIST drops by at most 0.3.

Prints tables; writes bench/results/own_digits.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from trainer import export, mlp, qformat, quantize, sources, train, writers  # noqa: E402

SHIPPED = ["weights/mnist-784-100-10.gnet", "weights/mnist-cnn-8s2-16s2-32s2-10.gnet"]
DEFAULT_FROM = "weights/mnist-cnn-8s2-16s2-32s2-10.npz"
MIN_GAIN, NEAR_CLEAN, MAX_DROP = 10.0, 2.0, 0.3  # points


def int8_accuracy(q, split):
    return float((quantize.argmax(quantize.reference(q, split.images)) == split.labels).mean())


def both(model, calib, splits):
    """{name: (float, int8)} accuracies of a float model and its int8 export."""
    _, _, q = export.choose_percentile(model, calib.images)
    return {k: (train.accuracy(model, s), int8_accuracy(q, s)) for k, s in splits.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="MNIST (default: what gentlenet finds)")
    ap.add_argument("--from", dest="start", default=os.path.join(ROOT, DEFAULT_FROM))
    ap.add_argument("--styles", default="continental", help="comma-separated, of: %s" % ", ".join(writers.STYLES))
    ap.add_argument("--own", type=int, default=100, help="the user's digits to fine-tune on")
    ap.add_argument("--held", type=int, default=500, help="held-out digits of the style, by other writers")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, help="fine-tuning epochs (default %d)" % train.FINETUNE["epochs"])
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "own_digits.json"))
    args = ap.parse_args(argv)
    styles = args.styles.split(",")
    ds = sources.find(args.data, allow_download=False, log=lambda *a: None)
    if ds.train is None or ds.test is None:
        sys.exit("need MNIST training and test digits: --data DIR")
    print("MNIST: %s (%d training, %d test digits)%s" % (ds.source, len(ds.train), len(ds.test),
                                                         " NOTE: " + ds.note if ds.note else ""))
    out = {"mnist": ds.source, "own": args.own, "held": args.held, "styles": {}, "shipped": {}}
    t0 = time.time()
    held = {s: writers.generate(s, args.held, seed=1000) for s in writers.STYLES}
    print("%d held-out digits a style by %d writers drawn in %.1fs" % (args.held, (args.held + 9) // 10,
                                                                         time.time() - t0))
    print("\n1. the shipped int8 models, side by side (% right)")
    print("%-44s %8s" % ("model", "MNIST") + "".join("%13s" % s for s in writers.STYLES))
    for path in SHIPPED:
        q = qformat.load(os.path.join(ROOT, path))
        row = {"MNIST test": int8_accuracy(q, ds.test)}
        row.update({s: int8_accuracy(q, held[s]) for s in writers.STYLES})
        out["shipped"][os.path.basename(path)] = row
        print("%-44s %7.2f%%" % (os.path.basename(path), 100 * row["MNIST test"]) +
              "".join("%12.2f%%" % (100 * row[s]) for s in writers.STYLES))
    base, meta = mlp.load(args.start)
    print("\n2. fine-tuning %s on %d digits of a style (mixed with %d MNIST digits), %s epochs; "
          "held out: %d digits by other writers" % (os.path.relpath(args.start), args.own, len(ds.train),
                                                    args.epochs or train.FINETUNE["epochs"], args.held))
    print("%-12s %4s %7s  %-22s %-22s %8s %8s  %s" % ("style", "seed", "", "style before -> after",
                                                     "MNIST before -> after", "gain", "MNIST", "floors"))
    before = None
    ok_all = True
    for style in styles:
        runs = []
        for seed in range(args.seeds):
            own = writers.generate(style, args.own, seed=seed)
            splits = {"style": held[style], "mnist": ds.test}
            if before is None or style not in before:
                before = dict(before or {}, **{style: both(base, ds.train, splits)})
            t = time.time()
            model, _, used = train.finetune(base, own, ds.train, meta.get("training"),
                                            {"seed": seed, "epochs": args.epochs})
            secs = time.time() - t
            after = both(model, ds.train, splits)
            b, a = before[style], after
            run = {"seed": seed, "seconds": round(secs, 1), "epochs": used["epochs"]}
            for i, kind in enumerate(("float", "int8")):
                run[kind] = {"style_before": b["style"][i], "style_after": a["style"][i],
                             "mnist_before": b["mnist"][i], "mnist_after": a["mnist"][i]}
            r = run["int8"]
            gain = 100 * (r["style_after"] - r["style_before"])
            drop = 100 * (r["mnist_before"] - r["mnist_after"])
            run["passes"] = bool((gain >= MIN_GAIN or 100 * (r["mnist_after"] - r["style_after"]) <= NEAR_CLEAN)
                                 and drop <= MAX_DROP)
            ok_all &= run["passes"]
            runs.append(run)
            for kind in ("float", "int8"):
                r = run[kind]
                print("%-12s %4d %7s  %6.2f%% -> %6.2f%%     %6.2f%% -> %6.2f%%     %+7.2f %+8.2f  %s" % (
                    style, seed, kind, 100 * r["style_before"], 100 * r["style_after"], 100 * r["mnist_before"],
                    100 * r["mnist_after"], 100 * (r["style_after"] - r["style_before"]),
                    100 * (r["mnist_after"] - r["mnist_before"]),
                    ("PASS" if run["passes"] else "FAIL") + " (%.0fs)" % secs if kind == "int8" else ""))
        med = lambda k: float(np.median([r["int8"][k] for r in runs]))  # noqa: E731
        out["styles"][style] = {"runs": runs, "median_int8": {k: med(k) for k in runs[0]["int8"]},
                                "passes": all(r["passes"] for r in runs)}
        m = out["styles"][style]["median_int8"]
        print("%-12s median int8: style %.2f%% -> %.2f%%, MNIST %.2f%% -> %.2f%%" % (
            style, 100 * m["style_before"], 100 * m["style_after"], 100 * m["mnist_before"], 100 * m["mnist_after"]))
    out["floors"] = {"min_gain_points": MIN_GAIN, "or_within_points_of_mnist": NEAR_CLEAN,
                     "max_mnist_drop_points": MAX_DROP, "all_pass": ok_all}
    out["seconds"] = round(time.time() - t0, 1)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print("\nfloors (int8, every seed): %s; %.0fs; wrote %s" % ("PASS" if ok_all else "FAIL", out["seconds"],
                                                                 os.path.relpath(args.json)))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
