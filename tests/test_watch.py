"""`gentlenet watch`, the live view, end to end: the virtual board, a simulated camera (on
the host or wired to the board), the web page read over HTTP and in a real headless
browser (Debian's chromium)."""
import base64
import binascii
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from conftest import ROOT, micropython

from device import mnistify
from firmware_tools import camsim, flash, scene
from firmware_tools.vboard import VirtualBoard

CNN = os.path.join(ROOT, "weights", "mnist-cnn-8s2-16s2-32s2-10.gnet")
MLP = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("the live view's browser test needs Debian's chromium: apt-get install chromium (.ci/run does)")
    return exe


@pytest.fixture
def shown(tmp_path):
    from test_cli import gentlenet

    d = str(tmp_path / "shown")
    assert gentlenet("writers", "continental", "--count", "20", "--out", d).returncode == 0
    return scene.load_scene(d, look="gentle", shuffle=False)


class Watch:
    """`gentlenet watch ...` as a subprocess; .url once it serves."""

    def __init__(self, *args, cwd):
        exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
        self.p = subprocess.Popen([exe, "watch", "--http-port", "0"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=lambda: [self.lines.put(line) for line in self.p.stdout], daemon=True)
        self.reader.start()
        deadline = time.time() + 60
        self.url = None
        while self.url is None and time.time() < deadline and self.p.poll() is None:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line.startswith("live view: "):
                self.url = line.split()[2]
        if self.url is None:
            self.p.kill()
            raise AssertionError("watch did not serve: %s" % self.p.communicate(timeout=30)[1])

    def view(self, at_least=1, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with urllib.request.urlopen(self.url + "view.json", timeout=10) as r:
                v = json.loads(r.read())
            if v["n"] >= at_least:
                return v
            time.sleep(0.1)
        raise AssertionError("fewer than %d frames in %d s: %s" % (at_least, timeout, v))

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        self.reader.join(10)  # stdout read to its end
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return self.p.returncode, "".join(out), self.p.stderr.read()


def check_view(v, sent, board=True):
    """The frame shown is one the camera sent, byte for byte; the 28x28 shown is the host
    reference's for it; the board agreed with the host."""
    frame = base64.b64decode(v["frame"])
    assert len(frame) == v["width"] * v["height"]
    crc = binascii.crc32(frame) & 0xFFFFFFFF
    assert crc == v["frame_crc"] and crc in [c for _, _, c in sent]
    digit = base64.b64decode(v["digit"])
    assert digit == bytes(mnistify.mnistify(frame, v["width"], v["height"]))
    assert binascii.crc32(digit) & 0xFFFFFFFF == v["digit_crc"]
    assert len(v["scores"]) == 10 and v["label"] in "0123456789" and v["box"] is not None
    assert v["agree"] is (True if board else None)


def test_watch_with_the_camera_here_and_the_network_on_the_board_in_a_browser(tmp_path, shown):
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    try:
        flash.flash(b.port, CNN, show_progress=False, log=lambda *a: None)
        with camsim.UCamSim(shown) as sim:
            w = Watch("--camera", sim.port, "--res", "160x120", "--board", b.port, "--model", CNN, cwd=str(tmp_path))
            try:
                v = w.view(2)
                assert v["where"] == "board" and (v["width"], v["height"]) == (160, 120)
                check_view(v, list(sim.sent))
                with urllib.request.urlopen(w.url, timeout=10) as r:
                    assert b"what the board sees" in r.read()
                # a real browser: the page loads, draws a frame, and updates
                seen = []
                for _ in range(2):
                    dom = subprocess.run([chromium()] + CHROMIUM_FLAGS + [
                        "--user-data-dir=%s" % (tmp_path / "chromium"), "--virtual-time-budget=3000", "--dump-dom",
                        w.url], capture_output=True, text=True, timeout=120).stdout
                    attrs = dict(kv.split("=", 1) for kv in dom.split("<body", 1)[1].split(">", 1)[0].split())
                    seen.append(int(attrs["data-frames"].strip('"')))
                    assert int(attrs["data-digit-crc"].strip('"')) >= 0 and "board = host reference" in dom, dom[:3000]
                    assert 'id="answer">-<' not in dom  # an answer was drawn
                assert seen[0] >= 1 and seen[1] > seen[0], seen
            finally:
                code, out, err = w.stop()
        assert code == 0 and "stopped after" in out, err
    finally:
        b.stop()


def test_watch_with_the_camera_wired_to_the_board(tmp_path, shown):
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython()).start()
    try:
        flash.flash(b.port, CNN, show_progress=False, log=lambda *a: None)
        with camsim.UCamSim(shown) as sim:
            w = Watch("--board-camera", sim.port, "--board", b.port, "--model", CNN, cwd=str(tmp_path))
            try:
                v = w.view(3)
                assert v["where"] == "board's camera, board"
                check_view(v, list(sim.sent))
            finally:
                code, _, err = w.stop()
        assert code == 0, err
    finally:
        b.stop()


def test_watch_on_a_64k_board(tmp_path, shown):
    """64 KB: the board's own camera is refused with a clear error (no heap for it); the
    camera on the host works, the board's 28x28 equal to the host's."""
    b = VirtualBoard(str(tmp_path / "flash"), micropython=micropython(), heapsize="64k").start()
    try:
        flash.flash(b.port, MLP, show_progress=False, log=lambda *a: None)
        with camsim.UCamSim(shown) as sim:
            exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
            r = subprocess.run([exe, "watch", "--board-camera", sim.port, "--board", b.port, "--model", MLP,
                                "--http-port", "0"], capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
            assert r.returncode != 0 and "no-memory" in r.stderr and "wire it to the host" in r.stderr, r.stderr
            w = Watch("--camera", sim.port, "--board", b.port, "--model", MLP, cwd=str(tmp_path))
            try:
                check_view(w.view(2), list(sim.sent))
            finally:
                code, _, err = w.stop()
        assert code == 0, err
    finally:
        b.stop()


def test_a_taken_web_port_is_named(tmp_path, shown):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        with camsim.UCamSim(shown) as sim:
            exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
            r = subprocess.run([exe, "watch", "--camera", sim.port, "--local", "--http-port",
                                str(s.getsockname()[1])], capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
        assert r.returncode != 0 and "cannot serve the live view" in r.stderr and "--http-port" in r.stderr, r.stderr
    finally:
        s.close()
