"""``python -m medkit site``: build the Jupyter Book from the executed notebooks.

The book is never executed by Jupyter Book itself: ``python -m medkit run``
executes each notebook exactly once into ``_build/executed/``. This command
stages a copy of the book's sources in ``_build/site_src/`` that mirrors the
repository (``book/``, ``notebooks/``, ``_config.yml``, ``_toc.yml``), puts the
executed notebooks in place of the unexecuted ones, and runs
``jupyter-book build`` with warnings as errors. The HTML lands in
``_build/html``.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from medkit import REPO_ROOT
from medkit.book import repro
from medkit.book.runner import BUILD_DIR, discover_notebooks

STAGED_FILES = ("_config.yml", "_toc.yml")
STAGED_DIRS = ("book",)


SOLUTION_MARKER = re.compile(r"^\s*# (BEGIN|END) SOLUTION\s*$")
SOLUTION_SUFFIX = re.compile(r"\s*# SOLUTION\s*$")


def strip_for_publication(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Prepare an executed notebook for the site.

    Hidden-test cells go (the page's download button must not hand them to
    students), and the grading markers inside solutions go too: on the page a
    solution should read as plain code.
    """
    nb.cells = [c for c in nb.cells if "hidden-test" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.get("metadata", {}).get("tags", []):
            lines = [SOLUTION_SUFFIX.sub("", line) for line in cell.source.splitlines()
                     if not SOLUTION_MARKER.match(line)]
            cell.source = "\n".join(lines)
    return nb


def stage(build_dir: Path = BUILD_DIR) -> Path:
    """Assemble ``build_dir/site_src`` from the sources and the executed notebooks."""
    results_path = build_dir / "results.json"
    executed_dir = build_dir / "executed"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    problems = []
    for notebook in discover_notebooks():
        executed = executed_dir / notebook.name
        entry = results.get(notebook.stem)
        if not executed.exists() or entry is None:
            problems.append(f"{notebook.stem}: not executed (run `python -m medkit run` first)")
        elif entry.get("status") != "ok":
            problems.append(f"{notebook.stem}: execution {entry.get('status')}: {entry.get('error', '')}")
        elif executed.stat().st_mtime < notebook.stat().st_mtime:
            problems.append(f"{notebook.stem}: notebooks/{notebook.name} changed after it was executed; re-run it")
    if problems:
        raise SystemExit("cannot build the site:\n  " + "\n  ".join(problems))

    staging = build_dir / "site_src"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in STAGED_FILES:
        shutil.copy2(REPO_ROOT / name, staging / name)
    for name in STAGED_DIRS:
        shutil.copytree(REPO_ROOT / name, staging / name)
    (staging / "notebooks").mkdir()
    for notebook in discover_notebooks():
        nb = strip_for_publication(nbformat.read(executed_dir / notebook.name, as_version=4))
        nbformat.write(nb, staging / "notebooks" / notebook.name)
    # The execution report page is in _toc.yml, so the site cannot be built without it: no fallback.
    repro.write_report_page(staging, results)
    return staging


def build(build_dir: Path = BUILD_DIR, strict: bool = True) -> Path:
    """Stage and build; returns the HTML directory (``build_dir/html``)."""
    start = time.perf_counter()
    staging = stage(build_dir)
    out = build_dir / "site_out"
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(staging),
           "--path-output", str(out), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    html = build_dir / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.move(str(out / "_build" / "html"), str(html))
    print(f"site built in {time.perf_counter() - start:.1f} s: open {html / 'index.html'}")
    return html


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")


def main(args: argparse.Namespace) -> int:
    build(args.build_dir, strict=not args.no_strict)
    return 0
