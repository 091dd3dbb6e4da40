"""``python -m medkit run``: execute the chapters with papermill and collect their glued values.

Each notebook ``notebooks/NN_name.ipynb`` is executed once into
``_build/executed/NN_name.ipynb`` with its own directory as the working
directory, and ``_build/results.json`` records, per notebook stem::

    {"01_cross_entropy": {"duration_s": 4.2, "status": "ok", "values": {"ce_article_example": 2.302585}}}

``--smoke`` passes the small parameters a notebook lists in its metadata
(``"medkit": {"smoke": {...}}``); ``-p NAME VALUE`` overrides any parameter.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from medkit import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "_build"
KERNEL_NAME = "medkit"
GLUE_MIME = "application/papermill.record/text/plain"


@dataclass
class NotebookResult:
    stem: str
    status: str
    duration_s: float
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def discover_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The chapters, in book order (``NN_name.ipynb``)."""
    return sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(notebooks: list[Path], patterns: list[str] | None) -> list[Path]:
    """Keep the notebooks whose stem contains one of ``patterns``; a pattern matching none is an error."""
    if not patterns:
        return notebooks
    chosen = []
    for pattern in patterns:
        matches = [nb for nb in notebooks if pattern in nb.stem]
        if not matches:
            listing = ", ".join(nb.stem for nb in notebooks) or "(none)"
            raise SystemExit(f"--only {pattern!r} matches no notebook. Notebooks: {listing}")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def smoke_parameters(notebook: Path) -> dict[str, Any]:
    nb = nbformat.read(notebook, as_version=4)
    return dict(nb.metadata.get("medkit", {}).get("smoke", {}))


def parse_value(text: str) -> Any:
    """Read ``-p`` values as Python literals (``3``, ``0.1``, ``['concat']``), else as strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def glued_values(executed: nbformat.NotebookNode) -> dict[str, Any]:
    """Every value the notebook glued with myst-nb, read back from its stored outputs."""
    values: dict[str, Any] = {}
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            text = output.get("data", {}).get(GLUE_MIME)
            if text is None:
                text = output.get("data", {}).get("text/plain", "")
            try:
                values[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                values[name] = text
    return values


def execute_notebook(notebook: Path, out_dir: Path, parameters: dict[str, Any], timeout: int) -> NotebookResult:
    """Execute one notebook with papermill; never raises (failures become a result)."""
    import papermill

    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out_dir.mkdir(parents=True, exist_ok=True)
    output_path = out_dir / notebook.name
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output_path),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(notebook.parent),
            progress_bar=False,
            execution_timeout=timeout,
        )
        status, error = "ok", None
    except papermill.PapermillExecutionError as exc:
        status = "failed"
        error = f"cell In [{exc.exec_count}] (cell index {exc.cell_index}): {exc.ename}: {exc.evalue}"
    except Exception as exc:  # kernel died, timeout, unreadable notebook...
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    duration = round(time.perf_counter() - start, 2)
    values = glued_values(nbformat.read(output_path, as_version=4)) if output_path.exists() else {}
    return NotebookResult(notebook.stem, status, duration, values, error, parameters)


def read_results(results_path: Path) -> dict[str, Any]:
    """The entries of an existing ``results.json`` (``{}`` when there is none yet).

    Raises
    ------
    ValueError
        The file is not valid JSON or not an object of notebook entries; the
        message names the file (delete it to start afresh, or restore it).
    """
    if not results_path.exists():
        return {}
    try:
        data = json.loads(results_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{results_path}: not valid JSON ({exc}); delete it to start afresh, "
                         "or restore it, then run again") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{results_path}: expected an object of notebook entries, got something else; "
                         "delete it to start afresh, or restore it, then run again")
    return data


def write_results(results: list[NotebookResult], results_path: Path) -> None:
    """Merge ``results`` into ``results.json`` (notebooks not run this time keep their entries).

    Raises
    ------
    ValueError
        An existing ``results.json`` is corrupt (see :func:`read_results`): it is
        not overwritten, since it holds the entries of notebooks not run this time.
    """
    data = read_results(results_path)
    for r in results:
        entry: dict[str, Any] = {"duration_s": r.duration_s, "status": r.status, "values": r.values,
                                 "parameters": r.parameters}
        if r.error:
            entry["error"] = r.error
        data[r.stem] = entry
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(dict(sorted(data.items())), indent=2, sort_keys=False) + "\n")


def run(
    notebooks: list[Path],
    *,
    build_dir: Path = BUILD_DIR,
    smoke: bool = False,
    overrides: dict[str, Any] | None = None,
    jobs: int = 1,
    timeout: int = 1800,
) -> list[NotebookResult]:
    """Execute ``notebooks`` (in parallel up to ``jobs``) and write ``build_dir/results.json``."""
    out_dir = build_dir / "executed"
    read_results(build_dir / "results.json")  # a corrupt file stops the run before it starts, not after
    plans = []
    for nb in notebooks:
        params = smoke_parameters(nb) if smoke else {}
        params.update(overrides or {})
        plans.append((nb, params))
    print(f"executing {len(plans)} notebook(s) with {jobs} worker(s){' [smoke]' if smoke else ''}", flush=True)
    results: list[NotebookResult] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(execute_notebook, nb, out_dir, params, timeout) for nb, params in plans]
        for future in futures:
            r = future.result()
            results.append(r)
            line = f"  {r.stem:<28} {r.status:<7} {r.duration_s:7.1f} s  {len(r.values)} glued value(s)"
            print(line + (f"\n    -> {r.error}" if r.error else ""), flush=True)
    write_results(results, build_dir / "results.json")
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="use each notebook's small smoke parameters")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="run only notebooks whose name contains PATTERN (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="notebooks executed in parallel")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="override a parameter, e.g. -p epochs 3 (value read as a Python literal)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="where executed/ and results.json go")
    parser.add_argument("--notebook-dir", type=Path, default=NOTEBOOK_DIR, help="where the NN_*.ipynb chapters are")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")


def main(args: argparse.Namespace) -> int:
    notebooks = select_notebooks(discover_notebooks(args.notebook_dir), args.only)
    if not notebooks:
        print(f"no notebooks found in {args.notebook_dir}", file=sys.stderr)
        return 1
    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        read_results(args.build_dir / "results.json")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    results = run(notebooks, build_dir=args.build_dir, smoke=args.smoke, overrides=overrides,
                  jobs=args.jobs, timeout=args.timeout)
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED: {args.notebook_dir / (r.stem + '.ipynb')}: {r.error}", file=sys.stderr)
    print(f"results: {args.build_dir / 'results.json'}")
    return 1 if failed else 0
