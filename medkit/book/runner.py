"""``python -m medkit run``: execute the chapters with papermill and collect their glued values.

Each notebook ``notebooks/NN_name.ipynb`` is executed once into
``_build/executed/NN_name.ipynb`` with its own directory as the working
directory, and ``_build/results.json`` records, per notebook stem::

    {"01_cross_entropy": {"duration_s": 4.2, "status": "ok", "values": {"ce_article_example": 2.302585}}}

``--smoke`` passes the small parameters a notebook lists in its metadata
(``"medkit": {"smoke": {...}}``); ``-p NAME VALUE`` overrides any parameter.

The terminal shows one line per notebook as it finishes
(``[3/7] 03_fusion ........ ok    31.8 s  38 values``). What the kernel
writes to its stderr and stdout (TensorFlow's C++ start-up lines, ZMQ's
"running over TCP without encryption", "KeyboardInterrupt caught in kernel")
goes to ``_build/logs/NN_name.log`` instead. When a notebook fails, the
terminal shows the failing cell, the error and the path of that log.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

from medkit import KERNEL_NAME, REPO_ROOT, language
from medkit.glue import GLUE_PREFIX

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "_build"
GLUE_MIME = GLUE_PREFIX + "text/plain"


@dataclass
class NotebookResult:
    stem: str
    status: str
    duration_s: float
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    log: str | None = None  # the kernel's stderr and stdout, and papermill's messages
    failed_cell: str | None = None  # source of the cell that raised (when one did)
    failed_line: int | None = None  # 1-based line of that cell the traceback points at
    raised_in: str | None = None  # the traceback's last frame when it is outside the cell (a medkit function)


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


@contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send this process's file descriptors 1 and 2 to ``log_path`` while the block runs.

    A kernel started inside the block inherits them, so its C++ and ZMQ start-up
    lines land in the log and not on the user's terminal. The descriptors are
    restored afterwards (the runner's workers execute several notebooks in turn).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log_path, "ab", buffering=0) as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"^Cell In\s*\[\d*\],\s*line (\d+)", re.M)
_FRAME = re.compile(r"^(?:Cell In\s*\[\d*\], line \d+|File .+)$", re.M)


def failing_cell(executed: nbformat.NotebookNode) -> tuple[str, int | None, str | None] | None:
    """(source, line, raised_in) of the cell papermill marked as having raised, or ``None``.

    ``line`` is the 1-based line of the cell that the traceback of its error
    output points at (``None`` when it names none, e.g. after a timeout);
    ``raised_in`` is the traceback's last frame (``File ...medkit/fusion.py:42, in f(x)``)
    when it lies outside the notebook, else ``None``.
    """
    for cell in executed.cells:
        if cell.cell_type == "code" and cell.get("metadata", {}).get("papermill", {}).get("exception"):
            line = raised_in = None
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
                    found = _CELL_LINE.findall(traceback)
                    line = int(found[0]) if found else None
                    frames = _FRAME.findall(traceback)
                    raised_in = frames[-1] if frames and frames[-1].startswith("File ") else None
            return cell.source, line, raised_in
    return None


def execute_notebook(notebook: Path, out_dir: Path, parameters: dict[str, Any], timeout: int,
                     log_dir: Path | None = None) -> NotebookResult:
    """Execute one notebook with papermill; never raises (failures become a result).

    The kernel's output and papermill's messages go to ``log_dir/NN_name.log``
    (default: ``logs/`` beside ``out_dir``).
    """
    import papermill

    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The book is executed in English whatever the caller's shell says; each figure is also drawn in
    # Chinese from the same figure object, for the Chinese edition (medkit.plots, medkit.language).
    os.environ[language.ENV_VAR] = "en"
    os.environ[language.FIGURE_LANGS_VAR] = "zh"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir = out_dir.parent / "logs" if log_dir is None else log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{notebook.stem}.log"
    log_path.write_text(f"# {notebook} executed by papermill (kernel {KERNEL_NAME}) at "
                        f"{datetime.now().isoformat(timespec='seconds')}, parameters {parameters!r}\n"
                        "# below: everything the kernel and papermill wrote to stdout and stderr\n")
    output_path = out_dir / notebook.name
    start = time.perf_counter()
    with output_to(log_path):
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
        # Not a silent fallback: anything else (the kernel died, a cell timed out, the notebook is
        # unreadable) is this notebook's failure, printed with the log's path and failing the run.
        except Exception as exc:  # noqa: BLE001
            status, error = "failed", f"{type(exc).__name__}: {exc}"
    duration = round(time.perf_counter() - start, 2)
    executed = nbformat.read(output_path, as_version=4) if output_path.exists() else None
    values = glued_values(executed) if executed is not None else {}
    cell = failing_cell(executed) if executed is not None and status != "ok" else None
    return NotebookResult(notebook.stem, status, duration, values, error, parameters, str(log_path),
                          *(cell or (None, None, None)))


def progress_line(done: int, total: int, r: NotebookResult, width: int = 28) -> str:
    """``[3/7] 03_fusion ................ ok       31.8 s  38 values``."""
    counter = f"[{done}/{total}]".rjust(2 * len(str(total)) + 3)
    dots = " " + "." * max(2, width - len(r.stem)) + " "
    status = "ok" if r.status == "ok" else r.status.upper()
    return f"{counter} {r.stem}{dots}{status:<7} {r.duration_s:7.1f} s  {len(r.values)} values"


def failure_report(r: NotebookResult, notebook_dir: Path | None = None, executed_dir: Path | None = None,
                   context: int = 4, max_lines: int = 8) -> str:
    """What the user needs to see of a failed notebook: the failing cell (short), the error, the log.

    The cell is shown around the line the traceback points at (``->``), at most
    ``max_lines`` lines; the executed notebook holds the full traceback.
    """
    where = (notebook_dir / f"{r.stem}.ipynb") if notebook_dir else f"{r.stem}.ipynb"
    lines = [f"      {where}: {r.error}"]
    if r.failed_cell is not None:
        source = r.failed_cell.splitlines() or [""]
        if r.failed_line and 1 <= r.failed_line <= len(source):
            first = max(0, r.failed_line - 1 - context)
            last = min(len(source), r.failed_line + 1)
        else:
            first, last = 0, min(len(source), max_lines)
        last = min(last, first + max_lines)
        lines.append("      the cell that failed:")
        if first > 0:
            lines.append(f"         {'':>4}   ... ({first} line(s) above)")
        for i in range(first, last):
            mark = "->" if r.failed_line == i + 1 else "  "
            lines.append(f"      {mark} {i + 1:>4} | {source[i]}")
        if last < len(source):
            lines.append(f"         {'':>4}   ... ({len(source) - last} line(s) below)")
    if r.raised_in:
        lines.append(f"      raised in {r.raised_in}")
    if executed_dir is not None and (executed_dir / f"{r.stem}.ipynb").exists():
        lines.append(f"      full traceback: {executed_dir / (r.stem + '.ipynb')}")
    if r.log:
        lines.append(f"      kernel log: {r.log}")
    return "\n".join(lines)


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
    """Execute ``notebooks`` (in parallel up to ``jobs``) and write ``build_dir/results.json``.

    Prints one line per notebook as it finishes, and under a failed one its
    failing cell, its error and the path of its log (``build_dir/logs/``).
    """
    out_dir = build_dir / "executed"
    log_dir = build_dir / "logs"
    read_results(build_dir / "results.json")  # a corrupt file stops the run before it starts, not after
    plans = []
    for nb in notebooks:
        params = smoke_parameters(nb) if smoke else {}
        params.update(overrides or {})
        plans.append((nb, params))
    jobs = max(1, min(jobs, len(plans)))
    print(f"executing {len(plans)} notebook(s), {jobs} at a time{' [smoke]' if smoke else ''}; "
          f"kernel output goes to {log_dir}/", flush=True)
    live = sys.stdout.isatty()
    start = time.perf_counter()
    results: list[NotebookResult] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending = {pool.submit(execute_notebook, nb, out_dir, params, timeout, log_dir): nb for nb, params in plans}
        while pending:
            finished, _ = wait(pending, timeout=1.0 if live else None, return_when=FIRST_COMPLETED)
            if live:
                print("\r\x1b[K", end="", flush=True)  # clear the status line
            for future in sorted(finished, key=lambda f: pending[f].name):
                nb = pending.pop(future)
                try:
                    r = future.result()
                except BrokenProcessPool as exc:  # the worker itself died (killed for memory, say)
                    r = NotebookResult(nb.stem, "failed", round(time.perf_counter() - start, 2),
                                       error=f"the worker process executing it died: {exc}",
                                       log=str(log_dir / f"{nb.stem}.log"))
                results.append(r)
                print(progress_line(len(results), len(plans), r), flush=True)
                if r.status != "ok":
                    print(failure_report(r, notebooks[0].parent, out_dir), file=sys.stderr, flush=True)
            if live and pending:
                running = min(jobs, len(pending))
                print(f"      ... {running} running, {len(pending) - running} waiting, "
                      f"{time.perf_counter() - start:.0f} s", end="", flush=True)
    write_results(results, build_dir / "results.json")
    order = {nb.stem: i for i, nb in enumerate(notebooks)}
    return sorted(results, key=lambda r: order[r.stem])


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
        print(f"FAILED: {args.notebook_dir / (r.stem + '.ipynb')}: {r.error} (kernel log: {r.log})", file=sys.stderr)
    total = sum(r.duration_s for r in results)
    print(f"{len(results) - len(failed)} of {len(results)} notebook(s) ok ({total:.1f} s of notebook time); "
          f"results: {args.build_dir / 'results.json'}, logs: {args.build_dir / 'logs'}/")
    return 1 if failed else 0
