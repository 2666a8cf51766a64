# The on-device runtime. Each module here is copied as it is to a MicroPython board's
# filesystem and imported there by its own name; this file only lets the host import them
# as `device.<module>` and is not copied to boards.
