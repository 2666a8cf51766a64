"""The virtual board (real MicroPython on a pty) and flashing it with the real mpremote."""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from conftest import ROOT, micropython, mpy_cross
from firmware_tools import flash
from firmware_tools.vboard import VirtualBoard

MODEL = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


@pytest.fixture
def board(tmp_path):
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    yield b
    b.stop()


def mpremote(port, *args, timeout=60):
    r = subprocess.run([MPREMOTE, "connect", port, "resume"] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return r


def test_mpremote_works_against_the_virtual_board(board, tmp_path):
    r = mpremote(board.port, "exec", "import sys; print(sys.implementation.name, 6 * 7)")
    assert r.returncode == 0 and r.stdout.strip() == "micropython 42", r.stderr
    src = tmp_path / "hello.py"
    src.write_text("GREETING = 'hi from flash'\n")
    r = mpremote(board.port, "fs", "cp", str(src), ":hello.py", "+", "exec", "import hello; print(hello.GREETING)")
    assert r.returncode == 0 and "hi from flash" in r.stdout, r.stderr
    assert (tmp_path / "flash" / "hello.py").read_text() == src.read_text()
    r = mpremote(board.port, "exec", "1/0")
    assert r.returncode != 0 and "ZeroDivisionError" in r.stdout + r.stderr
    r = subprocess.run([MPREMOTE, "connect", board.port, "soft-reset", "exec", "print('back')"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "back" and board.restarts == 1, r.stderr


def test_flash_is_compact_and_idempotent(board):
    r = flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None, compile=False)
    assert r["sent"] == flash.RUNTIME + ["model.gnet"] and r["compiled"] == []
    for name in flash.RUNTIME:
        assert open(os.path.join(board.flash, name), "rb").read() == open(os.path.join(ROOT, "device", name),
                                                                          "rb").read()
    assert flash.sha256_file(os.path.join(board.flash, "model.gnet")) == flash.sha256_file(MODEL)
    # the model alone: base64 on the wire vs mpremote cp's repr()
    os.remove(os.path.join(board.flash, "model.gnet"))
    ours = flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None, compile=False)
    assert ours["sent"] == ["model.gnet"]
    theirs = flash.mpremote_cp_wire_bytes(board.port, MODEL, "cp.gnet")
    assert ours["wire_bytes"] <= theirs / 2, (ours["wire_bytes"], theirs)
    again = flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None, compile=False)
    assert again["sent"] == [] and again["data_bytes"] == 0
    r = mpremote(
        board.port, "exec",
        "import gnet; m = gnet.Model('model.gnet'); print(m.backend, m.labels[m.argmax(m.scores(bytes(784)))])")
    assert r.returncode == 0 and r.stdout.split()[0] == "viper", r.stdout + r.stderr


def test_flash_precompiles_to_mpy_for_the_boards_version_and_arch(board):
    mpy_cross()
    cross = flash.mpy_cross_version()
    assert cross is not None, "mpy-cross is installed but does not say its version"
    flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None, compile=False)
    r = flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None)
    v = int(subprocess.run([micropython(), "-c", "import sys; print(sys.implementation._mpy)"],
                           capture_output=True, text=True).stdout)
    assert r["board_mpy"] == (v & 0xFF, v >> 8 & 3, flash.MPY_ARCHS[v >> 10])
    assert r["compiled"] == [n for n in flash.RUNTIME if n != "main.py"]  # viper too: same sub-version and arch
    files = sorted(os.listdir(board.flash))
    for name in r["compiled"]:
        stem = name[:-3]
        assert stem + ".mpy" in files and name not in files  # a .py beside it would be imported instead
        assert open(os.path.join(board.flash, stem + ".mpy"), "rb").read()[:2] == b"M\x06"
    assert "main.py" in files
    # "lean" modules go without their line numbers: the bytes a 64 KB board needs for mnistify
    assert flash.LEAN == {"mnistify.py"}
    src = os.path.join(ROOT, "device", "mnistify.py")
    with tempfile.TemporaryDirectory() as d:
        flash.compile_mpy(src, os.path.join(d, "lines.mpy"))
        lines = os.path.getsize(os.path.join(d, "lines.mpy"))
    sent = os.path.getsize(os.path.join(board.flash, "mnistify.mpy"))
    assert sent < lines - 400, (sent, lines)
    # the compiled runtime runs: the app starts from main.py and classifies
    from firmware_tools.boardclient import BoardClient

    c = BoardClient(board.port).start()
    assert c.classify(np.zeros((28, 28), np.uint8), fmt="mnist")["ok"]
    c.close()
    # the plan: no .mpy for a board of another version; viper as source when the sub-version differs
    assert set(flash.plan(flash.RUNTIME, (5, 0, "armv6m"), cross).values()) == {"py"}
    p = flash.plan(flash.RUNTIME, (cross[0], (cross[1] + 1) % 4, "armv6m"), cross)
    assert p["gnet_viper.py"] == "py" and p["gnet.py"] == "mpy" and p["main.py"] == "py"
    assert set(flash.plan(flash.RUNTIME, None, cross).values()) == {"py"}


