# Which of device/gnet.py's backends run on this interpreter, fastest first: one JSON line.
#
#   micropython firmware_tools/onboard/backends.py [-d DIR]
import sys

import prologue

ARGV = prologue.setup(sys.argv)
import gnet  # noqa: E402

# gnet.py has viper kernels where the native emitter is (gnet._viper), and plain Python
ok = (["viper"] if getattr(gnet, "_viper", None) is not None else []) + ["python"]
print('{"backends": [%s], "implementation": "%s"}' % (", ".join('"%s"' % b for b in ok), sys.implementation.name))
