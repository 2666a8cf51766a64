# Loaded by pip (via PYTHONPATH) while .ci/pi-zero/run installs gentlenet: pip evaluates
# the environment markers in pyproject.toml as on a Raspberry Pi Zero (armv6l), so it asks
# for what a Pi would ask for. Only the markers: wheel tags still come from sysconfig (this
# machine's), so numpy and pillow install as usual.
import platform

platform.machine = lambda: "armv6l"
