# The files a board needs, in the order `gentlenet flash` sends them (the model goes
# last, as model.gnet), and how each may travel (micropython-lib's manifest, in small):
#   "bytecode"  precompiled to .mpy when the board's .mpy version matches mpy-cross's
#   "native"    has viper (machine code): precompiled only when the sub-version matches
#               too, for the board's own architecture (docs/reference/mpyfiles.rst)
#   "lean"      as "bytecode", without source line numbers: a traceback from it names the
#               function, not the line, and 630 bytes of a 64 KB board's heap stay free
#               (mnistify, the largest module a camera board imports after the model; its
#               output is checked byte for byte against the host's, where lines are kept)
#   "source"    always sent as .py (MicroPython runs main.py, never main.mpy)
# This file itself stays on the host.
FILES = (
    ("gnet.py", "bytecode"),          # the runtime: inference
    ("gnet_load.py", "bytecode"),     # its loader, pass 1: the file's structure (dropped after a load)
    ("gnet_weights.py", "bytecode"),  # its loader, pass 2: the weights (dropped after a load)
    ("gnet_python.py", "bytecode"),   # its reference kernels, where no faster backend runs
    ("gnet_viper.py", "native"),      # its viper kernels, where the native emitter exists
    ("gnet_viper_load.py", "native"), # their part of the load (dropped after it)
    ("gnet_oom.py", "bytecode"),      # what it says when a model does not fit (imported only then)
    ("gnet_ulab.py", "bytecode"),     # its ulab kernels, where ulab is (OpenMV, Pimoroni, CircuitPython)
    ("gnet_conv_load.py", "bytecode"),  # a ConvNet's layer records checked (only for one; dropped after the load)
    ("gnet_conv.py", "bytecode"),     # its conv, pool and average layers (imported only for one)
    ("gnet_conv_viper.py", "native"), # its viper conv kernel (imported only for one, with viper)
    ("gnet_conv_ulab.py", "bytecode"), # its ulab conv kernel (imported only for one, with ulab)
    ("mnistify.py", "lean"),          # any grey frame -> a 28x28 MNIST-style digit
    ("ucam.py", "bytecode"),          # a uCAM-II/III wired to the board
    ("app.py", "bytecode"),           # the board application (PROTOCOL.md)
    ("main.py", "source"),            # runs the app after a reset
)
