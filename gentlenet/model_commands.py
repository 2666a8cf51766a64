"""The model commands: train, eval, predict, export, report, data (the trainer's side;
nothing here needs a board)."""
from __future__ import annotations

import argparse
import io
import json
import os
import time

from gentlenet.common import (DEFAULT_GNET, DEFAULT_MODEL, OUT, SHIPPED_GNET, SHIPPED_NPZ, CommandError, data_args,
                              find_data, fraction, heap_line, log, network_name, positive_float, positive_int, shown)


def _layers(text):
    try:
        sizes = [int(v) for v in text.replace("-", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("layer sizes like 784,100,10, not %r" % text) from None
    if len(sizes) < 2 or sizes[0] != 784 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            "layer sizes start with 784 inputs and have at least two numbers, like 784,100,10")
    if sizes[-1] != 10:
        raise argparse.ArgumentTypeError("layer sizes end in 10 outputs, one per digit, like %s,10 (not %d)" % (
            ",".join(map(str, sizes[:-1] if len(sizes) > 2 else sizes)), sizes[-1]))
    return sizes


def _arch(text):
    """--arch: "cnn" (the trainer's ConvNet) or a layer spec, checked by building it."""
    from trainer import layers, train

    spec = train.CNN if text == "cnn" else text
    try:
        layers.build(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return spec


CAMERA_SHARE = 0.3  # --camera-aug without a share
STROKE_SHARE = 0.3  # --stroke without a share


def _train_settings(args):
    from trainer import train

    if getattr(args, "arch", None):
        mlp_only = ["--" + f.replace("_", "-") for f in ("rashid", "layers", "hidden_act", "output", "no_bias")
                    if getattr(args, f, None) not in (None, False)]
        if mlp_only:
            raise CommandError("--arch trains a ConvNet (ReLU, softmax, biases); %s %s for the MLP: drop %s" % (
                " ".join(mlp_only), "is" if len(mlp_only) == 1 else "are", "it" if len(mlp_only) == 1 else "them"))
    s = dict(train.RASHID) if args.rashid else {}
    if getattr(args, "arch", None):
        s.update(arch=args.arch, lr=train.CNN_LR)
    given = {"sizes": args.layers, "hidden": args.hidden_act, "output": args.output, "epochs": args.epochs,
             "batch": args.batch, "lr": args.lr, "momentum": args.momentum, "schedule": args.schedule,
             "weight_decay": args.weight_decay, "seed": args.seed, "camera_aug": args.camera_aug}
    s.update({k: v for k, v in given.items() if v is not None})
    if args.no_bias:
        s["bias"] = False
    if args.no_augment:
        s["augment"] = False
    elif args.rotate is not None or args.shift is not None or args.stroke is not None:
        from trainer.augment import Augment

        a = Augment().settings()
        a.update({k: v for k, v in (("rotate", args.rotate), ("shift", args.shift), ("stroke", args.stroke))
                  if v is not None})
        s["augment"] = a
    return s


def resume_path(out):
    """Where a run writing `out` keeps its resume checkpoint: out/model.resume.npz."""
    stem, ext = os.path.splitext(out)
    return stem + ".resume" + (ext or ".npz")


_TRAINING_FLAGS = ("arch", "rashid", "layers", "hidden_act", "output", "no_bias", "epochs", "batch", "lr", "momentum",
                   "schedule", "weight_decay", "no_augment", "rotate", "shift", "stroke", "seed", "camera_aug")


def run_train(args, ds=None):
    from trainer import train

    resume = None
    if getattr(args, "resume", None):
        given = ["--" + f.replace("_", "-") for f in _TRAINING_FLAGS if getattr(args, f, None) not in (None, False)]
        if given:
            raise CommandError("--resume continues a run with the settings it was started with; drop %s" %
                               " ".join(given))
        resume = train.load_resume(args.resume)
    if getattr(args, "start", None):
        return _finetune(args, resume)
    ds = ds or find_data(args)
    if ds.train is None:
        raise CommandError("%s has no training digits" % ds.source)
    settings = _train_settings(args)
    data_meta = {"source": ds.source, "note": ds.note, "train_n": len(ds.train),
                 "test_n": len(ds.test) if ds.test else 0}
    model, meta = _run(args, ds.train, ds.test, settings, resume, data_meta)
    return model, meta


def _run(args, train_split, test_split, settings, resume, data_meta, start=None, after=None):
    """Train (or fine-tune `start`), save the checkpoint with its metadata (and what
    after(model) adds to it); (model, meta)."""
    from trainer import evaluate, mlp, train

    checkpoint = args.resume or resume_path(args.out)
    t0 = time.time()
    try:
        model, history, used = train.train(train_split, test_split, settings, log=log,
                                           show_progress=None if not args.quiet else False, checkpoint=checkpoint,
                                           every=getattr(args, "checkpoint_every", None), resume=resume,
                                           meta={"data": data_meta}, start=start)
    except train.Interrupted as stop:
        if not stop.checkpoint:
            log("interrupted before the first epoch finished: nothing saved; %s is untouched" % args.out)
        else:
            log("interrupted: the run stopped after epoch %d of %d; that epoch's weights are in %s, NOT in %s "
                "(untouched). Continue the run: gentlenet train --resume %s%s" % (
                    len(stop.history), stop.settings["epochs"], stop.checkpoint, args.out, stop.checkpoint,
                    "" if args.out == DEFAULT_MODEL else " --out " + args.out))
        raise
    result = {"seconds": used.get("seconds", round(time.time() - t0, 2))}
    if test_split is not None and len(test_split):
        pred, _ = evaluate.predict(model, test_split.images)
        m = evaluate.metrics(test_split.labels, pred)
        result.update(test_accuracy=m["accuracy"], test_n=m["n"])
    meta = {"training": used, "history": history, "data": data_meta, "result": result}
    meta.update(after(model) if after else {})
    prev = mlp.save(model, args.out, meta, keep_previous=True)
    if prev:
        log("note: %s existed; kept it as %s" % (args.out, prev))
    if os.path.exists(checkpoint):
        os.remove(checkpoint)  # the run is complete: its resume checkpoint is stale
    log("saved %s" % args.out)
    return model, meta


_ARCH_FLAGS = ("arch", "rashid", "layers", "hidden_act", "output", "no_bias")


def _finetune(args, resume):
    """--from: go on training a trained network on the user's digits (--data) mixed with
    MNIST (--mix), and say how it reads the user's held-out digits and MNIST's test set
    before and after."""
    import hashlib

    from trainer import mlp, sources, train

    given = ["--" + f.replace("_", "-") for f in _ARCH_FLAGS if getattr(args, f, None) not in (None, False)]
    if given:
        raise CommandError("--from keeps the trained network's architecture: drop %s" % " ".join(given))
    if not args.data:
        raise CommandError("--from needs your digits: --data my_digits/ (a folder of images named after their "
                           "digit, as `gentlenet collect` writes them)")
    if args.start == "shipped":
        args.start = SHIPPED_NPZ
    start, meta0 = mlp.load(args.start)
    own = find_data(args)  # the user's digits: their training part and a held-out part
    if own.train is None or not len(own.train):
        raise CommandError("%s: no digits to learn from" % own.source)
    base = None
    if args.mix != "none":
        base = sources.find(args.mix, None, args.cache, not args.no_download, log=log)
        log("mixed in so it does not forget: %s (%d training, %d test digits)" % (
            base.source, len(base.train) if base.train else 0, len(base.test) if base.test else 0))
        if base.note:
            log("NOTE: " + base.note)
    mixed = train.mix(own.train, base.train if base else None)
    tests = [("your digits (held out)", own.test), ("MNIST test", base.test if base else None)]
    tests = [(name, t) for name, t in tests if t is not None and len(t)]
    if not any(t is own.test for _, t in tests):
        log("NOTE: none of your digits held out (give --test-data, or 50 or more digits): no before/after "
            "on your own writing")
    before = [train.accuracy(start, t) for _, t in tests]
    settings = train.finetune_settings(meta0.get("training"), _train_settings(args))
    with open(args.start, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    data_meta = {"source": own.source, "note": own.note, "train_n": len(mixed), "own_n": len(own.train),
                 "test_n": len(own.test) if own.test else 0, "mix": base.source if base else None}
    n_mnist = min(len(base.train), train.FINETUNE_MNIST) if base else 0
    log("fine-tuning %s on %d of your digits (each shown %dx an epoch) among %d MNIST digits" % (
        args.start, len(own.train), (len(mixed) - n_mnist) // len(own.train), n_mnist))

    def after(model):
        return {"finetune": {"from": os.path.basename(args.start), "from_sha256": sha, "tests": [
            {"name": name, "n": len(t), "before": round(b, 5), "after": round(train.accuracy(model, t), 5)}
            for (name, t), b in zip(tests, before)]}}

    return _run(args, mixed, own.test, settings, resume, data_meta, start=start, after=after)


def cmd_train(args):
    model, meta = run_train(args)
    r = meta["result"]
    arch = network_name(model)
    if "finetune" in meta:
        for t in meta["finetune"]["tests"]:
            print("%-24s %5d digits: %6.2f%% before, %6.2f%% after (%+.2f points)" % (
                t["name"], t["n"], 100 * t["before"], 100 * t["after"], 100 * (t["after"] - t["before"])))
        print("%s fine-tuned in %.1fs -> %s" % (arch, r["seconds"], args.out))
        return
    if "test_accuracy" in r:
        print("%s: %.2f%% on %d test digits, trained in %.1fs -> %s" % (
            arch, 100 * r["test_accuracy"], r["test_n"], r["seconds"], args.out))
    else:
        print("%s trained in %.1fs -> %s" % (arch, r["seconds"], args.out))


def _test_split(args):
    """The set to evaluate on: --test-data or --data (a file or image folder used whole, the
    test pair of a folder of IDX files), else the test part of the data gentlenet finds."""
    from trainer import data

    path = args.test_data or args.data or os.environ.get("GENTLENET_DATA")
    if path:
        split = data.load_split(os.path.expanduser(path), "test")
        log("data: %s (%d test digits)" % (path, len(split)))
        return split, data.Dataset(None, split, path)
    ds = find_data(args)
    if ds.test is None:
        raise CommandError("no test digits in %s" % ds.source)
    return ds.test, ds


def _predictor(path):
    """(description, architecture, predict(images) -> labels, sure(images) -> the top
    class's probability) for a float checkpoint or a .gnet model."""
    from trainer import evaluate, mlp, qformat, quantize

    if qformat.is_gnet(path):
        q = qformat.load(path)
        desc = "%s int8 (.gnet, %d bytes)" % (q.spec, os.path.getsize(path))
        arch = {"sizes": q.sizes, "hidden": q.hidden, "output": q.output, "format": "gnet"}
        return (desc, arch, lambda images: quantize.argmax(quantize.reference(q, images)),
                lambda images: quantize.confidence(q, quantize.reference(q, images)) / 10000)
    model, _ = mlp.load(path)
    return ("%s float" % network_name(model), model.architecture(),
            lambda images: evaluate.predict(model, images)[0],
            lambda images: evaluate.predict(model, images)[1].max(axis=1))


def _warn_unrelated(paths):
    """A .gnet's card names the checkpoint it was exported from (by SHA-256): say so when
    eval is given a .gnet and a checkpoint that are not related."""
    import hashlib

    from trainer import export, qformat

    npz = [p for p in paths if not qformat.is_gnet(p) and os.path.isfile(p)]
    for g in (p for p in paths if qformat.is_gnet(p)):
        try:
            with open(export.card_path(g)) as f:
                src = json.load(f).get("source_sha256")
        except (OSError, ValueError, AttributeError):
            continue
        for c in npz:
            if src and hashlib.sha256(open(c, "rb").read()).hexdigest() != src:
                log("WARNING: %s was not exported from %s (its card names another checkpoint): the side-by-side "
                     "numbers compare two different networks" % (g, c))


def cmd_eval(args):
    from trainer import evaluate

    paths = args.model or [p for p in (DEFAULT_MODEL, DEFAULT_GNET) if os.path.exists(p)]
    if not paths:
        log("no model given and none in %s/ yet (gentlenet train, then gentlenet export): using the shipped model %s"
            % (OUT, shown(SHIPPED_GNET)))
        paths = [SHIPPED_GNET]
    _warn_unrelated(paths)
    from trainer import data

    photos = args.test_data or args.data or os.environ.get("GENTLENET_DATA")
    if photos and data.photo_files(os.path.expanduser(photos)):
        for p in paths:
            _photos_fit(p)
    test, ds = _test_split(args)
    results, preds = [], []
    for path in paths:
        desc, arch, predict, _ = _predictor(path)
        pred = predict(test.images)
        m = evaluate.metrics(test.labels, pred)
        m.update(model=path, description=desc, architecture=arch)
        results.append(m)
        preds.append(pred)
    files = _photo_rows(args, test, paths, preds)
    if args.json:
        for m in results:
            m.update(data=ds.source, note=ds.note)
            if files:
                m["files"] = [dict(r, predicted=r["predicted"][m["model"]]) for r in files]
        print(json.dumps(results[0] if len(results) == 1 else results))
        return
    if files:
        print("%-40s %5s  %s" % ("file", "label", "  ".join("%-12s" % os.path.basename(p) for p in paths)))
        for r in files:
            print("%-40s %5d  %s" % (r["file"], r["label"], "  ".join(
                "%-12s" % ("no digit" if r["predicted"][p] is None else "%d %s" % (
                    r["predicted"][p], "ok" if r["predicted"][p] == r["label"] else "WRONG")) for p in paths)))
        print()
    for m in results:
        print("model: %s (%s)" % (m["model"], m["description"]))
        print(evaluate.format_metrics(m))
        print()
    if len(results) > 1:
        print("side by side, %d test digits:" % len(test))
        for m, pred in zip(results, preds):
            print("  %-28s %-36s %.2f%%   same answer as the first: %.2f%%" % (
                m["model"], m["description"], 100 * m["accuracy"], 100 * float((pred == preds[0]).mean())))


def _photo_rows(args, test, paths, preds):
    """One row per photo when the test set is a folder of images: file, label, each
    model's answer (None where no digit was found in it)."""
    from trainer import data

    path = args.test_data or args.data or os.environ.get("GENTLENET_DATA")
    files = data.photo_files(os.path.expanduser(path)) if path else None
    if not files or len(files) != len(test):
        return None
    base = os.path.expanduser(path) if os.path.isdir(os.path.expanduser(path)) else os.path.dirname(path)
    blank = ~test.images.reshape(len(test), -1).any(axis=1)
    return [{"file": os.path.relpath(f, base), "label": int(test.labels[i]),
             "predicted": {p: None if blank[i] else int(pred[i]) for p, pred in zip(paths, preds)}}
            for i, f in enumerate(files)]


DEFAULT_PREDICT_MODELS = (DEFAULT_GNET, DEFAULT_MODEL)


def cmd_predict(args):
    """What digit is in each photo? Unlabelled pictures in, an answer each, and a sheet of
    what the network saw."""
    from trainer import data, report

    path = args.model or next((p for p in DEFAULT_PREDICT_MODELS if os.path.exists(p)), SHIPPED_GNET)
    _photos_fit(path)
    desc, arch, predict, sure = _predictor(path)
    print("model: %s (%s)" % (path, desc))
    if arch.get("output") == "sigmoid":
        print("  (a sigmoid network's confidence is its top output neuron's value, trained towards 0.99, not a share "
              "of the ten answers: 35-50 % is usual for a right answer; compare it between pictures)")
    rows, items, bad = [], [], []
    for photo in args.photos:
        info = {}
        try:
            digit = data.load_image(photo, info=info)
        except data.DataError as e:  # one bad file: said, and the others are still answered
            print("%s: cannot read it: %s" % (photo, str(e).replace(photo + ": ", "", 1)))
            rows.append({"file": photo, "digit": None, "confidence": None, "error": str(e)})
            bad.append(photo)
            continue
        if digit.any():
            k, conf = int(predict(digit[None])[0]), float(sure(digit[None])[0])
            rows.append({"file": photo, "digit": k, "confidence": round(conf, 4)})
            print("%s: %d (confidence %.0f%%)" % (photo, k, 100 * conf))
            seen = "read as %d (%.0f%%)" % (k, 100 * conf)
        else:
            rows.append({"file": photo, "digit": None, "confidence": None})
            print("%s: no digit found" % photo)
            seen = "no digit found"
        items.append({"frame": info["grey"], "box": info.get("box"), "digit": digit,
                      "lines": [os.path.basename(photo)[:24], seen]})
    if args.sheet and items:
        os.makedirs(os.path.dirname(os.path.abspath(args.sheet)), exist_ok=True)
        report.contact_sheet(items, args.sheet, cols=min(3, len(items)))
        print("what the network saw: %s" % args.sheet)
    if args.json:
        print(json.dumps(rows))
    if bad:
        raise CommandError("%d of %d pictures could not be read: %s" % (len(bad), len(args.photos), ", ".join(bad)))


def _photos_fit(path):
    """Photos go through mnistify: a .gnet must be made for this gentlenet's (the same
    rule as the board's); a float checkpoint was trained on MNIST-style digits."""
    from trainer import qformat

    if qformat.is_gnet(path):
        problem = qformat.photo_problem(qformat.load(path))
        if problem:
            raise CommandError("%s: %s" % (path, problem))


def cmd_export(args):
    from trainer import export, mlp

    model, meta = mlp.load(args.model)
    ds = find_data(args)
    if ds.train is None:
        raise CommandError("calibration needs training digits; %s has none" % ds.source)
    q, card = export.export(model, meta, ds.train, ds.test, args.out, args.percentile, source=args.model, log=log)
    print("%s: %s, %d bytes, sha256 %s" % (args.out, card["architecture"], card["bytes"], card["sha256"][:16]))
    if "accuracy" in card:
        a = card["accuracy"]
        print("accuracy on %d test digits: float %.2f%%, int8 %.2f%% (same answer %.2f%%)" % (
            a["test_digits"], 100 * a["float"], 100 * a["int8"], 100 * a["same_prediction"]))
    print("card: %s" % export.card_path(args.out))
    print(heap_line(card["board_heap"]))


def cmd_report(args):
    from trainer import mlp, report

    model, meta = mlp.load(args.model)
    test, _ = _test_split(args)
    report.write_all(model, meta, test, args.out, log=print)


def cmd_data(args):
    ds = find_data(args, log=print)
    for name, split in (("train", ds.train), ("test", ds.test)):
        if split is not None:
            counts = [int((split.labels == c).sum()) for c in range(10)]
            print("%-5s %6d digits, per class %s" % (name, len(split), counts))


def cmd_writers(args):
    """Write digits in a writing style as photos (dark ink on white, 64x64 PNG), named as
    the book names its own digits (the label is the digit before the extension)."""
    from PIL import Image

    from trainer import mlp, writers

    grey, labels = writers.pages(args.style, args.count, args.seed)
    os.makedirs(args.out, exist_ok=True)
    for i, (g, d) in enumerate(zip(grey, labels)):
        name = os.path.join(args.out, "%s_%04d_%d.png" % (args.style, i, d))
        buf = io.BytesIO()
        Image.fromarray(g).save(buf, "PNG")
        mlp.write_atomic(name, buf.getvalue())
    print("%d digits in the %s style (%s), %d writers, seed %d -> %s" % (
        args.count, args.style, writers.DESCRIPTIONS[args.style], (args.count + 9) // 10, args.seed, args.out))


def train_args(p):
    """train's flags (also the demo's): choices and defaults from the trainer."""
    from trainer import mlp, train
    from trainer.augment import Augment

    d, book, aug = train.DEFAULTS, train.RASHID, Augment().settings()
    data_args(p)
    p.add_argument("--out", default=DEFAULT_MODEL, help="checkpoint to write (default: %(default)s)")
    p.add_argument("--from", dest="start", metavar="CHECKPOINT", help="fine-tune: go on training this trained "
                   "network (.npz; 'shipped': the shipped ConvNet's, %s) on your digits (--data), mixed with MNIST, "
                   "%d epochs at learning rate %g unless --epochs/--lr; prints its accuracy on your held-out digits "
                   "and MNIST's test set before and after" % (
                       shown(SHIPPED_NPZ), train.FINETUNE["epochs"], train.FINETUNE["lr"]))
    p.add_argument("--mix", default=None, metavar="PATH", help="with --from: the MNIST digits mixed in so it does "
                   "not forget them (default: the data gentlenet finds, as for --data; 'none' for none)")
    p.add_argument("--rashid", action="store_true", help="the book's network: %s %s, no biases, lr %g, one digit at a "
                   "time, %d epochs" % ("-".join(map(str, book["sizes"])), book["hidden"], book["lr"], book["epochs"]))
    p.add_argument("--arch", type=_arch, metavar="SPEC", help="a ConvNet instead of the MLP: 'cnn' (%s) or a "
                   "spec of conv8 (3x3, 8 channels), conv8s2 (stride 2), conv8v ('valid'), pool (2x2 max), gap "
                   "(global average), ending in dense10 (learning rate %g unless --lr)" % (train.CNN, train.CNN_LR))
    p.add_argument("--layers", type=_layers, help="layer sizes (default %s)" % ",".join(map(str, d["sizes"])))
    p.add_argument("--hidden-act", choices=mlp.HIDDEN, help="hidden activation (default %s)" % d["hidden"])
    p.add_argument("--output", choices=mlp.OUTPUT, help="softmax + cross-entropy or sigmoid + squared error "
                   "(default %s)" % d["output"])
    p.add_argument("--no-bias", action="store_true", help="no biases (as in the book)")
    p.add_argument("--epochs", type=positive_int, help="epochs (default: about %s digits' worth, %d for 5,000 digits)"
                   % ("{:,}".format(train.AUTO_SAMPLES), train.auto_epochs(5000)))
    p.add_argument("--batch", type=positive_int, help="mini-batch size (default %d)" % d["batch"])
    p.add_argument("--lr", type=positive_float, help="learning rate (default %g)" % d["lr"])
    p.add_argument("--momentum", type=fraction, help="momentum (default %g)" % d["momentum"])
    p.add_argument("--schedule", choices=train.SCHEDULES, help="learning-rate schedule (default %s)" % d["schedule"])
    p.add_argument("--weight-decay", type=fraction, help="L2 weight decay (default %g)" % d["weight_decay"])
    p.add_argument("--no-augment", action="store_true", help="train on the digits as they are")
    p.add_argument("--rotate", type=float, help="augmentation: +/- degrees of rotation (default %g)" % aug["rotate"])
    p.add_argument("--shift", type=float, help="augmentation: +/- pixels of shift (default %g)" % aug["shift"])
    p.add_argument("--stroke", type=fraction, nargs="?", const=STROKE_SHARE, metavar="SHARE",
                   help="augmentation: this share of each batch (default with the flag: %g) drawn with a wider or "
                   "thinner pen, as markers and fine pens reach the network through a camera" % STROKE_SHARE)
    p.add_argument("--seed", type=int, help="random seed: same seed, same network (default %d)" % d["seed"])
    p.add_argument("--camera-aug", type=fraction, nargs="?", const=CAMERA_SHARE, metavar="SHARE",
                   help="train through the camera: this share of each batch (default with the flag: %g) drawn as "
                   "camera frames of the training digits (any light, pen and resolution) and read back by the "
                   "board's mnistify; the frames are drawn once, %d per digit, before training, and cached "
                   "beside --out" % (CAMERA_SHARE, train.CAMERA_COPIES))
    p.add_argument("--checkpoint-every", type=positive_int, metavar="N", help="write a resume checkpoint "
                   "(<out>.resume.npz) every N epochs (default: about 20 in a run)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue an interrupted run from its resume checkpoint, "
                   "to the same weights as an uninterrupted run")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def add_parsers(sub):
    """train, eval, predict, export, report, data."""
    from trainer.export import PERCENTILES

    p = sub.add_parser("train", help="train a network",
                       description="example: gentlenet train --data ~/mnist --epochs 50 "
                       "--out out/model.npz")
    train_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of float and int8 models",
                       description="example: gentlenet eval out/model.npz out/model.gnet")
    p.add_argument("model", nargs="*", help="float checkpoints (.npz) and/or .gnet models "
                   "(default: %s and %s)" % (DEFAULT_MODEL, DEFAULT_GNET))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    data_args(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("predict", help="what digit is in each photo? (unlabelled pictures; shows what the network saw)",
                       description="example: gentlenet predict 2828_my_own_3.png photos/*.jpg --sheet out/predict.png")
    p.add_argument("photos", nargs="+", help="pictures of one digit each (PNG, JPEG, ...; transparent ones on white)")
    p.add_argument("--model", help=".gnet model or float checkpoint (default: %s, else %s, else the shipped %s)" % (
        DEFAULT_GNET, DEFAULT_MODEL, os.path.relpath(SHIPPED_GNET)))
    p.add_argument("--sheet", default=os.path.join(OUT, "predict.png"), help="PNG of each picture, the box found and "
                   "the 28x28 the network saw (default: %(default)s; '' for none)")
    p.add_argument("--json", action="store_true", help="also print the answers as JSON")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("export", help="quantise a checkpoint to an integer-only .gnet model for the board",
                       description="example: gentlenet export out/model.npz --out out/model.gnet")
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="float checkpoint (default: %(default)s)")
    p.add_argument("--out", default=DEFAULT_GNET, help=".gnet file to write; its card goes beside it as .json "
                   "(default: %(default)s)")
    p.add_argument(
        "--percentile", default="auto", help="calibration: percentile of |activation| that sets each "
        "layer's range, 100 = the maximum (default: auto, tries %s)" % ", ".join("%g" % v for v in PERCENTILES))
    data_args(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("report", help="PNG pictures: curves, confusion, mistakes, what the network imagines",
                       description="example: gentlenet report out/model.npz --out out/report")
    p.add_argument("model")
    p.add_argument("--out", default=os.path.join(OUT, "report"), help="folder for the PNGs (default: %(default)s)")
    data_args(p)
    p.set_defaults(func=cmd_report)
    from trainer import writers

    p = sub.add_parser("writers", help="digits by made-up writers in a writing style outside MNIST, as photos",
                       description="example: gentlenet writers continental --count 100 --out my_digits/ "
                       "(styles: %s)" % "; ".join("%s: %s" % kv for kv in writers.DESCRIPTIONS.items()))
    p.add_argument("style", choices=sorted(writers.STYLES))
    p.add_argument("--count", type=positive_int, default=100, help="how many digits, 0-9 in turn, ten to a writer "
                   "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="which writers (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder to write the PNGs to")
    p.set_defaults(func=cmd_writers)
    p = sub.add_parser("data", help="show (and fetch) the data gentlenet would use",
                       description="example: gentlenet data --data ../shared/datasets/mnist")
    data_args(p)
    p.set_defaults(func=cmd_data)
