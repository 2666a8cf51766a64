"""Serial ports: find MicroPython boards by USB vendor ID (pyserial's list_ports), and say
which other programs hold a port open (the usual reason a board "stops answering")."""
from __future__ import annotations

import os

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


def holders(port, exclude=()):
    """[(pid, command line)] of the other processes that have `port` open (Linux /proc;
    an empty list elsewhere or where /proc is not readable)."""
    try:
        target = os.path.realpath(port)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
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
