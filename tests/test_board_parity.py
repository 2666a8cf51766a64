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
                        "--data", mnist_dir(), "--n", "300"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "300 test digits, 0 mismatches" in r.stdout and "micropython" in r.stdout


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
    assert r2.returncode == 1 and "mismatch: digit" in r2.stdout and "is not" in r2.stdout, r2.stdout + r2.stderr


def _digits(n):
    from trainer import data

    test = data.load_split(mnist_dir(), "test")
    return test.images[:n].reshape(-1, 28, 28), test.labels[:n]


def test_the_books_network_on_the_default_board(tmp_path, heap="192k"):
    """784-200-10 sigmoid (157 KB of weights): streamed from flash, it computes the
    reference's bytes on the default 192 KB board. (At 64 KB the app's 20 KB frame buffer
    leaves 7 KB, too little even to stream: issue 11, not yet done.)"""
    import numpy as np

    from trainer import mlp, quantize

    big = str(tmp_path / "book.gnet")
    rng = np.random.default_rng(0)
    q = quantize.quantize(mlp.MLP([784, 200, 10], hidden="sigmoid", output="sigmoid", seed=1),
                          rng.integers(0, 256, (200, 28, 28), dtype=np.uint8))
    qformat.save(q, big)
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize=heap).start()
    try:
        flash.flash(b.port, big, show_progress=False, log=lambda *a: None)
        r = board_parity.run(b.port, big, *_digits(100), log=lambda *a: None)
    finally:
        b.stop()
    assert r["stream"] is True and r["images"] == 100 and not r["mismatches"], r["mismatches"][:2]
