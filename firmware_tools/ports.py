"""Serial ports: find MicroPython boards by USB vendor ID (pyserial's list_ports), and say
which other programs hold a port open (the usual reason a board "stops answering")."""
from __future__ import annotations

import os
import sys

# Where a running virtual board (`gentlenet board`) writes its pty's path, relative to the
# folder it was started in.
VIRTUAL_BOARD_FILE = os.path.join("out", "board.port")

# USB vendor IDs of boards that run MicroPython, and of the USB-serial chips on them.
BOARD_VIDS = {
    0x2E8A: "Raspberry Pi (Pico, Pico W, RP2040/RP2350)",
    0x303A: "Espressif native USB (ESP32-S2/S3/C3)",
    0x10C4: "Silicon Labs CP210x (many ESP32 boards)",
    0x1A86: "WCH CH340/CH9102 (many ESP32/ESP8266 boards)",
    0x0403: "FTDI",
    0xF055: "MicroPython (pyboard)",
}


def find_boards():
    """Device paths of serial ports whose USB vendor is a known MicroPython board's."""
    from serial.tools import list_ports

    return [p.device for p in list_ports.comports() if p.vid in BOARD_VIDS]


def _pty_owner(pid, fds, index):
    # True when process pid holds the master side (/dev/ptmx) of /dev/pts/<index>: the
    # program that made the pty (a virtual board, a simulated camera), not a suspect.
    for fd in fds:
        try:
            if os.readlink("/proc/%s/fd/%s" % (pid, fd)) != "/dev/ptmx":
                continue
            with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                if "tty-index:\t%d\n" % index in f.read():
                    return True
        except OSError:
            continue
    return False


def holders(port, exclude=()):
    """[(pid, command line)] of the other processes that have `port` open (Linux /proc;
    an empty list elsewhere or where /proc is not readable). The program that made a pty
    (gentlenet's virtual board or camera simulator) holds it too and is left out."""
    try:
        target = os.path.realpath(port)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    pts = target.startswith("/dev/pts/") and target[9:].isdigit()
    skip = {os.getpid()} | set(exclude)
    out = []
    for pid in pids:
        if int(pid) in skip:
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == target:
                    if pts and _pty_owner(pid, fds, int(target[9:])):
                        break
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
                    out.append((int(pid), cmd[:120]))
                    break
            except OSError:
                continue
    return out


def describe_holders(port, exclude=()):
    """'; also open in: pid 123 (screen /dev/ttyACM0)' or ''."""
    h = holders(port, exclude)
    if not h:
        return ""
    return "; also open in: %s" % ", ".join("pid %d (%s)" % (pid, cmd or "?") for pid, cmd in h[:4])


def found():
    """['/dev/ttyACM0 (Raspberry Pi (Pico, ...))', ..., '/dev/pts/5 (the running virtual
    board)']: the serial ports here, boards first, for an error message."""
    try:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: (p.vid not in BOARD_VIDS, p.device))
    except Exception:  # noqa: an OS without a port list
        ports = []
    def what(p):
        return BOARD_VIDS.get(p.vid) or (p.description if p.description not in ("", "n/a", None) else "serial port")

    out = ["%s (%s)" % (p.device, what(p)) for p in ports]
    try:
        with open(VIRTUAL_BOARD_FILE) as f:
            vb = f.read().strip()
        if vb and os.path.exists(vb):
            out.append("%s (the running virtual board)" % vb)
    except OSError:
        pass
    return out


def cannot_open(port, error, what="board"):
    """Why `port` could not be opened, and what to do: a port that is not there lists the
    ports found; one that is there but refused names the permission (on Linux, the
    `dialout` group); one held by another program names it."""
    listing = found()
    ports = ("ports found: %s" % ", ".join(listing)) if listing else "no serial ports found (is the board plugged in?)"
    is_url = "://" in port
    text = str(error)
    if not is_url and os.name == "posix" and not os.path.exists(port):
        return "no %s at %s: there is no such port; %s" % (what, port, ports)
    if not is_url and os.name == "posix" and (not os.access(port, os.R_OK | os.W_OK) or "ermission" in text):
        group = ""
        try:
            import grp

            group = grp.getgrgid(os.stat(port).st_gid).gr_name
        except (ImportError, KeyError, OSError):
            pass
        if group in ("", "root") and sys.platform.startswith("linux"):
            group = "dialout"  # the group Debian, Ubuntu and Raspberry Pi OS give serial ports
        hint = ("add yourself to the '%s' group: sudo usermod -aG %s $USER, then log out and in" % (group, group)
                if group not in ("", "root") else "ask for read and write access to it")
        return "%s is there but you may not open it (permission denied): %s" % (port, hint)
    busy = describe_holders(port)
    if busy or any(w in text.lower() for w in ("busy", "in use", "lock")):
        return ("%s is busy: close the other program using it (a terminal, Thonny, mpremote)%s" % (port, busy))
    return "cannot open %s port %s: %s; %s" % (what, port, text, ports)
