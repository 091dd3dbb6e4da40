from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


# --- Executed notebooks shared by the slow tests (runner smoke test, site checks, repro, determinism) ---
# One smoke run of every notebook, and one site built from it, per test session. Under pytest-xdist a
# session fixture runs once per worker, so every test using these is marked
# @pytest.mark.xdist_group("notebooks") and `make test` (--dist loadgroup) keeps them on one worker.


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``python -m medkit run --smoke -j 2`` into a temporary build dir: (build_dir, proc, results)."""
    import json
    import subprocess
    import sys
    from types import SimpleNamespace

    build_dir = tmp_path_factory.mktemp("smoke_build")
    proc = subprocess.run([sys.executable, "-m", "medkit", "run", "--smoke", "-j", "2", "--build-dir", str(build_dir)],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    results_path = build_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    return SimpleNamespace(build_dir=build_dir, proc=proc, results=results, results_path=results_path)


@pytest.fixture(scope="session")
def smoke_site(smoke_run):
    """The site built from the smoke run (``python -m medkit site --build-dir ...``): (html, proc, log)."""
    import subprocess
    import sys
    from types import SimpleNamespace

    proc = subprocess.run([sys.executable, "-m", "medkit", "site", "--build-dir", str(smoke_run.build_dir)],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    return SimpleNamespace(html=smoke_run.build_dir / "html", proc=proc, log=proc.stdout + proc.stderr,
                           staging=smoke_run.build_dir / "site_src")
