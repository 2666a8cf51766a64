"""Find MicroPython boards on USB serial ports by vendor ID (pyserial's list_ports)."""
from __future__ import annotations

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
