"""Maintenance tools: the notebook <-> script converter and the publication filter of the site."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from medkit.book.runner import discover_notebooks
from medkit.book.site import strip_for_publication


@pytest.fixture(scope="module")
def nbpercent(repo_root):
    spec = importlib.util.spec_from_file_location("nbpercent", repo_root / "tools" / "nbpercent.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["nbpercent"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", discover_notebooks(), ids=lambda p: p.stem)
def test_notebooks_survive_a_round_trip_through_scripts(nbpercent, path):
    nb = nbformat.read(path, as_version=4)
    again = nbpercent.script_to_notebook(nbpercent.notebook_to_script(nb))
    assert [c.cell_type for c in again.cells] == [c.cell_type for c in nb.cells]
    assert [c.source for c in again.cells] == [c.source for c in nb.cells]
    assert [dict(c.metadata) for c in again.cells] == [dict(c.metadata) for c in nb.cells]


def test_script_cell_markers_carry_tags_and_metadata(nbpercent):
    nb = nbpercent.script_to_notebook(
        '# notebook-metadata: {"medkit": {"smoke": {"n": 1}}}\n'
        "# %% [markdown]\n# # Title\n#\n# text\n"
        '# %% tags=["parameters"]\nn = 10\n'
        '# %% tags=["hidden-test", "remove-cell"] medkit={"exercise": "x-ex1", "points": 2}\nassert n\n'
    )
    assert nb.metadata["medkit"] == {"smoke": {"n": 1}}
    assert nb.metadata["kernelspec"]["name"] == "medkit"
    assert nb.cells[0].source == "# Title\n\ntext"
    assert nb.cells[1].metadata["tags"] == ["parameters"]
    assert nb.cells[2].metadata == {"tags": ["hidden-test", "remove-cell"],
                                    "medkit": {"exercise": "x-ex1", "points": 2}}


def test_publication_drops_hidden_tests_and_grading_markers():
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell(
        "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\nanswer = 3  # SOLUTION")
    solution.metadata["tags"] = ["solution"]
    hidden = nbformat.v4.new_code_cell("assert f(1) == 2")
    hidden.metadata["tags"] = ["hidden-test", "remove-cell"]
    plain = nbformat.v4.new_code_cell("# SOLUTION is a word here too\nx = 1")
    nb.cells = [solution, hidden, plain]
    out = strip_for_publication(nb)
    assert len(out.cells) == 2
    assert out.cells[0].source == "def f(x):\n    return 2 * x\nanswer = 3"
    assert out.cells[1].source == "# SOLUTION is a word here too\nx = 1"  # only solution cells are touched


def test_the_linter_passes(repo_root):
    """``ruff check .`` is clean (rules in pyproject.toml; notebooks/ruff.toml holds notebooks to 88 columns)."""
    ruff = Path(sys.executable).parent / "ruff"
    assert ruff.exists(), f"{ruff} is missing: ruff is in requirements.lock, so run `make setup`"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=repo_root, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("`ruff check .` found problems (fix them, some with `ruff check --fix`):\n"
                    + proc.stdout + proc.stderr, pytrace=False)


def test_the_tests_install_no_system_package(repo_root):
    """`make test` installs nothing: no apt-get in its recipe, and render_pages refuses to install inside pytest."""
    makefile = (repo_root / "Makefile").read_text()
    recipe = makefile.split("\ntest:")[1].split("\n\n")[0]
    assert "apt-get" not in recipe and "system" not in recipe.splitlines()[0], recipe
    spec = importlib.util.spec_from_file_location("render_pages", repo_root / "tools" / "render_pages.py")
    render_pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_pages)
    browser, how = render_pages.install_browser()
    assert browser is None and "make setup" in how
