"""Maintenance tools: the notebook <-> script converter and the publication filter of the site."""
from __future__ import annotations

import importlib.util
import re
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


@pytest.mark.parametrize("path", discover_notebooks(), ids=lambda p: p.stem)
def test_to_py_then_to_nb_writes_the_notebook_back_byte_for_byte(nbpercent, path, tmp_path, capsys):
    notebook, script = tmp_path / path.name, tmp_path / "x.py"
    notebook.write_bytes(path.read_bytes())
    nbpercent.main(["to-py", str(notebook)])
    script.write_text(capsys.readouterr().out)
    nbpercent.main(["to-nb", str(script), str(notebook)])
    assert notebook.read_bytes() == path.read_bytes()


def _edit_cells(nbpercent, path, tmp_path, edit):
    """Write ``path``'s script, let ``edit`` change its list of cell chunks, write it back over a copy."""
    notebook = tmp_path / path.name
    notebook.write_bytes(path.read_bytes())
    old = nbformat.read(notebook, as_version=4)
    head, *chunks = re.split(r"(?m)^(?=# %%)", nbpercent.notebook_to_script(old))
    assert len(chunks) == len(old.cells)
    script = tmp_path / "x.py"
    script.write_text(head + "".join(edit(chunks)))
    nbpercent.main(["to-nb", str(script), str(notebook)])
    new = nbformat.read(notebook, as_version=4)
    ids = [c.id for c in new.cells]
    assert len(set(ids)) == len(ids), "two cells share an id"
    return old, new


CHAPTER = discover_notebooks()[0]
NEW_CELL = "# %% [markdown]\n# A new paragraph.\n\n"


def test_inserting_a_cell_keeps_every_other_cells_id(nbpercent, tmp_path):
    old, new = _edit_cells(nbpercent, CHAPTER, tmp_path, lambda c: c[:5] + [NEW_CELL] + c[5:])
    assert [c.id for c in new.cells[:5] + new.cells[6:]] == [c.id for c in old.cells]
    assert new.cells[5].source == "A new paragraph."
    assert new.cells[5].id not in {c.id for c in old.cells}


def test_editing_a_cells_text_keeps_its_id(nbpercent, tmp_path):
    k = next(i for i, c in enumerate(nbformat.read(CHAPTER, as_version=4).cells) if c.cell_type == "markdown")
    old, new = _edit_cells(nbpercent, CHAPTER, tmp_path,
                           lambda c: c[:k] + [c[k].rstrip("\n") + " One more sentence.\n\n"] + c[k + 1:])
    assert new.cells[k].source == old.cells[k].source + " One more sentence."
    assert [c.id for c in new.cells] == [c.id for c in old.cells]


def test_a_cell_inserted_next_to_an_edited_one_does_not_take_its_id(nbpercent, tmp_path):
    k = next(i for i, c in enumerate(nbformat.read(CHAPTER, as_version=4).cells) if c.cell_type == "markdown")
    old, new = _edit_cells(nbpercent, CHAPTER, tmp_path,
                           lambda c: c[:k] + [NEW_CELL, c[k].replace("\n# ", "\n# Edited: ", 1)] + c[k + 1:])
    assert new.cells[k + 1].source.startswith("Edited: ")
    assert [c.id for c in new.cells[:k] + new.cells[k + 1:]] == [c.id for c in old.cells]
    assert new.cells[k].id not in {c.id for c in old.cells}


def test_deleting_a_cell_keeps_the_others_ids_and_retires_its_id(nbpercent, tmp_path):
    old, new = _edit_cells(nbpercent, CHAPTER, tmp_path, lambda c: c[:7] + c[8:] + [NEW_CELL, NEW_CELL])
    assert [c.id for c in new.cells[:-2]] == [c.id for c in old.cells[:7] + old.cells[8:]]
    assert old.cells[7].id not in {c.id for c in new.cells}  # a new cell never inherits a deleted cell's id


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
