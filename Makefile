# ocpp-simu: `make run` (demo fleet) and `make test` (whole suite) work on a fresh
# Debian machine with Python 3.11; both create .venv and install what they need.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# ocpp-csms (a third-party CSMS from PyPI) for tests/interop, in its own virtualenv: its
# dependencies never change ocpp-simu's pins.
INTEROP_VENV  := .venv-interop
INTEROP_STAMP := $(INTEROP_VENV)/.installed
CPS    ?= 3
# pytest-xdist workers: the tests mostly wait on real processes and sockets, so more than the cores
TEST_WORKERS ?= 4

# What the tests, the README's examples and the supervisor need from the system, each with the
# Debian package that provides it: a program (looked up on SYSTEM_PATH) or a shared library
# (looked up in the ld.so cache). Each one is checked, so a machine with the broker but without
# its clients still gets mosquitto_pub / mosquitto_sub.
SYSTEM_DEPS := mosquitto=mosquitto mosquitto_pub=mosquitto-clients mosquitto_sub=mosquitto-clients \
               libxcb-cursor.so.0=libxcb-cursor0 libxkbcommon-x11.so.0=libxkbcommon-x11-0 \
               libEGL.so.1=libegl1 libGL.so.1=libgl1 libxcb-icccm.so.4=libxcb-icccm4 \
               libxcb-keysyms.so.1=libxcb-keysyms1 libfontconfig.so.1=libfontconfig1 \
               libdbus-1.so.3=libdbus-1-3 libglib-2.0.so.0=libglib2.0-0
SYSTEM_PATH ?= $(PATH):/usr/sbin:/sbin
APT_GET     ?= apt-get
SUDO        ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The shell that prints the missing packages (no sub-make: `make -n` must never install anything).
FIND_MISSING = libs=$$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null | awk '{print $$1}'); \
	for dep in $(SYSTEM_DEPS); do \
	  what=$${dep%%=*}; pkg=$${dep\#*=}; \
	  case $$what in \
	    *.so*) printf '%s\n' "$$libs" | grep -qxF "$$what" || echo $$pkg ;; \
	    *) (PATH="$(SYSTEM_PATH)"; command -v $$what) >/dev/null || echo $$pkg ;; \
	  esac; \
	done | sort -u

.PHONY: run test docs lint bench system-deps missing-system-deps venv interop-venv clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(INTEROP_STAMP): tests/interop/requirements.txt
	test -x $(INTEROP_VENV)/bin/python || $(PYTHON) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python -m pip install -q -r tests/interop/requirements.txt
	touch $(INTEROP_STAMP)

## interop-venv: ocpp-csms (pinned, tests/interop/requirements.txt) for the interop suite
interop-venv: $(INTEROP_STAMP)

## missing-system-deps: the Debian packages of SYSTEM_DEPS that are missing, one per line
missing-system-deps:
	@$(FIND_MISSING)

## system-deps: install (apt) the packages missing-system-deps lists, if any
system-deps:
	@missing=$$($(FIND_MISSING)); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) $(APT_GET) install -y -qq $$missing >/dev/null; \
	fi

## run: embedded broker + demo CSMS + launcher + $(CPS) charge points (OCPP 1.6, 1.6, 2.0.1 in turn), live view (Ctrl+C stops all)
run: $(STAMP)
	$(BIN)/ocpp-simu up --cps $(CPS)

## test: the documentation site (strict) and the whole suite with real brokers, CSMSs (the demo one
## and ocpp-csms from PyPI) and processes
test: $(STAMP) $(INTEROP_STAMP) system-deps docs
	QT_QPA_PLATFORM=offscreen OCPP_SIMU_INTEROP_PYTHON=$(abspath $(INTEROP_VENV))/bin/python \
	  $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup

## docs: build the MkDocs site strictly (a broken link or anchor fails) into a throw-away directory
docs: $(STAMP)
	@site=$$(mktemp -d); \
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$site"; status=$$?; \
	rm -rf "$$site"; [ $$status = 0 ] && echo "docs: mkdocs build --strict OK"; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

## bench: the performance figures (writes docs/performance.md)
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(INTEROP_VENV) .pytest_cache .ruff_cache
