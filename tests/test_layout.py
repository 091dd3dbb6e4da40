"""The package's layout: the taught modules at the top of ``medkit/``, the machinery in two subpackages.

A student who lists ``medkit/`` sees the chapters' code; what runs, publishes and grades the
book lives in ``medkit/book/`` (authors, CI) and ``medkit/classroom/`` (instructors). The rule
checked here: nothing outside those two imports the notebook and book tooling.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from setuptools import find_packages

import medkit
from medkit.book.cli import COMMANDS
from medkit.book.runner import discover_notebooks
from medkit.classroom.markup import HIDDEN_MODULE, role_of

REPO = Path(medkit.__file__).resolve().parents[1]
PACKAGE = REPO / "medkit"
TAUGHT = {"losses", "optim", "fusion", "metrics", "data", "synth", "models", "train", "plots", "exercises",
          "language",
          "glue", "deploy", "validation"}
MACHINERY = {"book", "classroom"}
#: What only the machinery may import: it runs, publishes or grades notebooks.
TOOLING = {"nbclient", "papermill", "jupyter_book", "nbformat", "sphinx", "myst_nb"}


def tooling_imports(source: str, filename: str = "<source>") -> list[str]:
    """``"line N: module"`` for every import (anywhere in the file, lazy ones too) of a :data:`TOOLING` package."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names if name.split(".")[0] in TOOLING]
    if "importlib" in source or "__import__" in source:
        # a dynamic import of a tooling package by its literal name
        for node in ast.walk(ast.parse(source, filename)):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.split(".")[0] in TOOLING):
                found.append(f"line {node.lineno}: {node.value!r} (dynamic)")
    return found


def test_the_rule_catches_every_kind_of_import():
    source = ("import numpy as np\n"
              "import nbformat\n"
              "from papermill import execute_notebook\n"
              "def later():\n"
              "    import sphinx.application\n"
              "    from nbclient.client import NotebookClient\n"
              "    return importlib.import_module('jupyter_book')\n"
              "from . import losses\n")
    assert tooling_imports(source) == ["line 2: nbformat", "line 3: papermill", "line 5: sphinx.application",
                                       "line 6: nbclient.client", "line 7: 'jupyter_book' (dynamic)"]
    assert tooling_imports("import numpy\nfrom medkit import data\nimport nbformatter_lookalike\n") == []


def test_only_book_and_classroom_import_the_notebook_and_book_tooling():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in MACHINERY:
            continue
        offenders += [f"medkit/{rel.as_posix()}, {hit}" for hit in tooling_imports(path.read_text(), str(path))]
    assert not offenders, ("the taught modules must not import the notebook/book tooling (move the code to "
                           "medkit/book/ or medkit/classroom/):\n  " + "\n  ".join(offenders))


def test_the_top_level_holds_the_taught_modules_and_the_two_subpackages():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert modules == TAUGHT, (f"unexpected top-level modules {sorted(modules - TAUGHT)}, "
                               f"missing {sorted(TAUGHT - modules)}")
    assert packages == MACHINERY
    stray = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
             if p.parent != PACKAGE and p.parent.name not in MACHINERY]
    assert not stray, f"modules outside medkit/, medkit/book/ and medkit/classroom/: {stray}"


def test_lazy_access_lists_exactly_the_taught_modules():
    assert set(medkit._SUBMODULES) == TAUGHT
    for name in TAUGHT:
        assert importlib.util.find_spec(f"medkit.{name}") is not None, name
    # synth is numpy-only, so it is cheap to import through the lazy attribute
    synth = subprocess.run([sys.executable, "-c", "import medkit; print(medkit.synth.__name__)"],
                           capture_output=True, text=True, cwd=REPO)
    assert synth.stdout.strip() == "medkit.synth", synth.stderr
    for name in ("runner", "grading", "student"):  # machinery is imported by its path, never lazily
        with pytest.raises(AttributeError, match=name):
            getattr(medkit, name)


def test_every_command_names_an_existing_module():
    for command, (module, _help) in COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, f"{command}: {module} not found"
        assert module.split(".")[1] in TAUGHT | MACHINERY


def test_pyproject_ships_every_subpackage():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(REPO), include=find["include"], exclude=find.get("exclude", ())))
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert shipped == on_disk == {"medkit", "medkit.book", "medkit.classroom"}
    assert config["project"]["scripts"]["medkit"] == "medkit.book.cli:main"


@pytest.mark.parametrize("notebook", discover_notebooks(), ids=lambda p: p.stem)
def test_hidden_test_cells_import_the_hidden_module_by_its_path(notebook):
    nb = nbformat.read(notebook, as_version=4)
    imports = {node.module for c in nb.cells if c.cell_type == "code" and role_of(c) == "hidden-test"
               for node in ast.walk(ast.parse(c.source)) if isinstance(node, ast.ImportFrom)}
    assert imports <= {HIDDEN_MODULE}, f"{notebook.name}: hidden-test cells import from {sorted(imports)}"
    assert importlib.util.find_spec(HIDDEN_MODULE) is not None
