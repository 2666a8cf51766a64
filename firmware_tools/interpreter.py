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


# The webassembly MicroPython (1.29, with ulab; 32-bit): the npm package pinned in
# wasm/package.json, which `make setup` installs there when Node.js and npm are here; run
# by wasm_run.mjs.
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
with open(os.path.join(ROOT, "wasm", "package.json")) as _f:
    WASM_VERSION = __import__("json").load(_f)["dependencies"][WASM_PACKAGE]
WASM_RUNNER = os.path.join(ROOT, "firmware_tools", "wasm_run.mjs")


def find_wasm():
    """micropython-ulab.wasm to use: $GENTLENET_WASM if set (None if it does not exist), else
    the one `make setup` installed; None without Node.js."""
    if not shutil.which("node"):
        return None
    if os.environ.get("GENTLENET_WASM"):
        return os.environ["GENTLENET_WASM"] if os.path.exists(os.environ["GENTLENET_WASM"]) else None
    w = os.path.join(ROOT, "wasm", "node_modules", *WASM_PACKAGE.split("/"), "micropython-ulab.wasm")
    return w if os.path.exists(w) else None


def command(interpreter, heapsize=None, device=None):
    """The command that runs a script: `interpreter` is a MicroPython unix port or CPython
    (a path), or "wasm" (the webassembly MicroPython under Node.js, with `device`, the
    folder the script imports from, copied into its memory)."""
    if interpreter == "wasm":
        cmd = [shutil.which("node"), WASM_RUNNER, find_wasm()]
        if heapsize:
            cmd += ["--heap", str(_bytes(heapsize))]
        return cmd + ["--with", device or os.path.join(ROOT, "device")]
    return [interpreter] + (["-X", "heapsize=" + heapsize] if heapsize else [])


ONBOARD = os.path.join(ROOT, "firmware_tools", "onboard")


def onboard(interpreter, script, *args, device=None, heapsize=None):
    """The command that runs firmware_tools/onboard/<script>.py with `args` on `interpreter`
    (see command), device/ or the folder `device` on its import path."""
    return command(interpreter, heapsize, device) + [os.path.join(ONBOARD, script + ".py")] + (
        ["-d", device] if device else []) + [str(a) for a in args]


def _bytes(size):
    # "64k" -> 65536
    s = str(size).lower()
    return int(s[:-1]) * {"k": 1024, "m": 1 << 20}[s[-1]] if s[-1] in "km" else int(s)


def instructions(cmd):
    """Instructions callgrind counts for the command (valgrind's "Collected" line): a count
    that a busy machine does not change."""
    import re
    import subprocess

    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("callgrind failed on %s:\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    return int(re.search(r"Collected : (\d+)", r.stderr).group(1))


def instructions_per_image(model, images_file, n, backend="viper", device=None):
    """Instructions the MicroPython unix port spends per image classifying the first n of
    images_file with `model` (firmware_tools/onboard/cost.py: the load subtracted)."""
    base = onboard(find_micropython(), "cost", model, images_file, device=device)
    return (instructions(base + [str(n), backend]) - instructions(base + ["0", backend])) // n
