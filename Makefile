# throttlebed: `make run` and `make test` each do all of their own set-up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT_PACKAGES := openvswitch-switch mininet iperf3 ethtool iputils-ping iproute2 chromium
OUT    ?= out/national-day

.PHONY: setup system-packages run test lint bench clean

setup: system-packages $(STAMP)

# Debian packages for the emulation backend and browser checks; only as root, only when missing.
system-packages:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	else echo "not root: skipping Debian packages (the mininet backend and its tests need root)"; fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/throttlebed run throttlebed/experiments/scenarios/national-day.yaml --backend sim --out $(OUT)

lint: setup
	$(BIN)/ruff check throttlebed tests benchmarks

test: setup lint
	$(BIN)/python -m pytest -q

# The README's figures; the sim, Dask and ns.py benchmarks keep theirs in benchmarks/results/*.json
# (ns.py, the packet-level simulator compared against, is the optional extra `bench`). The
# controller and emulation benchmarks need root and Open vSwitch.
bench: setup
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_derive.py
	$(BIN)/python benchmarks/bench_sim.py --sessions 1e5 1e6
	$(BIN)/python benchmarks/bench_run.py
	$(BIN)/python benchmarks/bench_national.py
	$(BIN)/python benchmarks/bench_dask.py --users-scale 1.0 --repeat 3
	$(BIN)/python benchmarks/bench_worker_malloc.py
	$(BIN)/python benchmarks/bench_nspy.py
	@if [ "$$(id -u)" = "0" ]; then \
	  $(BIN)/python benchmarks/bench_controller.py && $(BIN)/python benchmarks/bench_emulation.py \
	  && $(BIN)/python benchmarks/bench_period_switch.py && $(BIN)/python benchmarks/bench_national_emulated.py; \
	else echo "not root: skipping the controller and emulation benchmarks"; fi
	$(BIN)/python benchmarks/results.py table

clean:
	rm -rf $(VENV) out test-artifacts
