"""Serial cameras (simulated byte for byte on ptys) -> the virtual board (real MicroPython)
running device/app.py: end to end, against the host's reference pipeline, and with faults."""
import base64
import binascii
import os
import time

import numpy as np
import pytest
import serial

from conftest import ROOT, micropython, mnist_dir
from firmware_tools import boardclient, camsim, cameras, classify, flash, scene
from firmware_tools.vboard import VirtualBoard
from trainer import qformat, quantize

MODEL = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
FRAMES = 200


@pytest.fixture(scope="module")
def digits():
    return scene.load_scene(mnist_dir(), seed=1)


@pytest.fixture(scope="module")
def q():
    return qformat.load(MODEL)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    b = VirtualBoard(str(tmp_path_factory.mktemp("flash")), micropython=micropython()).start()
    flash.flash(b.port, MODEL, show_progress=False, log=lambda *a: None)
    c = boardclient.BoardClient(b.port).start()
    c.vboard = b
    yield c
    c.close()
    b.stop()


def clean_accuracy(q, sc, n):
    pred = quantize.reference(q, sc.images[:n]).argmax(axis=1)
    return float((pred == sc.labels[:n]).mean())


def end_to_end(board, q, sc, sim_cls, kind, n=FRAMES):
    with sim_cls(sc) as sim:
        cam = cameras.open_camera(kind, sim.port)
        try:
            r = classify.run(cam, n, q, board, on_frame=lambda row: None)
        finally:
            cam.close()
        truth = [label for _, label, _ in sim.sent]
    # every frame rendered was classified once (a re-read of the same frozen frame renders nothing new)
    assert len(truth) == n
    acc = np.mean([int(row["label"]) == t for row, t in zip(r["rows"], truth)])
    return r, acc


def test_ucam_frames_on_the_board_match_the_reference_and_clean_accuracy(board, q, digits):
    r, acc = end_to_end(board, q, digits, camsim.UCamSim, "ucam")
    assert r["agree"] == FRAMES, [row for row in r["rows"] if not row["agree"]][:3]
    clean = clean_accuracy(q, digits, FRAMES)
    assert acc >= clean - 0.03, (acc, clean)
    assert all(row["width"] == 80 and row["height"] == 60 for row in r["rows"])


def test_vc0706_jpeg_frames_on_the_board_match_the_reference_and_clean_accuracy(board, q, digits):
    r, acc = end_to_end(board, q, digits, camsim.VC0706Sim, "vc0706")
    assert r["agree"] == FRAMES
    assert all(row["jpeg_bytes"] and (row["width"], row["height"]) == (160, 120) for row in r["rows"])
    clean = clean_accuracy(q, digits, FRAMES)
    assert acc >= clean - 0.03, (acc, clean)


def test_the_worlds_frames_on_the_board_equal_the_host(board, q):
    """Frames as hard as the world (trainer/world.py: each of its 19 conditions
    twice) through a JPEG camera at 160x120 to the board: the board's mnistify and
    scores equal the host's on every frame, and most read right."""
    w = scene.load_scene(mnist_dir(), seed=4, look="world")
    r, acc = end_to_end(board, q, w, camsim.VC0706Sim, "vc0706", n=38)
    assert r["agree"] == 38, [row for row in r["rows"] if not row["agree"]][:3]
    assert acc >= 0.8, acc


@pytest.mark.parametrize("kind", [k for k in cameras.KINDS if k not in ("ucam", "vc0706")])  # those two: above
def test_other_cameras_end_to_end(board, q, digits, kind):
    r, acc = end_to_end(board, q, digits, camsim.simulator(kind), kind, n=20)
    assert r["agree"] == 20 and acc >= 0.85


def test_classify_survives_a_board_reset(board, q, digits):
    logs = []

    def on_frame(row):
        if row["frame"] == 2:
            board.vboard.crash()  # the interpreter dies, a fresh one starts main.py

    board.timeout = 3.0
    try:
        with camsim.UCamSim(digits) as sim:
            cam = cameras.open_camera("ucam", sim.port)
            r = classify.run(cam, 6, q, board, on_frame=on_frame, log=logs.append)
            cam.close()
    finally:
        board.timeout = 10.0
    assert r["frames"] == 6 and r["agree"] == 6 and r["failed"] == 0
    assert any("reconnecting" in line for line in logs), logs


