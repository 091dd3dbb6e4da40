"""Grading chapter 1 as an instructor would: time per submission, with and without the sandbox.

Writes the student version of ``notebooks/01_cross_entropy.ipynb`` (``medkit student``),
makes four submissions from it (correct, untouched, the patcher and the reader of
``tests/fixtures/grading/make_fixtures.py``), grades them with ``medkit grade`` in the
bwrap sandbox (when it works here) and with ``--no-sandbox``, and prints the scores,
the seconds spent on the instructor's reference values (once per run) and the
seconds per submission. Expected: 3/3, 0/3, 0/3, 0/3 in the sandbox; the reader
copies the solutions without it.

Run: ``.venv/bin/python benchmarks/bench_grading.py [--jobs 1] [--repeat 2]``
(a script that prints figures, not a timed test).
"""
from __future__ import annotations

import argparse
import copy
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "grading"))

from make_fixtures import PATCHER, reader_code  # noqa: E402

from medkit.classroom import grade as grading  # noqa: E402
from medkit.classroom.sandbox import SandboxUnavailable  # noqa: E402
from medkit.classroom.student import student_version  # noqa: E402

STEM = "01_cross_entropy"


def submissions(out: Path) -> list[Path]:
    """Four chapter-1 submissions in ``out``: correct, untouched, patcher, reader."""
    source = nbformat.read(REPO / "notebooks" / f"{STEM}.ipynb", as_version=4)
    student = student_version(source, STEM)
    solutions = {grading.exercise_of(c): c.source for c in source.cells
                 if grading.role_of(c) == "solution"}

    def solution_index(nb: nbformat.NotebookNode, ex: str) -> int:
        return next(i for i, c in enumerate(nb.cells)
                    if grading.exercise_of(c) == ex and grading.role_of(c) == "solution")

    subs = {}
    correct = copy.deepcopy(student)
    for ex, code in solutions.items():
        correct.cells[solution_index(correct, ex)].source = code
    subs["correct"] = correct
    subs["untouched"] = copy.deepcopy(student)
    patcher = copy.deepcopy(student)
    patcher.cells[solution_index(patcher, "ce-ex1")].source = PATCHER
    patcher.cells[solution_index(patcher, "ce-ex2")].source = "def binary_ce(y_true, p):\n    return 0.0"
    subs["patcher"] = patcher
    reader = copy.deepcopy(student)
    reader.cells[solution_index(reader, "ce-ex1")].source = reader_code(STEM)
    reader.cells[solution_index(reader, "ce-ex2")].source = "# answered in the cell of ce-ex1"
    subs["reader"] = reader
    paths = []
    for name, nb in subs.items():
        path = out / f"{name}_{STEM}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def run(paths: list[Path], out: Path, *, sandbox: bool, jobs: int) -> tuple[dict[str, str], list[float], float]:
    """Grade ``paths``; return (student -> "total/max"), seconds per submission, seconds of reference values."""
    lines: list[str] = []
    results = grading.grade(paths, REPO / "notebooks", out, sandbox=sandbox, jobs=jobs, smoke=True,
                            log=lines.append, warn=lambda _: None)
    ref = next(float(line.rsplit(" in ", 1)[1].split()[0]) for line in lines if line.startswith("expected values"))
    with out.open(newline="") as fh:
        scores = {row["student"]: f"{row['total']}/{row['max']}" for row in csv.DictReader(fh)}
    return scores, [r.seconds for r in results], ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="grade the four submissions this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp_path = Path(tmp)
        subs_dir = tmp_path / "subs"
        subs_dir.mkdir()
        paths = submissions(subs_dir) * args.repeat
        for sandbox in (True, False):
            label = "bwrap sandbox" if sandbox else "--no-sandbox"
            start = time.monotonic()
            try:
                scores, seconds, ref = run(paths, tmp_path / f"grades-{sandbox}.csv", sandbox=sandbox,
                                           jobs=args.jobs)
            except SandboxUnavailable as exc:
                print(f"{label}: not available here ({exc})")
                continue
            wall = time.monotonic() - start
            print(f"{label}: scores {scores}")
            print(f"  reference values (once per run): {ref:.2f} s")
            print(f"  per submission: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
                  f"({len(seconds)} submissions, -j {args.jobs})")
            print(f"  whole run: {wall:.2f} s = {wall / len(seconds):.2f} s per submission including the "
                  f"reference values and start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