def test_killed_flash_leaves_the_old_model(board, tmp_path):
    from trainer import mlp, qformat, quantize
    import numpy as np

    flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None)
    other = str(tmp_path / "other.gnet")
    q = quantize.quantize(mlp.MLP([784, 100, 10], seed=5),
                          np.random.default_rng(0).integers(0, 256, (100, 28, 28), dtype=np.uint8))
    qformat.save(q, other)
    part = os.path.join(board.flash, "model.gnet" + flash.TMP_SUFFIX)
    p = subprocess.Popen([sys.executable, "-m", "gentlenet.cli", "flash", "--port", board.port, "--model", other, "-q"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(part) and os.path.getsize(part) > 20000):
        time.sleep(0.02)
    p.kill()  # mid-transfer
    p.wait()
    assert os.path.exists(part) and 0 < os.path.getsize(part) < os.path.getsize(other)
    assert flash.sha256_file(os.path.join(board.flash, "model.gnet")) == flash.sha256_file(MODEL)
    r = mpremote(board.port, "exec", "import gnet; m = gnet.Model('model.gnet'); print('loaded', len(m.labels))")
    assert r.returncode == 0 and "loaded 10" in r.stdout, r.stdout + r.stderr
    # and the next flash completes
    r = flash.flash(board.port, other, show_progress=False, log=lambda *a: None)
    assert r["sent"] == ["model.gnet"] and flash.sha256_file(os.path.join(board.flash, "model.gnet")) == hashlib.sha256(
        open(other, "rb").read()).hexdigest()


def test_flash_errors_are_clear(tmp_path):
    with pytest.raises(flash.FlashError, match="no board at /dev/nonexistent"):
        flash.flash("/dev/nonexistent", MODEL, show_progress=False)
    bad = tmp_path / "bad.gnet"
    bad.write_bytes(open(MODEL, "rb").read()[:1000])
    from trainer.qformat import FormatError

    with pytest.raises(FormatError, match="truncated"):
        flash.flash("/dev/nonexistent", str(bad), show_progress=False)


THIEF = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
print("open", flush=True)
end = time.time() + 120
while time.time() < end:
    try:
        os.read(fd, 4096)   # steal whatever the board sends
    except OSError:
        time.sleep(0.05)
"""


def _wait_for_part(board, name="model.gnet", at_least=20000, timeout=60):
    part = os.path.join(board.flash, name + flash.TMP_SUFFIX)
    deadline = time.time() + timeout
    while time.time() < deadline and not (os.path.exists(part) and os.path.getsize(part) > at_least):
        time.sleep(0.02)
    assert os.path.exists(part), "the flash never started sending %s" % name


def test_a_second_program_on_the_port_gives_a_clear_error_not_a_hang(board, tmp_path):
    """Another program reading the port steals the board's answers: flash must stop with
    an error naming the problem within seconds (it used to wait forever), keep the old model,
    and work again once the other program is gone."""
    from trainer import mlp, qformat, quantize

    flash.flash(board.port, MODEL, show_progress=False, log=lambda *a: None)
    other = str(tmp_path / "other.gnet")
    q = quantize.quantize(mlp.MLP([784, 100, 10], seed=5),
                          np.random.default_rng(0).integers(0, 256, (100, 28, 28), dtype=np.uint8))
    qformat.save(q, other)
    p = subprocess.Popen([sys.executable, "-m", "gentlenet.cli", "flash", "--port", board.port, "--model", other, "-q"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_part(board)
    thief = subprocess.Popen([sys.executable, "-c", THIEF, board.port], stdout=subprocess.PIPE, text=True)
    try:
        assert thief.stdout.readline().strip() == "open"
        t0 = time.time()
        try:
            out, err = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail("flash hung with a second program on the port")
        took = time.time() - t0
        assert p.returncode != 0 and "Traceback" not in err, err
        assert "stopped answering" in err and "another program" in err and "untouched" in err, err
        assert "pid %d" % thief.pid in err, err  # names the other program
        assert took < 60, took
    finally:
        thief.kill()
        thief.wait()
    assert flash.sha256_file(os.path.join(board.flash, "model.gnet")) == flash.sha256_file(MODEL)
    r = flash.flash(board.port, other, show_progress=False, log=lambda *a: None)
    assert r["sent"] == ["model.gnet"]


def test_a_port_that_vanishes_mid_flash_is_a_flash_error(tmp_path):
    import threading

    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    result = {}

    def run():
        try:
            flash.flash(b.port, MODEL, show_progress=False, log=lambda *a: None, compile=False)
            result["ok"] = True
        except flash.FlashError as e:
            result["error"] = str(e)
        except BaseException as e:  # noqa: anything else is the bug
            result["crash"] = repr(e)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    _wait_for_part(b, at_least=5000)
    b.stop()  # unplugged: the pty goes away
    th.join(60)
    assert not th.is_alive(), "flash hung after the port went away"
    assert "error" in result and "crash" not in result, result


def test_mpremote_ls_shows_sizes_and_soft_reset_is_not_called_a_crash(tmp_path):
    logs = []
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), log=logs.append).start()
    try:
        (tmp_path / "flash" / "hello.txt").write_bytes(b"x" * 1234)
        r = mpremote(b.port, "fs", "ls")
        assert r.returncode == 0 and "1234 hello.txt" in r.stdout, r.stdout + r.stderr
        r = subprocess.run([MPREMOTE, "connect", b.port, "soft-reset", "exec", "print('back')"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0
        assert logs == ["virtual board: soft reset"], logs
    finally:
        b.stop()


def test_soft_reset_output_stays_in_order_when_the_host_is_slow(tmp_path):
    """Found by make test-busy: on a busy host the old interpreter's "soft reboot" reached
    the port after the new interpreter's raw-REPL banner, and mpremote (which reads a pty
    with no timeout) waited for ever. Here the old interpreter's output is held back on
    purpose; the new one must not speak first."""
    class SlowHost(VirtualBoard):
        said = b""

        def _relay(self, p, data):  # the host is slow to pass on "soft reboot"
            self.said += data
            if b"soft reboot" in self.said:
                self.said = b""
                time.sleep(1.0)
            super()._relay(p, data)

    b = SlowHost(str(tmp_path / "flash"), micropython=micropython())
    b.start()
    try:
        r = subprocess.run([MPREMOTE, "connect", b.port, "soft-reset", "exec", "print('back')"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == "back", r.stdout + r.stderr
    finally:
        b.stop()


def test_a_model_too_big_for_the_heap_is_streamed_by_the_app(board, tmp_path):
    """The book's 784-200-10 (157 KB of weights) on a 192 KB board: the app streams it
    instead of dying at boot with MemoryError, and says so in INFO."""
    from firmware_tools.boardclient import BoardClient
    from trainer import mlp, qformat, quantize

    big = str(tmp_path / "book.gnet")
    rng = np.random.default_rng(0)
    q = quantize.quantize(mlp.MLP([784, 200, 10], hidden="sigmoid", output="sigmoid", seed=1),
                          rng.integers(0, 256, (200, 28, 28), dtype=np.uint8))
    qformat.save(q, big)
    flash.flash(board.port, big, show_progress=False, log=lambda *a: None)
    c = BoardClient(board.port).start()
    try:
        info = c.info()
        assert info["model"] is not None and info["model"]["stream"] is True, info
        img = rng.integers(0, 256, (28, 28), dtype=np.uint8)
        a = c.classify(img, fmt="mnist")
        assert a["scores"] == [int(v) for v in quantize.reference(q, img[None])[0]]
    finally:
        c.close()


def test_a_model_for_another_mnistify_version_gets_no_camera_frames(board, tmp_path):
    """A model stamped for mnistify v1 on a board with v2: the frame is refused with an
    error naming both versions (the model was made for other pictures), while a 28x28
    digit, which needs no preprocessing, is still classified. Flash warns first."""
    from device import mnistify
    from firmware_tools import boardclient
    from firmware_tools.boardclient import BoardClient
    from trainer import qformat

    q = qformat.load(MODEL)
    q.preprocess_version = mnistify.VERSION - 1
    old = str(tmp_path / "old.gnet")
    qformat.save(q, old)
    logs = []
    flash.flash(board.port, old, show_progress=False, log=logs.append)
    assert any("mnistify v%d" % (mnistify.VERSION - 1) in m and "refuse camera frames" in m for m in logs), logs
    c = BoardClient(board.port).start()
    try:
        info = c.info()
        assert info["model"]["preprocess_version"] == mnistify.VERSION - 1 and info["mnistify"] == mnistify.VERSION
        with pytest.raises(boardclient.BoardError) as e:
            c.classify(np.full((60, 80), 200, np.uint8))
        assert e.value.code == "preprocess" and "v%d" % mnistify.VERSION in str(e.value), e.value
        digit = np.zeros((28, 28), np.uint8)
        digit[6:22, 13:15] = 255
        assert c.classify(digit, fmt="mnist")["scores"]  # the board goes on serving
    finally:
        c.close()


def test_ctrl_c_at_any_moment_never_kills_the_boards_repl(board):
    """A Ctrl-C (delivered as SIGINT) landing while the REPL prints its banner used to kill
    the interpreter, and the raw-REPL request sent meanwhile was lost: flash failed on a
    busy machine. Ctrl-Cs fired around soft resets must leave a board mpremote can enter."""
    import serial

    for i in range(8):
        s = serial.serial_for_url(board.port, baudrate=115200, timeout=0.1)
        s.write(b"\x04" if i % 3 == 0 else b"\x03")  # a soft reset now and then, Ctrl-C otherwise
        for _ in range(i % 4):
            time.sleep(0.003 * i)
            s.write(b"\x03")
        s.close()
        t = flash.connect(board.port)
        assert t.exec("print(6 * 7)").strip() == b"42"
        t.exit_raw_repl()
        t.close()


def test_the_app_keeps_its_names_in_four_pools_at_64k(tmp_path):
    """MicroPython keeps every name (qstr) the app's modules bring in pools that grow by
    doubling; at 300 names a 5th pool takes 3.6 KB of a 64 KB heap, and the book's network
    no longer serves frames there. The app, precompiled as flash sends it, with the shipped
    model streamed at 64k: four pools, and the count printed for whoever adds names."""
    import re
    import shutil
    import subprocess

    from conftest import micropython, mpy_cross
    from device import manifest
    from firmware_tools import flash
    from firmware_tools.vboard import BOOT, ONBOARD

    mpy_cross()
    d = str(tmp_path / "board")
    flash.precompile(d, micropython(), [n for n, _ in manifest.FILES if n != "main.py"])
    shutil.copy(os.path.join(ROOT, "weights", "mnist-784-100-10.gnet"), os.path.join(d, "model.gnet"))
    with open(os.path.join(d, "main.py"), "w") as f:
        f.write("import app, micropython\na = app.App()\nprint('LOADED', a.model_error)\nmicropython.qstr_info()\n")
    r = subprocess.run([micropython(), "-X", "heapsize=64k", BOOT, ONBOARD], cwd=d, input="", capture_output=True,
                       text=True, timeout=120)
    assert "LOADED None" in r.stdout, r.stdout + r.stderr
    pools, names = (int(v) for v in re.search(r"n_pool=(\d+), n_qstr=(\d+)", r.stdout).groups())
    print("the app's names at 64k: %d in %d pools" % (names, pools))
    assert pools <= 4, "%d names need a 5th pool (3.6 KB): drop some names from device/" % names
