# Two commands for a fresh machine:  `make run`  and  `make test`.
# Each creates the virtual environment it needs (.venv, Python >= 3.12) on first use.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# First interpreter >= 3.12 on PATH (pyenv reads .python-version here, which selects 3.12.1).
BOOT   := $(shell for c in python3.13 python3.12 python3 python; do \
            if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
            then echo $$c; break; fi; done)
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: run test test-fast fuzz lint bench bench-suite app venv browser clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(BOOT)" ]; then echo "luxsim needs Python >= 3.12 on PATH (python3.12 or python3)." >&2; exit 2; fi
	@echo "Creating $(VENV) with $(BOOT) ($$($(BOOT) --version))"
	$(BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@echo "Compiling the model's kernels (numba, once: cached in sim/__pycache__; about 20 s)"
	$(PY) -W ignore -c "from sim.model import LuxuryMarketModel as M; \
	  [M('lexus_us_1989', buyers=n, seed=1, engine=e, **{'market.years': 2}).run() for e, n in (('vectorised', 1000), ('agents', 200))]"
	@touch $(STAMP)

# The browser test's Chromium: Debian's package (a test tool never downloads a browser), installed when missing
# and this user may (root, or sudo without a password; apt-get present), in about a minute. Otherwise it says why
# and the browser test skips, saying the same.
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "No /usr/bin/chromium and no apt-get to install it: the browser test will skip." >&2; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	  echo "No /usr/bin/chromium, and installing it needs root (apt-get install chromium): the browser test will skip." >&2; \
	  exit 0; fi; \
	echo "Installing Debian's Chromium for the browser test (apt-get install chromium, about a minute)"; \
	for attempt in 1 2 3; do \
	  if $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	     --no-install-recommends chromium >/dev/null; then break; fi; \
	  echo "apt-get failed (attempt $$attempt of 3)" >&2; [ $$attempt = 3 ] || sleep 10; \
	done; \
	[ -x /usr/bin/chromium ] || echo "Chromium could not be installed: the browser test will skip." >&2

## make run: set up, then run the flagship scenario (scenarios/lexus_us_1989.toml) and print its summary.
run: $(STAMP)
	$(PY) run_sim.py $(ARGS)

## make test: set up (the browser test's Chromium too, where it can: the browser target above), then lint (ruff:
## style, and a docstring on every public name) and run the whole test suite (slow-marked tests included, as CI does).
test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

## make fuzz: the fuzzer (tests/test_fuzz.py) at FUZZ_FACTOR (50) times its CI budget: the "fuzz" hypothesis profile
## (tests/conftest.py). Perturbed scenario, experiment and calibration files and --set overrides, through the
## loaders and the command line; about 20 minutes. A failing example is printed, and kept in .hypothesis/ to replay.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -p no:xdist tests/test_fuzz.py --hypothesis-show-statistics $(PYTEST_ARGS)

## make lint: ruff only.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

## make test-fast: the suite without the slow-marked tests.
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow and not browser" $(PYTEST_ARGS)

## make app: the browser app on http://127.0.0.1:8765 (HOST=... PORT=... to change).
app: $(STAMP)
	$(PY) run_sim.py app --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),8765)

## make bench: buyer-months per second and peak memory at 100k and 1M buyers.
bench: $(STAMP)
	$(PY) run_sim.py bench $(ARGS)

## make bench-suite: issue #15's ratios (engine rates, peers, whole-run and sweep efficiency) with their targets.
bench-suite: $(STAMP)
	$(PY) run_sim.py bench --suite $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
