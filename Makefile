# Two commands do everything: `make book` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medkit-installed
JOBS ?= 2

.PHONY: book test lab setup smoke lock clean sandbox

setup: $(STAMP) sandbox

# `medkit grade` runs each submission in bubblewrap (bwrap); install it where apt-get is usable as root.
sandbox:
	@command -v bwrap >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing bubblewrap (the sandbox of medkit grade)"; \
	  apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
	  apt-get install -y -q bubblewrap >/dev/null 2>&1; } || echo "warning: could not install bubblewrap"; \
	  else echo "note: bwrap is missing, so medkit grade will refuse to run without --no-sandbox and the sandbox \
	tests are skipped; install it with: sudo apt-get install bubblewrap"; fi; }

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "medkit needs Python 3.11 or newer; this is " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name medkit --display-name "Python (medkit)" >/dev/null
	$(PY) -m medkit lab --kernel-only
	@echo "warming librosa's numba cache (about 20 s the first time)"
	$(PY) -m medkit warmup
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m medkit run -j $(JOBS)
	$(PY) -m medkit site
	$(PY) -m medkit repro

test: $(STAMP) sandbox
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

smoke: $(STAMP)
	$(PY) -m medkit run --smoke -j $(JOBS)

# Reader copies of the chapters (MyST rendered, numbers filled in) in _build/lab/, then JupyterLab there
# (with --allow-root when run as root). Pass more options with LAB_ARGS="--port 8899 --no-browser".
lab: $(STAMP)
	$(PY) -m medkit lab -- $(LAB_ARGS)

lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/lock.py

clean:
	rm -rf _build .medkit_cache
