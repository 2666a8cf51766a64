# Which of device/gnet.py's backends run on this interpreter, fastest first: one JSON line.
#
#   micropython firmware_tools/onboard/backends.py [-d DIR]
import sys

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402

ok = []
for b in gnet.BACKENDS:
    try:
        gnet.kernels(b)
        ok.append(b)
    except gnet.ModelError:
        pass
print('{"backends": [%s], "implementation": "%s"}' % (", ".join('"%s"' % b for b in ok), sys.implementation.name))
