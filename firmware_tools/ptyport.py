"""A pseudo-terminal that pyserial opens like hardware: the virtual board's and the
simulated cameras' serial port."""
import os
import pty
import tty


class Started:
    """`with X(...) as x:` for a pty device with start() (returning itself) and stop()."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def open_raw():
    """(master fd, slave fd, slave path). Raw: bytes pass untouched (no echo, no line
    editing, no signals), whoever opens the path."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


def close(*fds):
    """Close after the threads reading them have stopped: a closed fd number is soon
    reused by the next pty, and a late reader would steal its bytes."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
