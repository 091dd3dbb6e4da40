"""Committed notebooks: no outputs, one parameters cell first, the project's kernel, the chapter skeleton."""
from __future__ import annotations

import ast

import nbformat
import pytest

from medkit.book.runner import discover_notebooks

NOTEBOOKS = discover_notebooks()


def test_the_chapters_exist():
    assert any(nb.stem == "01_cross_entropy" for nb in NOTEBOOKS)


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_no_outputs_or_execution_counts(notebook):
    path, nb = notebook
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"


def test_exactly_one_parameters_cell_and_it_is_the_first_code_cell(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], f"{path.name}: the parameters tag is on code cells {tagged}; it must be on the first only"


def test_parameters_cell_holds_only_assignments(notebook):
    path, nb = notebook
    first = next(c for c in nb.cells if c.cell_type == "code")
    tree = ast.parse(first.source)
    assert all(isinstance(node, (ast.Assign, ast.AnnAssign)) for node in tree.body), (
        f"{path.name}: the parameters cell must hold plain assignments only")


def test_smoke_parameters_are_real_parameters(notebook):
    path, nb = notebook
    first = next(c for c in nb.cells if c.cell_type == "code")
    names = {t.id for node in ast.parse(first.source).body
             for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)}
    smoke = nb.metadata.get("medkit", {}).get("smoke", {})
    unknown = set(smoke) - names
    assert not unknown, f"{path.name}: smoke parameters {sorted(unknown)} are not in the parameters cell"


def test_kernel_is_the_projects(notebook):
    path, nb = notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "medkit", f"{path.name}: kernelspec must be 'medkit'"


def test_chapter_skeleton(notebook):
    path, nb = notebook
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and markdown[0].startswith("# "), f"{path.name}: must open with a '# Title' markdown cell"
    assert "What you will learn" in markdown[0], f"{path.name}: the title cell must say what you will learn"
    headings = [line for text in markdown for line in text.splitlines() if line.startswith("## ")]
    assert "## Summary" in headings and "## Exercises" in headings, (
        f"{path.name}: needs '## Summary' and '## Exercises'")
    exercises = sum(text.count(":::{exercise}") for text in markdown)
    assert exercises >= 2, f"{path.name}: has {exercises} exercise(s); every chapter needs at least two"
