"""Training benchmark: the book's code, gentlenet --rashid, gentlenet's default trainer
(the MLP) and --arch cnn (the ConvNet), on the same data, each run in its own process so
that its peak RSS is its own.

    python bench/train.py --data ../shared/datasets/mnist [--seeds 3] [--big DIR] [--modes book,rashid,default,cnn]

Prints a table and writes bench/results/train.json. --big (default: Debian's
dataset-fashion-mnist, /usr/share/datasets/fashion-mnist) adds one run of each on a
60,000-image set for full-size time and memory.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
FASHION = "/usr/share/datasets/fashion-mnist"


def _load(data_dir, seed):
    from trainer import data

    pairs = data.find_idx_files(data_dir)
    return data.load_idx_pair(*pairs["train"]), data.load_idx_pair(*pairs["test"])


def worker(mode, data_dir, seed, epochs, csv_dir):
    """One run in this process; prints one JSON line."""
    import numpy as np

    t0 = time.time()
    epoch_times = []
    if mode == "book":
        import book

        last = [time.time()]

        def tick(e):
            epoch_times.append(time.time() - last[0])
            last[0] = time.time()

        acc = book.run(os.path.join(csv_dir, "train.csv"), os.path.join(csv_dir, "test.csv"), epochs or 5, seed=seed,
                       on_epoch=tick)
    else:
        from trainer import train

        tr, te = _load(data_dir, seed)
        settings = dict(train.RASHID) if mode == "rashid" else {}
        if mode == "cnn":  # `gentlenet train --arch cnn`: the shipped ConvNet's recipe
            settings = dict(arch=train.CNN, lr=train.CNN_LR)
        settings["seed"] = seed
        if epochs:
            settings["epochs"] = epochs
        model, history, used = train.train(tr, None, settings, log=lambda *a: None, show_progress=False)
        epoch_times = [h["seconds"] for h in history]
        acc = train.accuracy(model, te)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"mode": mode, "seed": seed, "epochs": len(epoch_times), "seconds": round(time.time() - t0, 2),
                      "seconds_per_epoch": round(float(np.mean(epoch_times)), 3), "peak_rss_mb": round(rss_mb, 1),
                      "test_accuracy": round(acc, 4)}))


def write_csvs(data_dir, seed, out_dir):
    """The data as the book's CSV files (label first); training digits shuffled once, since
    the 5k sample is ordered by class and the book's CSV is in random order."""
    import numpy as np

    tr, te = _load(data_dir, seed)
    order = np.random.default_rng(seed).permutation(len(tr))
    for name, imgs, labels in (("train.csv", tr.images[order], tr.labels[order]), ("test.csv", te.images, te.labels)):
        with open(os.path.join(out_dir, name), "w") as f:
            for img, lab in zip(imgs.reshape(len(imgs), -1), labels):
                f.write("%d,%s\n" % (lab, ",".join(map(str, img.tolist()))))


def run(mode, data_dir, seed, epochs=None, csv_dir=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--data", data_dir, "--seed", str(seed)]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    if csv_dir:
        cmd += ["--csv-dir", csv_dir]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=HERE)
    if r.returncode:
        raise SystemExit("%s run failed:\n%s" % (mode, r.stderr[-3000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data", default=os.environ.get("GENTLENET_DATA", os.path.join(HERE, "..", "..", "shared", "datasets",
                                                                        "mnist")))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--big", default=FASHION, help="a 60,000-image IDX folder ('' to skip)")
    ap.add_argument("--modes", default="book,rashid,default,cnn")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "train.json"))
    ap.add_argument("--worker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--csv-dir")
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.data, a.seed, a.epochs, a.csv_dir)
    a.data = os.path.abspath(a.data)
    if not os.path.isdir(a.data):
        raise SystemExit("MISSING DATA: %s is not a folder of MNIST IDX files" % a.data)
    modes = a.modes.split(",")
    sets = [("mnist-5k", a.data, list(range(a.seeds)))] if a.seeds else []  # --seeds 0: the 60,000 only
    if a.big:
        if os.path.isdir(a.big):
            sets.append(("fashion-60k", os.path.abspath(a.big), [0]))
        else:
            print("NOTE: no 60,000-image set at %s (apt-get install dataset-fashion-mnist); "
                  "full-size figures not measured" % a.big)
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "runs": []
    }
    print("%-12s %-8s %4s %6s %9s %9s %9s" % ("data", "trainer", "seed", "epochs", "s/epoch", "peak MB", "accuracy"))
    for name, d, seeds in sets:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                if "book" in modes:
                    write_csvs(d, seed, tmp)
                for mode in modes:
                    r = run(mode, d, seed, csv_dir=tmp)
                    r["data"] = name
                    results["runs"].append(r)
                    print(
                        "%-12s %-8s %4d %6d %9.2f %9.0f %8.2f%%" %
                        (name, mode, seed, r["epochs"], r["seconds_per_epoch"], r["peak_rss_mb"],
                         100 * r["test_accuracy"]), flush=True)
    summary = {}
    for name, _, _ in sets:
        for mode in modes:
            rs = [r for r in results["runs"] if r["data"] == name and r["mode"] == mode]
            accs = sorted(r["test_accuracy"] for r in rs)
            summary["%s/%s" % (name, mode)] = {
                "runs": len(rs), "median_accuracy": accs[len(accs) // 2],
                "mean_accuracy": round(sum(accs) / len(accs), 4), "max_seconds": max(r["seconds"] for r in rs),
                "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rs)
            }
    results["summary"] = summary
    print("\nsummary")
    for k, v in summary.items():
        print("  %-22s median %.2f%%  mean %.2f%%  longest run %.0fs  peak %.0f MB" %
              (k, 100 * v["median_accuracy"], 100 * v["mean_accuracy"], v["max_seconds"], v["max_peak_rss_mb"]))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print("wrote %s" % a.out)


if __name__ == "__main__":
    main()
