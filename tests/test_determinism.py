"""Executing a notebook twice on the same machine gives identical glued values (wall-clock times aside).

Checked on chapter 1 and on a smoke run of the capstone. The first execution is the session's shared smoke
run (conftest.py); only the second one is paid for here, both notebooks in one runner call.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medkit.book import repro
from medkit.book.runner import discover_notebooks

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]

CHECKED = ["01_cross_entropy", "06_multimodal_model"]
PRESENT = {nb.stem for nb in discover_notebooks()}


@pytest.fixture(scope="module")
def second_run(tmp_path_factory):
    stems = [s for s in CHECKED if s in PRESENT]
    build_dir = tmp_path_factory.mktemp("second_run")
    args = [sys.executable, "-m", "medkit", "run", "--smoke", "-j", "2", "--build-dir", str(build_dir)]
    for stem in stems:
        args += ["--only", stem]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((build_dir / "results.json").read_text())


@pytest.mark.parametrize("stem", CHECKED)
def test_two_executions_glue_identical_values(stem, smoke_run, second_run):
    if stem not in PRESENT:
        pytest.skip(f"notebooks/{stem}.ipynb does not exist yet")
    first = smoke_run.results[stem]
    second = second_run[stem]
    assert first["status"] == second["status"] == "ok", (first.get("error"), second.get("error"))
    assert first["parameters"] == second["parameters"]
    assert first["values"], f"{stem} glued nothing"
    differ = {k: (first["values"][k], second["values"].get(k)) for k in first["values"]
              if second["values"].get(k) != first["values"][k] and not repro.is_timing(k)}
    assert not differ, f"{stem}: values differ between two runs on this machine: {differ}"
    assert set(second["values"]) == set(first["values"])
