# The virtual board's boot, run by vboard.py inside the real MicroPython unix port:
#
#   micropython -X heapsize=192k vboard_boot.py <folder of vboard_repl.py> [raw]
#
# Like a board: run main.py (unless reset from the raw REPL), then serve the REPL. The
# REPL's code (vboard_repl.py) is imported only after main.py ends: a real board's REPL is
# in its firmware and costs main.py no heap, so the virtual board's must not either (it
# would take ~7 KB of a 64 KB heap from the app).
import sys

_REPL_DIR = sys.argv[1]
_RAW = "raw" in sys.argv[2:]
# the board's import path: its flash root and /lib, not this file's folder
sys.path[:] = ["", "lib"] + [p for p in sys.path if p.startswith(".frozen")]


def _main_py():
    # run main.py if there is one; Ctrl-C (SIGINT from vboard.py) stops it
    try:
        src = open("main.py").read()
    except OSError:
        return
    try:
        exec(src, {"__name__": "__main__"})
    except KeyboardInterrupt:
        sys.stdout.write("\r\nKeyboardInterrupt\r\n")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: a crashing main.py still leaves a REPL
        sys.print_exception(e, sys.stdout)


if not _RAW:
    try:  # a Ctrl-C that lands between main.py's end and the REPL must not end the board
        _main_py()
    except KeyboardInterrupt:
        pass
while True:
    try:
        sys.path.insert(0, _REPL_DIR)
        import vboard_repl
        break
    except KeyboardInterrupt:
        pass
    finally:
        if sys.path and sys.path[0] == _REPL_DIR:
            sys.path.pop(0)
vboard_repl.main(_RAW)
