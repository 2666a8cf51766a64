"""Which MicroPython unix port the host tools use (the virtual board, parity, tests, the
demo): one answer, one place."""
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_micropython():
    """The MicroPython unix port to use: $MICROPYTHON if set (None if it does not exist
    there: a wrong path is not replaced by another interpreter), else the venv's, else
    one on PATH."""
    if os.environ.get("MICROPYTHON"):
        return os.environ["MICROPYTHON"] if os.path.exists(os.environ["MICROPYTHON"]) else None
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    return mp if os.path.exists(mp) else shutil.which("micropython")
