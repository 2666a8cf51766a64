"""A first real user's day (issue 20): a fresh folder, the wrong port, a port they may not
open, a port another program holds. The real command in a subprocess, the real virtual
board, real ptys."""
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, micropython

from firmware_tools import ptyport
from firmware_tools.vboard import VirtualBoard

SHIPPED = os.path.join(ROOT, "weights", "mnist-784-100-10.gnet")


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
    r = gentlenet("flash", "--port", board.port, "-q", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "using the shipped model" in r.stderr and "mnist-784-100-10.gnet" in r.stderr, r.stderr
    with open(os.path.join(board.flash, "model.gnet"), "rb") as f, open(SHIPPED, "rb") as g:
        assert f.read() == g.read()


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
