"""A first real user's day (issue 20): a fresh folder, the wrong port, a port they may not
open, a port another program holds. The real command in a subprocess, the real virtual
board, real ptys."""
import json
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT, micropython

from firmware_tools import ptyport
from firmware_tools.vboard import VirtualBoard

SHIPPED = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
SHIPPED_CNN = os.path.join(ROOT, "weights", "mnist-cnn-8s2-16s2-32s2-10.gnet")


def gentlenet(*args, cwd, env=None, timeout=300):
    e = dict(os.environ)
    e.update(env or {})
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    return subprocess.run([exe] + list(args), cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def board(tmp_path):
    b = VirtualBoard(str(tmp_path / "board-flash"), micropython=micropython()).start()
    yield b
    b.stop()


def test_flash_in_a_fresh_folder_sends_the_shipped_model_and_says_so(board, tmp_path):
    """The shipped ConvNet, which the default virtual board (192 KB) holds."""
    r = gentlenet("flash", "--port", board.port, "-q", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "using the shipped model" in r.stderr and "mnist-cnn-8s2-16s2-32s2-10.gnet" in r.stderr, r.stderr
    with open(os.path.join(board.flash, "model.gnet"), "rb") as f, open(SHIPPED_CNN, "rb") as g:
        assert f.read() == g.read()


def test_a_board_too_small_for_the_shipped_convnet_gets_the_shipped_mlp(tmp_path):
    """A 64 KB board cannot hold the ConvNet beside its frames: flash says so and sends the
    shipped MLP (streamed there); classify then uses it without being told."""
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize="64k").start()
    try:
        r = gentlenet("flash", "--port", b.port, "-q", cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        assert "cannot hold the shipped ConvNet beside its frames" in r.stderr, r.stderr
        assert "the board's app holds the model streamed" in r.stderr, r.stderr
        with open(os.path.join(b.flash, "model.gnet"), "rb") as f, open(SHIPPED, "rb") as g:
            assert f.read() == g.read()
        from conftest import mnist_dir
        from firmware_tools import camsim, scene

        with camsim.UCamSim(scene.load_scene(mnist_dir(), seed=1)) as sim:
            r = gentlenet("classify", "--camera", sim.port, "--board", b.port, "--frames", "3", cwd=str(tmp_path))
        assert r.returncode == 0 and "the board runs the shipped MLP" in r.stderr, r.stderr + r.stdout
    finally:
        b.stop()


def test_a_port_that_is_not_there_lists_the_ports_and_the_virtual_board(tmp_path):
    master, slave, pts = ptyport.open_raw()  # stands for a running virtual board's pty
    try:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "board.port").write_text(pts + "\n")
        for port in ("/dev/ttyACM7", "COM3"):
            r = gentlenet("flash", "--port", port, "--model", SHIPPED, cwd=str(tmp_path))
            assert r.returncode == 2, r.stderr
            assert "no board at %s: there is no such port" % port in r.stderr, r.stderr
            assert "%s (the running virtual board)" % pts in r.stderr, r.stderr
            assert "failed to access" not in r.stderr and "Traceback" not in r.stderr
        r = gentlenet("classify", "--camera", "/dev/ttyUSB7", "--local", cwd=str(tmp_path))
        assert r.returncode == 2 and "no camera at /dev/ttyUSB7: there is no such port" in r.stderr, r.stderr
    finally:
        ptyport.close(master, slave)


def test_a_port_you_may_not_open_names_the_dialout_group(tmp_path):
    """The port exists but belongs to root:dialout, mode 0660, as a USB serial port on
    Debian or Raspberry Pi OS: the user is told to join the dialout group."""
    master, slave, pts = ptyport.open_raw()
    try:
        import grp

        if os.geteuid() == 0:
            # CI runs as root, who may open anything: the port goes to another owner and the
            # command runs without root's right to pass file permissions (util-linux setpriv)
            os.chown(pts, 65534, grp.getgrnam("dialout").gr_gid)
            os.chmod(pts, 0o660)
            prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
        else:
            os.chmod(pts, 0)
            prefix = []
        exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
        r = subprocess.run(prefix + [exe, "flash", "--port", pts, "--model", SHIPPED], cwd=str(tmp_path),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "permission denied" in r.stderr and "dialout" in r.stderr, r.stderr
        assert "usermod -aG dialout" in r.stderr, r.stderr
    finally:
        ptyport.close(master, slave)


def test_a_busy_port_names_the_other_program_not_the_virtual_board(board, tmp_path):
    """Another program reads the virtual board's port: flash names that program (not the
    virtual board, which made the pty) and prints no stray lines of mpremote's."""
    holder = subprocess.Popen([sys.executable, "-c", "import serial, time\n"
                               "s = serial.Serial(%r, timeout=0.1)\n"
                               "t = time.time()\n"
                               "while time.time() - t < 60: s.read(100)\n" % board.port])
    try:
        time.sleep(1.0)
        r = gentlenet("flash", "--port", board.port, "--model", SHIPPED, "-q", cwd=str(tmp_path), timeout=120)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "pid %d" % holder.pid in r.stderr, r.stderr
        assert "pid %d" % os.getpid() not in r.stderr, "the virtual board's own process is not a suspect"
        assert "b''" not in r.stdout + r.stderr and "b'" not in r.stdout, r.stdout
    finally:
        holder.kill()
        holder.wait(10)


# ---------------------------------------------------------------- training: nothing lost
def _data5k(tmp_path):
    """The 5,000-digit MNIST training sample (its 20 % held out by the trainer)."""
    from conftest import mnist_dir

    d = tmp_path / "d5k"
    d.mkdir()
    for name in ("train-5k-images-idx3-ubyte.gz", "train-5k-labels-idx1-ubyte.gz"):
        os.symlink(os.path.join(mnist_dir(), name), str(d / name))
    return str(d)


def _weights(path):
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k[0] in "Wb" and k[1:].isdigit()}


TRAIN = ("--epochs", "10", "--layers", "784,24,10", "--checkpoint-every", "1", "--seed", "3", "-q")


def _stopped_after(tmp_path, data, sig, epochs_done):
    """`gentlenet train` started, stopped with `sig` once a resume checkpoint of at least
    `epochs_done` epochs is on disk; (process, its stderr)."""
    import signal  # noqa: F401 (the caller's sig)

    from trainer import train

    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    out = tmp_path / "model.npz"
    ckpt = tmp_path / "model.resume.npz"
    p = subprocess.Popen([exe, "train", "--data", data, "--out", str(out)] + list(TRAIN), cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        try:
            if train.load_resume(str(ckpt))[2]["epoch"] >= epochs_done:
                break
        except ValueError:  # not there yet
            pass
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be stopped: %s" % p.communicate()[1]
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p, err


def test_a_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    import signal

    import numpy as np

    data = _data5k(tmp_path)
    whole = tmp_path / "whole"
    whole.mkdir()
    r = gentlenet("train", "--data", data, "--out", str(whole / "model.npz"), *TRAIN, cwd=str(whole))
    assert r.returncode == 0, r.stderr
    assert "estimated time:" in r.stderr and "left)" in r.stderr and "test " in r.stderr, r.stderr
    assert not os.path.exists(str(whole / "model.resume.npz")), "a finished run leaves no stale resume checkpoint"

    killed = tmp_path / "killed"
    killed.mkdir()
    p, _ = _stopped_after(killed, data, signal.SIGKILL, 3)
    assert p.returncode == -signal.SIGKILL
    assert not os.path.exists(str(killed / "model.npz"))
    r = gentlenet("train", "--resume", str(killed / "model.resume.npz"), "--data", data, "--out",
                  str(killed / "model.npz"), "-q", cwd=str(killed))
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch" in r.stderr
    a, b = _weights(str(whole / "model.npz")), _weights(str(killed / "model.npz"))
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), "%s differs after a resume" % k

    r = gentlenet("train", "--resume", str(whole / "model.npz"), "--data", data, "--out", str(killed / "x.npz"),
                  cwd=str(killed))
    assert r.returncode == 2 and "not a resume checkpoint" in r.stderr, r.stderr
    r = gentlenet("train", "--resume", str(killed / "model.npz"), "--epochs", "3", cwd=str(killed))
    assert r.returncode == 2 and "drop --epochs" in r.stderr, r.stderr


def test_ctrl_c_keeps_the_previous_model_and_says_how_to_resume(tmp_path):
    import hashlib
    import signal

    data = _data5k(tmp_path)
    (tmp_path / "model.npz").write_bytes(b"PK\x03\x04 the user's previous model")
    before = hashlib.sha256((tmp_path / "model.npz").read_bytes()).hexdigest()
    p, err = _stopped_after(tmp_path, data, signal.SIGINT, 2)
    assert p.returncode == 130, err
    assert "NOT in" in err and "gentlenet train --resume" in err and "model.resume.npz" in err, err
    assert hashlib.sha256((tmp_path / "model.npz").read_bytes()).hexdigest() == before, \
        "a half-trained model must not replace the default one"


def test_layer_sizes_must_end_in_ten_classes(tmp_path):
    r = gentlenet("train", "--layers", "784,100", "--data", _data5k(tmp_path), "--out", str(tmp_path / "m.npz"),
                  cwd=str(tmp_path))
    assert r.returncode == 2 and "end in 10 outputs" in r.stderr and "784,100,10" in r.stderr, r.stderr
    assert "estimated time" not in r.stderr, "refused before training"


def test_a_few_photos_train_without_a_held_out_part(tmp_path):
    from PIL import Image

    from trainer import data

    test = data.load_split(_data5k(tmp_path), "train")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        img = Image.fromarray(255 - test.images[i].reshape(28, 28)).resize((90, 90))
        img.save(str(photos / ("mine_%d_%d.png" % (i, test.labels[i]))))
    r = gentlenet("train", "--data", str(photos), "--epochs", "2", "--out", str(tmp_path / "m.npz"), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "too few to hold out" in r.stderr and "trained in" in r.stdout, r.stdout + r.stderr


def test_new_files_follow_the_umask(tmp_path):
    from trainer.mlp import write_atomic

    old = os.umask(0o002)
    try:
        write_atomic(str(tmp_path / "shared.gnet"), b"x")
    finally:
        os.umask(old)
    assert os.stat(str(tmp_path / "shared.gnet")).st_mode & 0o777 == 0o664


def test_a_full_disk_keeps_the_previous_model(tmp_path):
    """A real full disk: a 192 KB tmpfs (in a mount namespace of its own), the previous
    model on it, the rest filled; `gentlenet train` then fails to save with a clear error
    and the previous model is still there, byte for byte, with no temporary file left."""
    import shutil

    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    from conftest import rashid_dir

    csv = os.path.join(rashid_dir(), "mnist_train_100.csv")
    disk = tmp_path / "disk"
    disk.mkdir()
    prev = tmp_path / "prev.npz"
    r = gentlenet("train", "--data", csv, "--epochs", "1", "--layers", "784,48,10", "--out", str(prev), "-q",
                  cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    assert shutil.which("unshare"), "util-linux's unshare is needed for a real full disk"
    script = ("set -e; mount -t tmpfs -o size=192k tmpfs {d}; cp {prev} {d}/model.npz; "
              "dd if=/dev/zero of={d}/filler bs=1k count=1000 2>/dev/null || true; "
              "set +e; {exe} train --data {csv} --epochs 1 --layers 784,48,10 --out {d}/model.npz -q; echo rc=$?; "
              "sha256sum {d}/model.npz; ls -a {d}").format(d=disk, prev=prev, exe=exe, csv=csv)
    r = subprocess.run(unshare + ["sh", "-c", script], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    import hashlib

    want = hashlib.sha256(prev.read_bytes()).hexdigest()
    assert "rc=2" in r.stdout, r.stdout + r.stderr
    assert "No space left on device" in r.stderr and "previous file is untouched" in r.stderr, r.stderr
    assert want in r.stdout, "the previous model changed: " + r.stdout
    assert ".tmp" not in r.stdout and "prev.npz" not in r.stdout, r.stdout
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- the board keeps serving
def _frame_and_digit():
    import numpy as np

    from conftest import mnist_dir
    from trainer import data

    img = data.load_split(mnist_dir(), "test").images[0].reshape(28, 28)  # a 7
    frame = np.full((60, 80), 200, np.uint8)
    frame[16:44, 26:54] = 255 - img
    return frame, img


def test_a_64k_board_refuses_a_board_camera_and_keeps_serving(tmp_path):
    """On a 64 KB heap (shipped model streamed) a board camera does not fit: CAMERA is
    refused with the heap it needs and what to do, before anything is allocated, and every
    CLASSIFY after it (28x28, camera frame, with the digit sent back) is served; 5 rounds."""
    from firmware_tools import boardclient, flash

    frame, img = _frame_and_digit()
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize="64k").start()
    try:
        flash.flash(b.port, SHIPPED, show_progress=False, log=lambda *a: None)
        c = boardclient.BoardClient(b.port).start()
        info = c.info()
        assert info["model"]["stream"], info
        for _ in range(5):
            with pytest.raises(boardclient.BoardError) as e:
                c.camera("ucam", "/dev/null", 115200)
            assert e.value.code == "no-memory" and "wire it to the host" in str(e.value), str(e.value)
            assert c.classify(img, fmt="mnist")["label"] == "7"
            assert c.classify(frame)["label"] == "7"
            a = c.classify(frame, digit=True)
            assert a["label"] == "7" and len(a["digit"]) == 1048, a
        assert c.info()["mem_free"] >= info["mem_free"] - 512
        c.close()
    finally:
        b.stop()


def test_camera_errors_are_named(board):
    """CAMERA on a path that is not a camera: the board says what is wrong in words (the
    unix port's str(OSError(6)) is just "6")."""
    from firmware_tools import boardclient, flash

    flash.flash(board.port, SHIPPED, show_progress=False, log=lambda *a: None)
    c = boardclient.BoardClient(board.port).start()
    try:
        with pytest.raises(boardclient.BoardError) as e:
            c.camera("ucam", "/dev/tty", 115200)  # no controlling terminal: ENXIO
        assert "ENXIO" in str(e.value) and "/dev/tty" in str(e.value), str(e.value)
        with pytest.raises(boardclient.BoardError) as e:
            c.camera("ucam", "/etc/hostname", 115200)
        assert "not a serial device" in str(e.value), str(e.value)
        assert c.classify(_frame_and_digit()[1], fmt="mnist")["label"] == "7"
    finally:
        c.close()


def test_a_killed_flash_leaves_no_part_file_behind(board, tmp_path):
    """gentlenet flash killed while the model is on its way leaves model.gnet.part on the
    board's flash: the next flash removes it first, and so does the board at boot."""
    import signal

    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    part = os.path.join(board.flash, "model.gnet.part")
    p = subprocess.Popen([exe, "flash", "--port", board.port, "--model", SHIPPED, "-q", "--no-compile"],
                         cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not os.path.exists(part) and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        assert os.path.exists(part), "the flash never started sending the model"
        p.send_signal(signal.SIGKILL)
    finally:
        p.communicate(timeout=60)
    assert os.path.exists(part)
    r = gentlenet("flash", "--port", board.port, "--model", SHIPPED, "-q", "--no-compile", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "removed what an interrupted flash left: model.gnet.part" in r.stdout + r.stderr, r.stdout + r.stderr
    assert len(re.findall(r"bytes of heap free", r.stdout + r.stderr)) == 1, "one free-heap figure: " + r.stderr
    assert not os.path.exists(part)
    with open(part, "wb") as f:  # as if the flash had been cut again, then the board reset
        f.write(b"half a model")
    board.crash()
    from firmware_tools import boardclient

    c = boardclient.BoardClient(board.port).start()
    try:
        assert c.info()["model"]
    finally:
        c.close()
    assert not os.path.exists(part), "the board removes a cut flash's leftovers at boot"


def test_a_new_request_wins_over_a_stale_payload(board):
    """The host drops the line in the middle of a CLASSIFY payload and reopens it at once:
    its next request is answered (it was read as the rest of the old payload)."""
    from firmware_tools import boardclient, flash

    flash.flash(board.port, SHIPPED, show_progress=False, log=lambda *a: None)
    c = boardclient.BoardClient(board.port).start()
    c.ser.write(b"GNT1 41 CLASSIFY 80 60 grey8 4800 0badf00d\n" + b"QUJD" * 300)
    c.ser.flush()
    c.close()
    c = boardclient.BoardClient(board.port, timeout=1.5)
    try:
        assert c.info()["model"], "the request after the cut payload got no answer"
        assert c.classify(_frame_and_digit()[1], fmt="mnist")["label"] == "7"
    finally:
        c.close()


# ---------------------------------------------------------------- user files: bounded, each answered
def _png_16bit(path, w, h):
    """A w x h 16-bit grey PNG of zeros, written row by row (a few KB for 36 million pixels)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\0" * (1 + 2 * w)  # filter byte, then w big-endian uint16
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)) +
                chunk(b"IDAT", body) + chunk(b"IEND", b""))


def _good_photo(path):
    from PIL import Image

    _, img = _frame_and_digit()
    Image.fromarray(255 - img).resize((84, 84)).save(path)


def test_predict_answers_every_picture_and_refuses_a_memory_bomb(tmp_path):
    """A 16-bit 5999x5999 PNG (a few hundred KB) decodes to 72 MB: refused from its header,
    while the good picture after it is still answered; exit status 2 at the end."""
    bomb, good = str(tmp_path / "bomb.png"), str(tmp_path / "good_7.png")
    _png_16bit(bomb, 5999, 5999)
    assert os.path.getsize(bomb) < 1 << 20
    _good_photo(good)
    (tmp_path / "text.png").write_text("not a picture")
    r = gentlenet("predict", bomb, str(tmp_path / "text.png"), good, "--json", "--sheet", "", cwd=str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "decode to 68 MB" in r.stdout and "save it as 8-bit grey" in r.stdout, r.stdout
    assert "good_7.png: 7 (confidence" in r.stdout, r.stdout
    assert "2 of 3 pictures could not be read" in r.stderr, r.stderr
    rows = json.loads([line for line in r.stdout.splitlines() if line.startswith("[")][0])
    assert [row["digit"] for row in rows] == [None, None, 7]


def test_a_csv_without_line_ends_is_refused_before_it_is_inflated(tmp_path):
    """A small .csv.gz that inflates to 200 MB of one line: refused at the line's limit."""
    import gzip

    path = str(tmp_path / "bomb.csv.gz")
    with gzip.open(path, "wb") as f:
        block = b"1" * (1 << 20)
        for _ in range(200):
            f.write(block)
    assert os.path.getsize(path) < 1 << 20
    r = gentlenet("data", "--data", path, cwd=str(tmp_path))
    assert r.returncode == 2 and "line 1: longer than 8192 bytes" in r.stderr, r.stderr


def test_photos_follow_one_rule_in_predict_and_eval(tmp_path):
    """A model stamped for another mnistify version, or for digits as given (preprocess
    none), is refused photos by predict and by eval --data PHOTOS alike."""
    from trainer import qformat

    photos = tmp_path / "photos"
    photos.mkdir()
    _good_photo(str(photos / "7_a.png"))
    for change, words in (({"preprocess_version": 1}, "mnistify v1"), ({"preprocess": "none"}, "preprocess=none")):
        q = qformat.load(SHIPPED)
        for k, v in change.items():
            setattr(q, k, v)
        model = str(tmp_path / "other.gnet")
        qformat.save(q, model)
        for args in (("predict", str(photos / "7_a.png"), "--model", model),
                     ("eval", model, "--data", str(photos))):
            r = gentlenet(*args, cwd=str(tmp_path))
            assert r.returncode == 2 and words in r.stderr, (args, r.stdout, r.stderr)
    r = gentlenet("eval", SHIPPED, "--data", str(photos), cwd=str(tmp_path))
    assert r.returncode == 0 and "7_a.png" in r.stdout, r.stdout + r.stderr


# ---------------------------------------------------------------- what the user is told
def test_the_books_network_is_described_as_it_was_trained(tmp_path):
    """--rashid trains without augmentation: the curves do not say "augmented"; predict
    explains a sigmoid network's low confidence in one sentence."""
    from conftest import rashid_dir

    from trainer import mlp, report

    out = str(tmp_path / "book.npz")
    r = gentlenet("train", "--rashid", "--epochs", "1", "--data", os.path.join(rashid_dir(), "mnist_train_100.csv"),
                  "--out", out, "-q", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    _, meta = mlp.load(out)
    assert report.curves(meta["history"], str(tmp_path / "c.png"), bool(meta["training"]["augment"])) == \
        ["training", "test"]
    _good_photo(str(tmp_path / "7.png"))
    r = gentlenet("predict", str(tmp_path / "7.png"), "--model", out, "--sheet", "", cwd=str(tmp_path))
    assert r.returncode == 0 and "a sigmoid network's confidence" in r.stdout, r.stdout + r.stderr


def test_data_and_camera_sim_say_what_they_do(tmp_path):
    """`gentlenet data` trains nothing, so it does not say "trained on"; camera-sim says
    what it is doing before the (possibly long) search for digits."""
    from conftest import mnist_dir

    env = {k: v for k, v in os.environ.items() if k != "GENTLENET_DATA"}
    env["GENTLENET_CACHE"] = str(tmp_path / "cache")  # no data here: the offline sample, with its note
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "gentlenet"), "data"], cwd=str(tmp_path),
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "OFFLINE SAMPLE" in r.stdout, r.stdout + r.stderr
    assert "trained on" not in r.stdout + r.stderr, r.stdout
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    p = subprocess.Popen([exe, "camera-sim", "--digits", mnist_dir()], cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = p.stderr.readline()
        assert first.startswith("camera-sim: finding the digits to show"), first
    finally:
        p.terminate()
        p.communicate(timeout=60)
