"""Hostile bytes on the board's serial line, and a hostile board on the host's.

Seeded and bounded. The board side: the real device/app.py on the virtual board gets
random and mutated requests; after each (and a line end), a well-formed request must be
answered: 0 app crashes, 0 swallowed requests. The host side: a fake board on a pty that
answers INFO and CLASSIFY with lies; the host tools must end with a BoardError, never a
traceback or a loop."""
import base64
import binascii
import json
import os
import random
import threading
import time

import numpy as np
import pytest

from conftest import ROOT, micropython
from firmware_tools import boardclient, classify, flash, ptyport
from firmware_tools.vboard import VirtualBoard
from trainer import qformat

MODEL = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
N_FUZZ = 150
SEED = 4


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    b = VirtualBoard(str(tmp_path_factory.mktemp("flash")), micropython=micropython()).start()
    flash.flash(b.port, MODEL, show_progress=False, log=lambda *a: None)
    c = boardclient.BoardClient(b.port, timeout=8).start()
    c.vboard = b
    yield c
    c.close()
    b.stop()


def valid_classify(rng, seq):
    w, h = rng.choice([(28, 28), (40, 30), (80, 60)])
    data = bytes(rng.getrandbits(8) for _ in range(w * h))
    fmt = "mnist" if (w, h) == (28, 28) and rng.random() < 0.5 else "grey8"
    head = b"GNT1 %d CLASSIFY %d %d %s %d %08x" % (seq, w, h, fmt.encode(), len(data), binascii.crc32(data))
    return head, base64.b64encode(data)


def hostile(rng, model_path):
    """One hostile input, always ending with a line end."""
    kind = rng.randrange(9)
    if kind == 0:  # random bytes, never Ctrl-C (which leaves the app by design)
        return bytes(b for b in (rng.getrandbits(8) for _ in range(rng.randrange(1, 300))) if b != 3) + b"\n"
    if kind == 1:  # random printable garbage with the magic inside
        s = "".join(rng.choice("GNT1 0123456789CLASSIFYINFOSNAP-+=/\r") for _ in range(rng.randrange(1, 200)))
        return s.encode() + b"\n"
    head, payload = valid_classify(rng, rng.randrange(1, 999999))
    if kind == 2:  # a flipped byte in the header
        head = bytearray(head)
        head[rng.randrange(len(head))] ^= 1 << rng.randrange(7)
        return bytes(head) + b"\n" + payload + b"\n"
    if kind == 3:  # a flipped or cut payload, or a final chunk of the wrong length
        p = bytearray(payload)
        cut = rng.randrange(1, len(p))
        choice = rng.randrange(3)
        if choice == 0:
            p[rng.randrange(len(p))] = rng.choice(b"A!=\x00\xff")
        elif choice == 1:
            p = p[:cut]
        else:
            p += b"A" * rng.randrange(1, 7)
        return head + b"\n" + bytes(p).replace(b"\n", b"") + b"\n"
    if kind == 4:  # numbers that are too big, negative, or not numbers
        n = rng.choice([b"-1", b"0", b"99999999999999999999", b"1e9", b"0x10", b"\xff", b"4294967296"])
        fields = head.split(b" ")
        fields[rng.randrange(3, len(fields))] = n
        return b" ".join(fields) + b"\n" + payload + b"\n"
    if kind == 5:  # CAMERA with what a person might mistype
        arg = rng.choice(["ucam model.gnet", "ucam /dev/zero", "ucam 1", "ucam 1,2", "ucam 1,2,3,4",
                          "ucam /dev/null", "ucam .", "vc0706 1", "ucam x 9600 99x99", "ucam /dev/zero x",
                          "ucam %s" % model_path])
        return b"GNT1 %d CAMERA %s\n" % (rng.randrange(1, 99), arg.encode())
    if kind == 6:  # SNAP without a camera, REPL-less commands with arguments
        return rng.choice([b"GNT1 7 SNAP\n", b"GNT1 7 SNAP digit extra\n", b"GNT1 7 INFO x\n", b"GNT1 7\n",
                           b"GNT1 -5 INFO\n", b"GNT1 1234567 INFO\n", b"GNT1 8 info\n"])
    if kind == 7:  # a line far over the limit
        return b"GNT1 9 CLASSIFY " + b"9" * rng.randrange(90, 3000) + b"\n"
    return head + b"\r\n" + payload + b"\r\n"  # valid, CRLF: must simply work


