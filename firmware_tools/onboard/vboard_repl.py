# The virtual board's REPL: runs inside the real MicroPython unix port, its stdin and
# stdout piped to a pseudo-terminal by vboard.py, with the board's "flash" folder as its
# current directory. It speaks the same control bytes as a board's USB REPL, so that
# mpremote works against it (`mpremote connect /dev/pts/N resume ...`); the unix port's
# own REPL has no raw mode.
#
# Like a board: vboard_boot.py runs main.py if there is one (Ctrl-C, delivered by
# vboard.py as SIGINT = KeyboardInterrupt, stops it), then imports this to serve the
# REPL (main(raw)). A soft reset (Ctrl-D) ends this process with exit code _EXIT_RAW or
# _EXIT_FRIENDLY; vboard.py starts a fresh interpreter in that mode, as a real board
# restarts MicroPython.
import sys

_IN = sys.stdin.buffer
_OUT = sys.stdout.buffer

_CTRL_A = b"\x01"  # enter raw REPL
_CTRL_B = b"\x02"  # leave raw REPL (friendly REPL)
_CTRL_C = b"\x03"  # interrupt: discard what was typed
_CTRL_D = b"\x04"  # raw REPL: end of code, or soft reset on an empty buffer
_CTRL_E = b"\x05"  # raw REPL: raw-paste request ("\x05A\x01")
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY = b"MicroPython (gentlenet virtual board)\r\nType \"help()\" for more information.\r\n"
_EXIT_RAW = 10       # soft reset from the raw REPL: come back in raw mode
_EXIT_FRIENDLY = 11  # soft reset from the friendly REPL: come back running main.py


def _write(b):
    _OUT.write(b)
    _OUT.flush()


def _read1():
    # one byte; a Ctrl-C that arrived as SIGINT reads as the Ctrl-C byte
    try:
        c = _IN.read(1)
    except KeyboardInterrupt:
        return _CTRL_C
    if not c:
        sys.exit(0)  # the host closed the terminal
    return c


def _run(code, env, raw):
    # execute code; output goes to the terminal as it is printed. Raw mode: the error
    # text, if any, goes between the two \x04 that end the output.
    err = None
    try:
        exec(code, env)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: the REPL reports everything and keeps serving
        err = e
    if raw:
        _write(_CTRL_D)
    if err is not None:
        sys.print_exception(err, sys.stdout)
    if raw:
        _write(_CTRL_D)


def _serve(banner, step, env):
    # write the banner, then feed step(env, buf) byte by byte until it says to leave
    buf = bytearray()
    shown = False
    while True:
        try:  # a Ctrl-C (SIGINT) may land at any moment, even in the banner's write
            if not shown:
                _write(banner)
                shown = True
            if step(env, buf):
                return
        except KeyboardInterrupt:  # same as the Ctrl-C byte
            buf[:] = b""


def _raw(env):
    # raw REPL: code until Ctrl-D, then "OK", output, \x04, error, \x04, ">"
    _serve(_RAW_BANNER + b">", _raw_step, env)


def _raw_step(env, buf):
    # one byte of the raw REPL; True when it is time to leave it
    c = _read1()
    if c == _CTRL_D:
        if not buf:
            _write(b"soft reboot\r\n")
            sys.exit(_EXIT_RAW)
        _write(b"OK")
        code = bytes(buf)
        buf[:] = b""
        _run(code, env, True)
        _write(b">")
    elif c == _CTRL_E and not buf:
        _IN.read(2)       # "A\x01"
        _write(b"R\x00")  # raw-paste understood but not supported: plain raw mode
    elif c == _CTRL_A:
        buf[:] = b""
        _write(_RAW_BANNER + b">")
    elif c == _CTRL_B:
        _write(b"\r\n")
        return True
    elif c == _CTRL_C:
        buf[:] = b""
    else:
        buf += c
    return False


def _friendly(env):
    # a line-at-a-time REPL for a person at a terminal (it never leaves: Ctrl-D resets)
    _serve(_FRIENDLY + b">>> ", _friendly_step, env)


def _friendly_step(env, line):
    # one byte of the friendly REPL; None: stay
    c = _read1()
    if c == _CTRL_A:
        _raw(env)
        _write(_FRIENDLY + b">>> ")
    elif c == _CTRL_C:
        line[:] = b""
        _write(b"\r\nKeyboardInterrupt\r\n>>> ")
    elif c == _CTRL_D:
        _write(b"\r\nsoft reboot\r\n")
        sys.exit(_EXIT_FRIENDLY)
    elif c in (b"\r", b"\n"):
        _write(b"\r\n")
        if line.strip():
            try:
                _run(compile(bytes(line), "<stdin>", "single"), env, False)
            except SyntaxError as e:
                sys.print_exception(e, sys.stdout)
        line[:] = b""
        _write(b">>> ")
    elif c in (b"\x7f", b"\x08"):
        if line:
            line[:] = line[:-1]
            _write(b"\x08 \x08")
    else:
        line += c
        _write(c)


def _board_os():
    # A board's os.ilistdir gives (name, type, inode, size); the unix port's leaves out the
    # size, so `mpremote fs ls` would show 0 for every file. Put in an os that adds it.
    import os

    class _OS:
        pass

    board_os = _OS()
    for k in dir(os):
        try:
            setattr(board_os, k, getattr(os, k))
        except (AttributeError, TypeError):
            pass
    listdir = os.ilistdir

    def ilistdir(path="."):
        for e in listdir(path):
            full = e[0] if path in ("", ".") else path.rstrip("/") + "/" + e[0]
            yield (e[0], e[1], e[2], os.stat(full)[6] if e[1] == 0x8000 else 0)

    board_os.ilistdir = ilistdir
    sys.modules["os"] = board_os


def main(raw):
    # the REPL, after vboard_boot.py has run main.py: raw (reset from the raw REPL) or friendly
    _board_os()
    env = {"__name__": "__main__"}
    todo = "raw" if raw else "friendly"
    while True:
        try:  # a Ctrl-C (SIGINT) between two steps must not end the board's REPL
            if todo == "raw":
                _raw(env)
            todo = "friendly"
            _friendly(env)
        except KeyboardInterrupt:
            pass