def test_classify_goes_on_after_a_camera_failure_and_stops_after_three(q, digits):
    logs = []
    with camsim.VC0706Sim(digits) as sim:
        cam = cameras.open_camera("vc0706", sim.port)

        def log(line):
            logs.append(line)
            if "camera:" in line:
                sim.fault("wake")  # someone fixes the cable

        sim.fault("silent")
        r = classify.run(cam, 3, q, None, log=log)
        assert r["failed"] == 1 and r["frames"] == 2 and "error" in r["rows"][0]
        sim.fault("silent")
        with pytest.raises(cameras.CameraError, match="3 frames in a row"):
            classify.run(cam, 5, q, None, log=logs.append)
        cam.close()


def test_snap_on_the_board_with_its_own_ucam(board, q, digits):
    # the camera wired to the board (a pty on the unix port, a UART on a Pico): device/ucam.py
    with camsim.UCamSim(digits, start_index=500) as sim:
        board.camera("ucam", sim.port, 115200, "80x60")
        for _ in range(15):
            a = board.snap(digit=True)
            index, label, crc = sim.sent[-1]
            frame = digits.frame(index, 80, 60)
            assert a["frame_crc"] == binascii.crc32(frame.tobytes()) == crc
            ref = classify.reference(q, frame)
            assert a["scores"] == ref["scores"] and a["digit"] == ref["digit"]
        # faults on the board's camera line: recovered (same frame as the camera sent) ...
        for fault in ("corrupt", "drop", "garbage", "sleep", "stop"):
            sim.fault(fault)
            a = board.snap()
            assert a["frame_crc"] == sim.sent[-1][2], fault
        # ... or a clear error, after which the board keeps serving
        sim.fault("silent")
        with pytest.raises(boardclient.BoardError) as e:
            board.snap()
        assert e.value.code == "camera" and "SYNC" in str(e.value)
        assert board.info()["ok"]
        sim.fault("wake")
        assert board.snap()["frame_crc"] == sim.sent[-1][2]


@pytest.mark.parametrize("res", ["80x60", "160x120"])
def test_snap_sends_the_frame_it_saw_and_its_28x28(board, q, digits, res):
    """SNAP frame digit (the live view's request): the frame as the camera sent it and the
    28x28 the network was given, both equal to the host's (CRC-checked by the client);
    80x60 is preprocessed from a copy (not in place), 160x120 from the shrunk tables."""
    w, h = map(int, res.split("x"))
    with camsim.UCamSim(digits, start_index=700) as sim:
        board.camera("ucam", sim.port, 115200, res)
        for _ in range(4):
            a = board.snap(digit=True, frame=True)
            index, _, crc = sim.sent[-1]
            frame = digits.frame(index, w, h)
            assert a["frame"] == frame.tobytes() and binascii.crc32(a["frame"]) == crc == a["frame_crc"]
            ref = classify.reference(q, frame)
            assert a["digit"] == ref["digit"] and a["scores"] == ref["scores"]
            assert (a["width"], a["height"]) == (w, h)
        plain = board.snap()  # without them: no frame, no digit, as before
        assert "frame" not in plain and "digit" not in plain


@pytest.mark.parametrize("kind", list(cameras.KINDS))
def test_camera_faults_recover_or_fail_clearly(digits, kind):
    sim_cls = camsim.simulator(kind)
    with sim_cls(digits) as sim:
        cam = cameras.open_camera(kind, sim.port)
        try:
            for fault in ("corrupt", "drop", "stop", "garbage"):
                sim.fault(fault)
                f = cam.grab()
                i, _, crc = sim.sent[-1]
                if f.jpeg is None:
                    assert binascii.crc32(f.grey.tobytes()) == crc, fault  # exactly the frame sent
                else:
                    w, h = f.grey.shape[1], f.grey.shape[0]
                    assert f.jpeg == digits.jpeg(i, w, h), fault
            sim.fault("silent")
            t0 = time.time()
            with pytest.raises(cameras.CameraError):
                cam.grab()
            assert time.time() - t0 < 15
            sim.fault("wake")
            cam.grab()
        finally:
            cam.close()


def test_camera_ports_open_by_url(digits):
    with pytest.raises(cameras.CameraError, match="no answer"):
        cameras.open_camera("vc0706", "loop://")  # a line that only echoes is not a camera
    with pytest.raises(cameras.CameraError, match="no camera at /dev/does-not-exist: there is no such port"):
        cameras.open_camera("ucam", "/dev/does-not-exist")


# ------------------------------------------------------------------ the board's protocol
def raw_request(board, text):
    board.ser.write(text)
    return board._read_answer(-1, 5, "an error answer")


