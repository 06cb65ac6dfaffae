# ocpp-simu: `make run` (demo fleet) and `make test` (whole suite) work on a fresh
# Debian machine with Python 3.11; both create .venv and install what they need.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CPS    ?= 3

APT_PACKAGES := mosquitto mosquitto-clients libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 \
                libxcb-icccm4 libxcb-keysyms1 libfontconfig1 libdbus-1-3 libglib2.0-0
APT_CHECK    := /usr/sbin/mosquitto /usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0 \
                /usr/lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 /usr/lib/x86_64-linux-gnu/libEGL.so.1

.PHONY: run test lint bench system-deps venv clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## system-deps: Mosquitto and the Qt runtime libraries (apt), only when missing
system-deps:
	@missing=0; for f in $(APT_CHECK); do [ -e $$f ] || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  echo "installing system packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

## run: embedded broker + demo CSMS + launcher + $(CPS) charge points, live view (Ctrl+C stops all)
run: $(STAMP)
	$(BIN)/ocpp-simu up --cps $(CPS)

## test: the whole suite with real brokers, CSMS and processes
test: $(STAMP) system-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

## bench: the performance figures (writes docs/performance.md)
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
