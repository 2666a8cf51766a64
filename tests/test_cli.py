"""The gentlenet command as a user runs it: a real subprocess of the installed console script."""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, mnist_dir, rashid_dir


def gentlenet(*args, cwd=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "trainer.cli"]
    return subprocess.run(cmd + list(args), cwd=cwd or ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    test = os.path.join(rashid_dir(), "mnist_test_10.csv")
    out = str(d / "m.npz")
    r = gentlenet("train", "--data", csv, "--test-data", test, "--epochs", "3", "--layers", "784,32,10", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    assert "784-32-10 relu" in r.stdout and "on 10 test digits" in r.stdout
    return out, test


def test_eval_json(small_model):
    model, test = small_model
    r = gentlenet("eval", model, "--data", test, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["n"] == 10 and 0 <= m["accuracy"] <= 1
    assert sum(map(sum, m["confusion"])) == 10 and m["architecture"]["sizes"] == [784, 32, 10]


def test_eval_text_on_official_test_set(small_model):
    model, _ = small_model
    r = gentlenet("eval", model, "--data", mnist_dir())
    assert r.returncode == 0, r.stderr
    assert "of 10000)" in r.stdout and "confusion" in r.stdout


def test_report_pictures(small_model, tmp_path):
    model, test = small_model
    r = gentlenet("report", model, "--data", test, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for name in ("curves.png", "confusion.png", "mistakes.png", "imagine.png"):
        with open(str(tmp_path / name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rashid_csv_without_test_set_holds_out(tmp_path):
    r = gentlenet("train", "--data", os.path.join(rashid_dir(), "mnist_train_100.csv"), "--epochs", "1", "--out", str(tmp_path / "m.npz"), "-q")
    assert r.returncode == 0, r.stderr
    assert "20 %" in r.stderr and "held out" in r.stderr


def test_data_command():
    r = gentlenet("data", "--data", mnist_dir())
    assert r.returncode == 0, r.stderr
    assert "10000 digits, per class [980, 1135," in r.stdout


def test_clear_errors(tmp_path):
    r = gentlenet("eval", str(tmp_path / "none.npz"), "--data", mnist_dir())
    assert r.returncode != 0 and "none.npz: no such file" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    r = gentlenet("train", "--data", str(bad), "--out", str(tmp_path / "m.npz"))
    assert r.returncode == 2 and "bad.csv line 1: 3 values, expected 785" in r.stderr
    r = gentlenet("train", "--layers", "100,10", "--data", mnist_dir())
    assert r.returncode == 2 and "start with 784" in r.stderr
    assert not os.path.exists(str(tmp_path / "m.npz"))


def test_export_then_eval_side_by_side(small_model, tmp_path):
    model, test = small_model
    out = str(tmp_path / "m.gnet")
    r = gentlenet("export", model, "--data", mnist_dir(), "--out", out)
    assert r.returncode == 0, r.stderr
    assert "784-32-10" in r.stdout and "int8" in r.stdout and "calibration: 5000 training digits" in r.stderr
    card = json.load(open(str(tmp_path / "m.json")))
    assert card["bytes"] == os.path.getsize(out) and card["accuracy"]["test_digits"] == 10000
    r = gentlenet("eval", model, out, "--data", mnist_dir())
    assert r.returncode == 0, r.stderr
    assert "side by side" in r.stdout
    line = [l for l in r.stdout.splitlines() if l.strip().startswith(out)][0]
    assert "%.2f%%" % (100 * card["accuracy"]["int8"]) in line
    r = gentlenet("eval", out, "--data", test, "--json")
    assert json.loads(r.stdout)["architecture"] == {"sizes": [784, 32, 10], "hidden": "relu", "output": "softmax", "format": "gnet"}


def test_eval_refuses_a_damaged_gnet(small_model, tmp_path):
    _, test = small_model
    bad = tmp_path / "bad.gnet"
    bad.write_bytes(open(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"), "rb").read()[:5000])
    r = gentlenet("eval", str(bad), "--data", test)
    assert r.returncode != 0 and "truncated" in r.stderr and "bad.gnet" in r.stderr and "accuracy" not in r.stdout
