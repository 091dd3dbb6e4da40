# Two commands do everything: `make book` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medkit-installed
JOBS ?= 2

.PHONY: book test lab setup system lint smoke lock clean

# The Python environment, and the system packages some checks use (bubblewrap, chromium, a Chinese font):
# installed with apt-get where this runs as root on Debian/Ubuntu, else it prints the command to run.
# Only `make setup` installs system packages; `make test` and `make book` never do.
setup: $(STAMP) system

system:
	@echo "system packages (tools/system_deps.py):"
	@$(PYTHON) tools/system_deps.py

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

# One line per notebook; the kernels' output goes to _build/logs/. The reproducibility check prints only the
# values that differ and its summary (the whole table is the site's execution report page).
book: $(STAMP)
	$(PY) -m medkit run -j $(JOBS)
	$(PY) -m medkit site
	$(PY) -m medkit repro --quiet

# The linter (ruff: pyproject.toml, notebooks/ruff.toml) runs inside the suite: tests/test_tools.py.
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check .

smoke: $(STAMP)
	$(PY) -m medkit run --smoke -j $(JOBS)

# Reader copies of the chapters (MyST rendered, numbers filled in) in _build/lab/, then JupyterLab there
# (with --allow-root when run as root). Pass more options with LAB_ARGS="--port 8899 --no-browser";
# LAB_LANG=zh opens the Chinese edition (_build/lab/zh).
lab: $(STAMP)
	$(PY) -m medkit lab --lang $(or $(LAB_LANG),en) -- $(LAB_ARGS)

lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/lock.py

clean:
	rm -rf _build .medkit_cache
