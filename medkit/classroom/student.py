"""``python -m medkit student OUTDIR [NOTEBOOK...]``: write the student versions of the chapters.

For each instructor notebook (default: every ``notebooks/*.ipynb``) the
student version has

- each solution replaced by a stub: a ``# BEGIN SOLUTION`` ... ``# END SOLUTION``
  block becomes ``raise NotImplementedError("<id>")`` and ``x = value  # SOLUTION``
  becomes ``x = ...``;
- the hidden-test cells removed (the grader re-inserts them by exercise id);
- every output and execution count cleared;
- the self-checks kept (they print "not done yet" for a stub, so the notebook
  still runs top to bottom);
- the MyST exercise directives turned into plain Markdown (Jupyter does not
  render ``:::{exercise}``);
- ``"medkit": {"source": "<stem>"}`` in the notebook metadata, which the grader
  uses to find the instructor notebook a submission came from.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from medkit.classroom.markup import (
    HIDDEN_TEST_TAG,
    SOLUTION_TAG,
    MarkupError,
    collect_exercises,
    exercise_of,
    has_marker,
    role_of,
    stub_solution,
)

NOTEBOOK_DIR = Path("notebooks")

_EXERCISE_OPEN = re.compile(r"^:::\{exercise\}[ \t]*$")
_LABEL = re.compile(r"^:label:[ \t]*(?P<label>\S+)[ \t]*$")
_SOLUTION_START = re.compile(r"^:::\{solution-start\}[ \t]*(?P<label>\S+)")
_SOLUTION_END = re.compile(r"^:::\{solution-end\}")


def _plain_markdown(source: str) -> str | None:
    """Markdown a student reads in Jupyter for an exercise-directive cell; ``None`` drops the cell.

    Cells that are not exercise directives come back unchanged.
    """
    lines = source.strip().splitlines()
    if not lines:
        return source
    if _SOLUTION_END.match(lines[0]):
        return None
    start = _SOLUTION_START.match(lines[0])
    if start:
        return f"**Your answer to {start.group('label')}** (replace the stub in the next cell):"
    if _EXERCISE_OPEN.match(lines[0]) and lines[-1].strip() == ":::":
        body = lines[1:-1]
        label = ""
        if body and _LABEL.match(body[0]):
            label = " " + _LABEL.match(body[0]).group("label")
            body = body[1:]
        body = [line for line in body if not line.startswith(":class:")]
        return "\n".join([f"**Exercise{label}.**", *body]).rstrip()
    return source


def student_version(nb: nbformat.NotebookNode, source_stem: str, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of an instructor notebook (the input is not modified).

    Parameters
    ----------
    nb
        The instructor notebook.
    source_stem
        The instructor notebook's file name without ``.ipynb``, recorded in the
        metadata so the grader can match submissions to it.
    name
        How to call the notebook in error messages.

    Raises
    ------
    MarkupError
        The notebook breaks the exercise markup (see :mod:`medkit.classroom.markup`).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     "x = 1  # SOLUTION", metadata={"tags": ["solution"], "medkit": {"exercise": "t-ex1"}})])
    >>> student_version(nb, "00_t").cells[0].source
    'x = ...'
    """
    collect_exercises(nb, name)  # validates ids and points before anything is written
    out = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(out.cells):
        role = role_of(cell)
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            if role == HIDDEN_TEST_TAG:
                continue
            if role == SOLUTION_TAG:
                cell.source = stub_solution(cell.source, exercise_of(cell) or "", where)
            elif has_marker(cell.source):
                raise MarkupError(f"{where}: has a solution marker but is not tagged 'solution' (the answer would "
                                  "be handed out)")
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            text = _plain_markdown(cell.source)
            if text is None:
                continue
            cell.source = text
        # Execution records (papermill, nbclient timing) say nothing useful to a student.
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("papermill", None)
    medkit_meta = dict(out.metadata.get("medkit", {}))
    medkit_meta.pop("smoke", None)  # CI settings, not for students
    medkit_meta["source"] = source_stem
    out.metadata["medkit"] = medkit_meta
    return out


def write_student_versions(out_dir: Path, notebooks: list[Path]) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` (same file names); return the paths.

    Raises
    ------
    FileNotFoundError
        A notebook does not exist.
    MarkupError
        A notebook breaks the markup; nothing is written for it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} does not exist")
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb, path.stem, str(path))
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, help="directory to write the student notebooks into")
    parser.add_argument("notebooks", type=Path, nargs="*",
                        help=f"instructor notebooks (default: every {NOTEBOOK_DIR}/*.ipynb)")


def main(args: argparse.Namespace) -> int:
    notebooks = list(args.notebooks) or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if not notebooks:
        print(f"no notebooks given and none found in {NOTEBOOK_DIR}/", file=sys.stderr)
        return 2
    for path in notebooks:
        if path.resolve().parent == Path(args.outdir).resolve():
            print(f"refusing to overwrite the instructor notebook {path}: choose another OUTDIR", file=sys.stderr)
            return 2
    try:
        written = write_student_versions(Path(args.outdir), notebooks)
    except (MarkupError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        nb = nbformat.read(path, as_version=4)
        n_ex = len({exercise_of(c) for c in nb.cells if exercise_of(c)})
        print(f"{path}: {n_ex} exercise(s)")
    return 0
