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
- ``"medkit": {"source": "<stem>"}`` in the notebook metadata, which the grader
  uses to find the instructor notebook a submission came from.

The files ``medkit student`` writes are then made readable in JupyterLab by
:func:`medkit.book.reader.reader_notebook` (MyST markup rendered, glued numbers
filled in from the reference run, exercises numbered), and their path
parameters (``data_dir = "../data_samples"``) are rewritten to hold from the
folder they are written to (:func:`medkit.book.reader.relocate_paths`); with
``--copy-data`` the data folder is copied into it, so the folder can be handed
out as it is.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from medkit.book import reader
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


def student_notebook(nb: nbformat.NotebookNode, path: Path, out_dir: Path, copy_data: bool = False,
                     bib: reader.Bibliography | None = None, lang: str = "en",
                     ) -> tuple[nbformat.NotebookNode, list[tuple[str, str, str]]]:
    """The student version of the chapter at ``path`` as written into ``out_dir``: stubbed, readable, its paths moved.

    Returns the notebook and the path parameters that were rewritten, as
    ``(name, old, new)``. ``lang="zh"`` takes the prose from the Chinese catalogs
    (:mod:`medkit.book.i18n`) and names the ``medkit-zh`` kernel (``MEDKIT_LANG=zh``), so
    the self-checks print their verdicts in Chinese; the code, the exercise ids and so the
    grading (always on the ``medkit`` kernel) are the same.

    Raises
    ------
    MarkupError
        The notebook breaks the exercise markup.
    medkit.book.reader.ReaderError
        The text quotes a glued value that has no reference value, or cites an unknown work.
    """
    if lang == "zh":
        from medkit.book import i18n

        nb = i18n.translate_notebook(nb, i18n.load_chapter(path.stem))[0]
    elif lang != "en":
        raise ValueError(f"unknown language {lang!r}: student versions are written in 'en' or 'zh'")
    student = student_version(nb, path.stem, str(path))
    moved = reader.relocate_paths(student, path.parent, out_dir, copy_into=out_dir if copy_data else None)
    try:
        values = reader.reference_values(path.stem)
    except reader.ReaderError:
        values = {}  # a chapter without a reference run: fine as long as its text quotes no glued value
    origin = "the reference run (reproducibility/expected.json)"
    out = reader.reader_notebook(student, path.stem, values=values, origin=origin, bib=bib, student=True,
                                 doc_link=reader.doc_linker(path.parent, out_dir, reader.BOOK_DIR))
    if lang == "zh":  # JupyterLab runs it on medkit-zh: the self-checks print Chinese (the grader uses medkit)
        out.metadata["kernelspec"] = reader.kernelspec("zh")
    return out, moved


def write_student_versions(out_dir: Path, notebooks: list[Path], copy_data: bool = False, lang: str = "en",
                           ) -> list[tuple[Path, list[tuple[str, str, str]]]]:
    """Write the student version of each notebook into ``out_dir`` (same file names).

    Returns ``(path written, path parameters rewritten)`` per notebook.

    Raises
    ------
    FileNotFoundError
        A notebook does not exist.
    MarkupError
        A notebook breaks the markup; nothing is written for it.
    medkit.book.reader.ReaderError
        A notebook quotes a glued value with no reference value, or cites an unknown work.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    bib = reader.Bibliography.load()
    written = []
    for path in notebooks:
        if not path.is_file():
            raise FileNotFoundError(f"notebook {path} does not exist")
        nb = nbformat.read(path, as_version=4)
        student, moved = student_notebook(nb, path, out_dir, copy_data, bib, lang=lang)
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append((target, moved))
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, help="directory to write the student notebooks into")
    parser.add_argument("notebooks", type=Path, nargs="*",
                        help=f"instructor notebooks (default: every {NOTEBOOK_DIR}/*.ipynb)")
    parser.add_argument("--copy-data", action="store_true",
                        help="copy the data folders the chapters read (data_samples/) into OUTDIR, so OUTDIR "
                             "can be handed out as it is")
    parser.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="zh: the Chinese edition's prose (i18n/zh_CN); code, exercises and grading unchanged")


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
        written = write_student_versions(Path(args.outdir), notebooks, copy_data=args.copy_data, lang=args.lang)
    except (MarkupError, FileNotFoundError, reader.ReaderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path, moved in written:
        nb = nbformat.read(path, as_version=4)
        n_ex = len({exercise_of(c) for c in nb.cells if exercise_of(c)})
        print(f"{path}: {n_ex} exercise(s)")
        for name, old, new in moved:
            print(f"  {name} = {new!r} (was {old!r}: the path from {args.outdir})")
    if any(moved for _, moved in written) and not args.copy_data:
        print(f"note: the paths above hold as long as {args.outdir} stays where it is, beside this repository. "
              "To hand the folder out, run again with --copy-data (it copies data_samples/ into it), "
              "or copy data_samples/ next to the notebooks and set data_dir in their first cell.")
    return 0