def test_protocol_fuzz_no_crash_no_swallowed_request(board):
    rng = random.Random(SEED)
    model_path = "model.gnet"
    crcs = []
    restarts = board.vboard.restarts
    for i in range(N_FUZZ):
        bad = hostile(rng, model_path)
        board.ser.write(bad)
        try:
            a = board.request("INFO")
        except boardclient.BoardError as e:
            pytest.fail("case %d swallowed the next request or stopped the app: %r -> %s" % (i, bad[:120], e))
        assert a["ok"] and a["model"] is not None, (i, a)
        crcs.append(a["model"]["crc32"])
    assert len(set(crcs)) == 1  # nothing the fuzz sent changed the model on the board
    assert board.vboard.restarts == restarts  # the app never died (a crash would restart MicroPython)
    with open(os.path.join(board.vboard.flash, "model.gnet"), "rb") as f:
        assert f.read() == open(MODEL, "rb").read()


def test_a_bad_final_chunk_does_not_swallow_the_next_request(board):
    data = bytes(range(256)) * 3 + bytes(16)  # 784 bytes
    crc = binascii.crc32(data)
    for tail in (b"A", b"AB", b"ABCDE", b"AAAA", b"AAAAAAAA" * 40):
        board.seq += 1
        board.ser.write(b"GNT1 %d CLASSIFY 28 28 mnist 784 %08x\n" % (board.seq, crc) + base64.b64encode(data) + tail +
                        b"\n")
        a = board._read_answer(board.seq, 5, "a bad final chunk")
        assert a["ok"] or a["error"] in ("payload", "long", "crc"), a  # lenient base64 may decode it: the CRC decides
        assert board.request("INFO")["ok"]  # answered, not swallowed


def test_a_stale_rejection_does_not_fail_the_next_request(board):
    board.ser.write(b"GNT1 x\n")  # answered with seq -1
    time.sleep(0.3)
    assert board.request("INFO")["ok"]


# ------------------------------------------------------------------ a hostile board


class FakeBoard:
    """A pty that answers every request line with what `answers(command)` returns."""

    def __init__(self, answers):
        self.answers = answers
        self.master, self.slave, self.port = ptyport.open_raw()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import select

        buf = b""
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                buf += os.read(self.master, 65536)
            except OSError:
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                f = line.split()
                if len(f) >= 3 and f[0] == b"GNT1":
                    out = self.answers(int(f[1]), f[2].decode())
                    if out is not None:
                        try:
                            os.write(self.master, out)
                        except OSError:
                            return

    def close(self):
        self._stop.set()
        self._t.join(2)
        ptyport.close(self.master, self.slave)


def info(seq, **over):
    a = {"seq": seq, "ok": True, "app": 1, "frame_bytes": 20480, "runtime": "micropython 1.29.0", "backend": "viper",
         "mem_free": 1000, "model": {"crc32": "00000000", "labels": [str(i) for i in range(10)]}}
    a.update(over)
    return (json.dumps(a) + "\n").encode()


HOSTILE = {
    "negative frame buffer": lambda seq, cmd: info(seq, frame_bytes=-1),
    "frame buffer as text": lambda seq, cmd: info(seq, frame_bytes="lots"),
    "deeply nested JSON": lambda seq, cmd: b'{"seq": %d, "ok": true, "x": ' % seq + b"[" * 100000 + b"]" * 100000 +
    b"}\n",
    "endless line": lambda seq, cmd: b"A" * 300000,
    "not an object": lambda seq, cmd: b"[1, 2, 3]\n" * 5,
    "label with a slash": lambda seq, cmd: info(seq) if cmd == "INFO" else (json.dumps({
        "seq": seq, "ok": True, "label": "../../etc/x", "class": 1, "scores": [0] * 10, "confidence": 0.5, "us": 1,
        "us_preprocess": 1, "us_model": 1, "digit_crc": 0
    }) + "\n").encode(),
    "scores that are not int8": lambda seq, cmd: info(seq) if cmd == "INFO" else (json.dumps({
        "seq": seq, "ok": True, "label": "1", "class": 1, "scores": ["x"] * 10, "confidence": 7, "us": 1,
        "us_preprocess": 1, "us_model": 1, "digit_crc": 0
    }) + "\n").encode(),
    "silence": lambda seq, cmd: None,
}


class OneFrame:
    """The camera side is not under test here: a blank 80x60 frame every time."""

    def grab(self):
        from firmware_tools.cameras import Frame

        return Frame(np.full((60, 80), 200, np.uint8))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_host_tools_survive_a_hostile_board(name, tmp_path):
    fake = FakeBoard(HOSTILE[name])
    try:
        client = boardclient.BoardClient(fake.port, timeout=3)
        t0 = time.time()
        try:
            r = classify.run(OneFrame(), 1, qformat.load(MODEL), client, save=str(tmp_path / "frames"),
                             log=lambda *a: None)
            # only a board that answers by the protocol gets here: its label is used safely
            assert r["frames"] == 1 and os.listdir(str(tmp_path / "frames"))
            assert os.listdir(str(tmp_path)) == ["frames"]
        except boardclient.BoardError as e:
            assert str(e)
        assert time.time() - t0 < 15
        client.close()
    finally:
        fake.close()