def test_board_protocol_survives_bad_input(board, q, digits):
    frame = digits.frame(3, 80, 60)
    good = board.classify(frame)
    data = frame.tobytes()
    crc = "%08x" % binascii.crc32(data)
    b64 = base64.b64encode(data)
    # garbage before a request: skipped, the request is served
    board.ser.write(b"\x00\xffnoise GNT GN\r\n")
    assert board.classify(frame)["scores"] == good["scores"]
    # a CRC error is reported, and the board keeps serving
    with pytest.raises(boardclient.BoardError) as e:
        board.request("CLASSIFY", [80, 60, "grey8", len(data), "%08x" % (int(crc, 16) ^ 1)], payload=data)
    assert e.value.code == "crc"
    # a frame larger than the board's buffer is refused from its header; its payload is skipped
    big = np.zeros((480, 640), np.uint8)
    with pytest.raises(boardclient.BoardError) as e:
        board.classify(big)
    assert e.value.code == "too-big" and "frame buffer" in str(e.value)
    # header that lies about the length; unknown command; unknown pixel format; not base64
    for args, payload, code in [([80, 60, "grey8", 100, crc], data, "header"),
                                ([80, 60, "rgb888", len(data), crc], data, "format"),
                                ([80, 60, "grey8", len(data), crc], data[:-30], "short")]:
        with pytest.raises(boardclient.BoardError) as e:
            board.request("CLASSIFY", args, payload=payload)
        assert e.value.code == code, (args, e.value)
    with pytest.raises(boardclient.BoardError) as e:
        board.request("DANCE")
    assert e.value.code == "command"
    board.seq += 1
    board.ser.write(b"GNT1 %d CLASSIFY 80 60 grey8 4800 %s\n" % (board.seq, crc.encode()) + b"!!!!" * 1600 + b"\n")
    a = board._read_answer(board.seq, 5, "bad base64")
    assert not a["ok"] and a["error"] == "payload"
    # a sender that stops mid-frame: answered with a timeout, then served again
    board.seq += 1
    board.ser.write(b"GNT1 %d CLASSIFY 80 60 grey8 %d %s\n" % (board.seq, len(data), crc.encode()) + b64[:1000])
    t0 = time.time()
    a = board._read_answer(board.seq, 10, "a timeout")
    assert not a["ok"] and a["error"] == "timeout" and time.time() - t0 < 5
    assert board.classify(frame)["scores"] == good["scores"]
    # CRLF line ends (a terminal, a Windows host) work too
    board.seq += 1
    board.ser.write(b"GNT1 %d CLASSIFY 80 60 grey8 %d %s\r\n" % (board.seq, len(data), crc.encode()) + b64 + b"\r\n")
    assert board._read_answer(board.seq, 5, "CRLF")["scores"] == good["scores"]
    # a person at a serial terminal: Enter sends "\r"
    board.seq += 1
    board.ser.write(b"GNT1 %d INFO\r" % board.seq)
    assert board._read_answer(board.seq, 5, "INFO typed at a terminal")["ok"]
    # a refused frame with CRLF ends: its payload is skipped, the next request is served
    board.seq += 1
    board.ser.write(b"GNT1 %d CLASSIFY 80 60 bgr 4800 %s\r\n" % (board.seq, crc.encode()) + b64 + b"\r\n")
    assert board._read_answer(board.seq, 5, "CRLF refused")["error"] == "format"
    assert board.classify(frame)["scores"] == good["scores"]
    # a clean 28x28 digit goes straight to the network
    d = digits.images[0]
    a = board.classify(d, fmt="mnist")
    assert a["scores"] == [int(s) for s in quantize.reference(q, d[None])[0]]


def test_board_info_and_the_way_back_to_the_repl(board, q):
    info = board.info()
    assert info["model"]["crc32"] == "%08x" % qformat.crc32_of(MODEL)
    assert info["backend"] == "viper" and info["runtime"].startswith("micropython")
    assert info["mem_free"] > 10000 and info["frame_bytes"] == 160 * 128
    assert board.leave()["event"] == "bye"
    # the REPL is back: mpremote (resume: no reset) runs code on it
    _repl_runs(board, "print(6 * 7)", b"42")
    # Ctrl-C interrupts the app at any time, even inside a frame
    board.ser.write(b"GNT1 77 CLASSIFY 80 60 grey8 4800 00000000\nAAAA")
    board.ser.write(b"\x03")
    time.sleep(0.5)
    _repl_runs(board, "print('repl')", b"repl")


