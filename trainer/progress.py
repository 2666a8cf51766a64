"""A one-line progress bar on stderr, drawn only on a terminal."""
from __future__ import annotations

import sys
import time


def interactive(enabled=None):
    return sys.stderr.isatty() if enabled is None else bool(enabled)


class Bar:
    def __init__(self, total, label, enabled=None, width=24, stream=None):
        self.total, self.label, self.width = max(1, total), label, width
        self.stream = stream or sys.stderr
        self.enabled = interactive(enabled)
        self.t0 = time.time()
        self._last = ""

    def update(self, done, text=""):
        if not self.enabled:
            return
        frac = min(1.0, done / self.total)
        fill = int(frac * self.width)
        bar = "#" * fill + "." * (self.width - fill)
        line = "\r%s [%s] %3d%% %s  %.1fs" % (self.label, bar, frac * 100, text, time.time() - self.t0)
        pad = " " * max(0, len(self._last) - len(line))
        self.stream.write(line + pad)
        self.stream.flush()
        self._last = line

    def close(self):
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