def _repl_runs(board, code, printed):
    """mpremote (resume: no reset) runs `code` on the board's REPL; then the app serves again
    (a soft reset: main.py starts it)."""
    from firmware_tools.flash import connect

    board.ser.close()
    t = connect(board.url, soft_reset=False)
    assert t.exec(code).strip() == printed
    t.exit_raw_repl()
    t.close()
    board.ser = serial.serial_for_url(board.url, baudrate=115200, timeout=0.2)
    assert board.start().info()["ok"]


def test_classify_command(board, digits, tmp_path):
    import json
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "gentlenet.cli"] + list(args), cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=120)

    with camsim.StreamSim(digits) as sim:
        r = cli("classify", "--camera", sim.port, "--kind", "stream", "--board", board.url, "--model", MODEL,
                "--frames", "3", "--save", "frames", "--json", "c.json")
        assert r.returncode == 0, r.stderr
        assert "3 frames classified on the board; 3 equal to the host reference" in r.stdout
        saved = sorted(os.listdir(tmp_path / "frames"))
        out = json.load(open(tmp_path / "c.json"))
        assert len(saved) == 3 and [row["label"] for row in out["rows"]] == [s.split("-")[4] for s in saved]
        # the board's answers are in the names, never where a label is read: eval does not score its own guesses
        r = cli("eval", MODEL, "--data", "frames")
        assert r.returncode == 2 and "cannot tell the digit in 3 image(s)" in r.stderr, r.stdout + r.stderr
        r = cli("classify", "--camera", sim.port, "--kind", "stream", "--local", "--model", MODEL, "--frames", "2")
        assert r.returncode == 0 and r.stdout.count("host") == 2, r.stderr
        # a board running another model is refused, not trusted
        other = tmp_path / "other.gnet"
        q = qformat.load(MODEL)
        q.labels = list("abcdefghij")
        qformat.save(q, str(other))
        r = cli("classify", "--camera", sim.port, "--kind", "stream", "--board", board.url, "--model", str(other),
                "--frames", "1")
        assert r.returncode != 0 and "different model" in r.stderr
    r = cli("classify", "--camera", "/dev/does-not-exist", "--local", "--model", MODEL)
    assert r.returncode != 0 and "no camera at /dev/does-not-exist: there is no such port" in r.stderr


def test_ucam_nak_is_reported_with_the_datasheet_reason(digits):
    with camsim.UCamSim(digits) as sim:
        cam = cameras.open_camera("ucam", sim.port)
        with pytest.raises(OSError, match="NAK picture not ready"):
            cam.command(0x04, 0x01, 0, 0, 0, "GET PICTURE")  # a snapshot before any SNAPSHOT
        with pytest.raises(OSError, match="NAK picture size error"):
            cam.command(0x01, 0, 0x03, 0x05, 0, "INITIAL")   # grey at a size the camera lacks
        assert binascii.crc32(cam.grab().grey.tobytes()) == sim.sent[-1][2]  # and it still works
        cam.close()


@pytest.mark.parametrize("delay", [0.02, 0.06])
def test_ucam_sync_with_a_slow_camera(digits, delay):
    """A camera (or a loaded machine) that answers SYNC late: the host has sent more SYNCs
    by then, and each is answered. The late ACK(SYNC)s must not be read as the answer to
    INITIAL (that made a fresh clone's `make test` fail)."""
    with camsim.UCamSim(digits, sync_delay=delay) as sim:
        cam = cameras.open_camera("ucam", sim.port)
        try:
            for _ in range(3):
                f = cam.grab()
                assert binascii.crc32(f.grey.tobytes()) == sim.sent[-1][2]
        finally:
            cam.close()


def test_ucam_on_a_line_of_endless_noise_ends_in_bounded_time(tmp_path):
    """/dev/zero never sends 0xAA and never goes quiet: the driver must give up, not spin."""
    from device import ucam

    cam = ucam.UCam(ucam.open_port("/dev/zero"))
    t0 = time.time()
    with pytest.raises(OSError, match="no answer"):
        cam.sync(tries=5)
    assert time.time() - t0 < 10
    cam.close()
    (tmp_path / "model.gnet").write_bytes(b"precious")
    with pytest.raises(OSError, match="not a serial device"):
        ucam.open_port(str(tmp_path / "model.gnet"))
    assert (tmp_path / "model.gnet").read_bytes() == b"precious"
    with pytest.raises(OSError, match="machine.UART"):
        ucam.open_port("1")
