"""``python -m medkit grade SUBMISSION... --out grades.csv``: grade student notebooks.

Each submission is run on its own: a fresh kernel (``medkit`` unless
``--kernel`` says otherwise) whose working directory is a new temporary
directory holding a copy of the source directory's data files (never its
notebooks), removed afterwards. Its code cells run in the order the student
left them; a cell that raises is recorded and the run goes on; a cell that runs
longer than ``--timeout`` seconds is interrupted, and the whole submission stops
after ``--total-timeout`` seconds. The hidden tests of each exercise, taken from
the *instructor* notebook, are re-inserted after the student's last cell of that
exercise (at the end if the student deleted them) and score the exercise: a
hidden-test cell that runs without an exception earns its points.

Which instructor notebook? The submission's metadata ``"medkit": {"source":
STEM}`` (written by ``medkit student``) names it; failing that, the file name
does: ``STUDENT_STEM.ipynb`` or ``STUDENT/STEM.ipynb``, where ``STEM`` is the
name of a notebook in ``--source-dir`` without ``.ipynb``.

Who is the student? The part of the file name before ``_STEM``
(``alice_01_cross_entropy.ipynb`` -> ``alice``); when the file is named exactly
``STEM.ipynb``, the name of its directory (``alice/01_cross_entropy.ipynb``).

Nothing a submission does stops the run: a file that is not a notebook, or a
kernel that dies, scores zero with the reason in ``grades.csv`` and the
student's feedback file. Student code runs as the grading user without a
sandbox: grade on a machine (or container) you are ready to lose.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from medkit.exmarkup import (
    HIDDEN_TEST_TAG,
    SOLUTION_TAG,
    Exercise,
    MarkupError,
    cell_tags,
    collect_exercises,
    defined_names,
    exercise_of,
    role_of,
)

KERNEL = "medkit"
CELL_TIMEOUT = 60.0
TOTAL_TIMEOUT = 600.0
PROBE_TIMEOUT = 5.0  # how long a kernel may take to answer after an interrupt before it counts as stuck
TIMEOUT_ENAME = "CellTimeout"
_QUIET = logging.getLogger("medkit.grading.nbclient")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


# ---------------------------------------------------------------- results
@dataclass
class ExerciseScore:
    """The score of one exercise in one submission; ``message`` says why (shown to the student)."""

    exercise: str
    points: float
    max_points: float
    message: str


@dataclass
class SubmissionResult:
    """What grading one file produced."""

    path: Path
    student: str
    source: str | None
    status: str = "ok"  # "ok", or a short reason the submission could not be (fully) graded
    scores: dict[str, ExerciseScore] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return float(sum(s.points for s in self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(s.max_points for s in self.scores.values()))


@dataclass
class Source:
    """An instructor notebook and its exercises (only those with hidden tests are graded)."""

    stem: str
    path: Path
    nb: nbformat.NotebookNode
    exercises: dict[str, Exercise]
    data: list[Path] = field(default_factory=list)  # paths beside the source dir its parameters name

    @property
    def graded(self) -> list[Exercise]:
        return [ex for ex in self.exercises.values() if ex.hidden_tests]


def fmt_points(value: float) -> str:
    """``2.0`` -> ``"2"``, ``1.5`` -> ``"1.5"`` (for the CSV and the feedback)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ---------------------------------------------------------------- instructor notebooks
def load_sources(source_dir: Path) -> dict[str, Source]:
    """Read every instructor notebook in ``source_dir`` (keyed by file stem).

    Raises
    ------
    FileNotFoundError
        ``source_dir`` does not exist or holds no notebook.
    MarkupError
        An instructor notebook breaks the exercise markup.
    """
    if not source_dir.is_dir():
        raise FileNotFoundError(f"--source-dir {source_dir} is not a directory")
    sources = {}
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        sources[path.stem] = Source(path.stem, path, nb, collect_exercises(nb, str(path)), data_paths(nb, source_dir))
    if not sources:
        raise FileNotFoundError(f"--source-dir {source_dir} holds no .ipynb notebook")
    return sources


def data_paths(nb: nbformat.NotebookNode, source_dir: Path) -> list[Path]:
    """Paths outside ``source_dir`` that the parameters cell names (``data_dir = "../data_samples"``).

    Returned relative to ``source_dir``'s parent, and only when they exist there: the grader copies
    them beside each submission's working directory so relative paths work as in ``medkit run``.
    """
    import ast

    base = source_dir.resolve().parent
    found: list[Path] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" not in cell_tags(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(".."):
                target = (source_dir / node.value).resolve()
                if target.exists() and target.is_relative_to(base) and not target.is_relative_to(source_dir.resolve()):
                    rel = target.relative_to(base)
                    if rel not in found:
                        found.append(rel)
    return found


def identify(path: Path, metadata_source: str | None, sources: dict[str, Source]) -> tuple[str, str | None]:
    """``(student, source stem or None)`` for a submission file (the rule is in the module docstring).

    Examples
    --------
    >>> srcs = {"01_cross_entropy": None}
    >>> identify(Path("subs/alice_01_cross_entropy.ipynb"), None, srcs)
    ('alice', '01_cross_entropy')
    >>> identify(Path("subs/bob/01_cross_entropy.ipynb"), None, srcs)
    ('bob', '01_cross_entropy')
    >>> identify(Path("subs/carol.ipynb"), "01_cross_entropy", srcs)
    ('carol', '01_cross_entropy')
    """
    name = path.stem
    by_name = None
    for stem in sorted(sources, key=len, reverse=True):  # longest first: "01_a_b" before "a_b"
        if name == stem or name.endswith("_" + stem):
            by_name = stem
            break
    source = metadata_source if metadata_source in sources else by_name
    if by_name is not None and name == by_name:
        student = path.parent.name or name
    elif by_name is not None:
        student = name[: -len(by_name) - 1]
    else:
        student = name
    return student, source


# ---------------------------------------------------------------- reading a submission
def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook in ``path``, or ``(None, reason)`` when it is not one (never raises)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the file ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text (a binary file?)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "not a notebook: the JSON has no list of cells"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any failure here means "unreadable notebook"
        return None, f"not a notebook: nbformat cannot read it ({type(exc).__name__}: {exc})"
    cells = []
    for cell in nb.cells:  # a hand-edited file can hold anything: keep only well-formed cells
        if isinstance(cell, dict) and isinstance(cell.get("source", ""), str) and "cell_type" in cell:
            cell.setdefault("metadata", nbformat.NotebookNode())
            cells.append(cell)
    nb.cells = cells
    return nb, ""


def audit(nb: nbformat.NotebookNode, source: Source) -> list[tuple[str, str]]:
    """How a submission's exercise cells differ from the instructor notebook: ``(short, long)`` notes.

    The notes explain scores (a deleted or retyped cell, a renamed function,
    reordered exercises); they do not change them: the hidden tests decide.
    The short form goes to the CSV's status column, the long one to the feedback.
    """
    notes = []
    code_names = {n for c in nb.cells if c.cell_type == "code" for n in defined_names(c.source)}
    for ex in source.exercises.values():
        cells = [c for c in nb.cells if exercise_of(c) == ex.id and SOLUTION_TAG in cell_tags(c)]
        if not cells:
            notes.append((f"{ex.id} solution cell missing",
                          f"{ex.id}: the solution cell is missing (deleted?); the hidden tests ran at the end."))
            continue
        retyped = [c for c in cells if c.cell_type != "code"]
        if retyped:
            notes.append((f"{ex.id} solution cell is {retyped[0].cell_type}",
                          f"{ex.id}: the solution cell was changed into a {retyped[0].cell_type} cell, so it did not run."))
            continue
        mine = {n for c in cells for n in defined_names(c.source)}
        lost = [n for n in ex.names if n not in code_names]
        if lost:
            extra = sorted(mine - set(ex.names))
            instead = f"; your cell defines {', '.join(f'`{n}`' for n in extra)} instead (renamed?)" if extra else ""
            notes.append((f"{ex.id} {', '.join(lost)} not defined",
                          f"{ex.id}: the exercise asks for {', '.join(f'`{n}`' for n in lost)}, which your notebook "
                          f"never defines{instead}."))
    order = list(dict.fromkeys(exercise_of(c) for c in nb.cells
                               if exercise_of(c) in source.exercises and SOLUTION_TAG in cell_tags(c)))
    expected = [ex_id for ex_id in source.exercises if ex_id in order]
    if order != expected:
        notes.append(("exercises reordered", f"exercise cells are in another order than in the original "
                                             f"({', '.join(order)}); they were run in your order."))
    return notes


# ---------------------------------------------------------------- running
def _plan(nb: nbformat.NotebookNode, source: Source, smoke: bool) -> list[tuple[str, object, nbformat.NotebookNode]]:
    """The cells to run: ``("student", index, cell)`` and ``("test", (exercise, HiddenTest), cell)``."""
    plan: list[tuple[str, object, nbformat.NotebookNode]] = []
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and role_of(c) != HIDDEN_TEST_TAG]
    last_cell_of: dict[str, int] = {}
    for pos, (_, cell) in enumerate(code):
        if exercise_of(cell) in source.exercises:
            last_cell_of[exercise_of(cell)] = pos
    smoke_values = source.nb.metadata.get("medkit", {}).get("smoke", {}) if smoke else {}
    tests_after: dict[int, list[Exercise]] = {}
    for ex in source.graded:
        tests_after.setdefault(last_cell_of.get(ex.id, len(code) - 1), []).append(ex)
    if not code:
        tests_after = {-1: source.graded}
    for ex in tests_after.get(-1, []):
        plan.extend(("test", (ex.id, t), nbformat.v4.new_code_cell(t.source)) for t in ex.hidden_tests)
    for pos, (index, cell) in enumerate(code):
        plan.append(("student", index, nbformat.v4.new_code_cell(cell.source)))
        if smoke_values and "parameters" in cell_tags(cell):
            assignments = "\n".join(f"{k} = {v!r}" for k, v in smoke_values.items())
            plan.append(("smoke", index, nbformat.v4.new_code_cell(assignments)))
        for ex in tests_after.get(pos, []):
            plan.extend(("test", (ex.id, t), nbformat.v4.new_code_cell(t.source)) for t in ex.hidden_tests)
    return plan


def _describe_student_cell(nb: nbformat.NotebookNode, index: int) -> str:
    cell = nb.cells[index]
    ex = exercise_of(cell)
    role = role_of(cell)
    label = f" ({ex} {role})" if ex and role else ""
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1}{label} `{first[:50]}`"


def run_submission(nb: nbformat.NotebookNode, source: Source, result: SubmissionResult, *, kernel: str = KERNEL,
                   cell_timeout: float = CELL_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT,
                   smoke: bool = False) -> None:
    """Run one submission with its hidden tests in a fresh kernel and fill ``result.scores``/``notes``."""
    scores = {ex.id: ExerciseScore(ex.id, 0.0, ex.points, "") for ex in source.graded}
    failures: dict[str, list[str]] = {ex.id: [] for ex in source.graded}
    earned: dict[str, float] = {ex.id: 0.0 for ex in source.graded}
    plan = _plan(nb, source, smoke)
    # A fresh directory per submission mirroring the repository: ROOT/notebooks is the working directory
    # (as in `medkit run`), holding copies of the source dir's data files but not the instructor notebooks
    # (they hold the answers); the data the parameters name (ROOT/data_samples) is copied beside it.
    root = Path(tempfile.mkdtemp(prefix="medkit-grade-"))
    workdir = root / source.path.parent.name
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__")
    shutil.copytree(source.path.parent, workdir, ignore=ignore)
    base = source.path.parent.resolve().parent
    for rel in source.data:
        if (base / rel).is_dir():
            shutil.copytree(base / rel, root / rel, ignore=ignore, dirs_exist_ok=True)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / rel, root / rel)
    deadline = time.monotonic() + total_timeout
    limit = {"seconds": cell_timeout}
    run_nb = nbformat.v4.new_notebook(cells=[cell for _, _, cell in plan])
    run_nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    client = NotebookClient(
        run_nb, kernel_name=kernel, allow_errors=False, force_raise_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []}, startup_timeout=60,
        iopub_timeout=2, shutdown_kernel="immediate", resources={"metadata": {"path": str(workdir)}}, record_timing=False,
        log=_QUIET,  # nbclient logs every timeout as an error; the feedback reports them instead
    )
    client.timeout_func = lambda cell: max(1, math.ceil(limit["seconds"]))
    stopped = ""  # why the rest of the plan was not run
    counts = {"raised": 0, "timed out": 0}  # student cells, for the status column
    try:
        # The kernel process's own stderr (ipykernel's TCP warning, TensorFlow's start-up lines) would bury
        # the progress lines; what the student's code prints still arrives through the kernel protocol.
        with client.setup_kernel(stderr=subprocess.DEVNULL):
            for position, (kind, ref, cell) in enumerate(plan):
                left = deadline - time.monotonic()
                if left <= 0:
                    stopped = f"the submission used up its total time limit ({fmt_points(total_timeout)} s)"
                    break
                limit["seconds"] = min(cell_timeout, left)
                try:
                    client.execute_cell(cell, position)
                    if kind == "test":
                        ex_id, test = ref
                        earned[ex_id] += test.points
                    continue
                except CellExecutionError as exc:
                    ename, evalue = exc.ename, exc.evalue
                timed_out = ename == TIMEOUT_ENAME
                what = (f"did not finish within {fmt_points(limit['seconds'])} s and was interrupted (an endless loop?)"
                        if timed_out else f"raised {ename}: {_short(evalue)}")
                if kind == "test":
                    ex_id, test = ref
                    failures[ex_id].append(_test_message(ename, evalue, timed_out, what))
                elif kind == "smoke":
                    result.notes.append(f"the smaller grading parameters could not be set ({what})")
                else:
                    result.notes.append(f"{_describe_student_cell(nb, ref)} {what}")
                    counts["timed out" if timed_out else "raised"] += 1
                if timed_out and not _responsive(client, limit, min(PROBE_TIMEOUT, cell_timeout)):
                    stopped = "the kernel did not stop after a cell was interrupted"
                    break
    except DeadKernelError:
        stopped = "the kernel died (the code exited Python, crashed it or ran out of memory)"
    except Exception as exc:  # noqa: BLE001 - one submission must never end the whole run
        stopped = f"grading failed: {type(exc).__name__}: {_short(str(exc))}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    issues = [f"{n} cell(s) {what}" for what, n in counts.items() if n]
    if stopped:
        issues.append(f"stopped: {stopped}")
    result.status = "; ".join(issues) or "ok"
    for ex in source.graded:
        points = earned[ex.id]
        if failures[ex.id]:
            unique = list(dict.fromkeys(failures[ex.id]))
            message = (f"{len(failures[ex.id])} of {len(ex.hidden_tests)} hidden tests failed: " if
                       len(ex.hidden_tests) > 1 else "") + "; ".join(unique)
        elif points == ex.points:
            message = "all hidden tests passed"
        else:
            message = f"hidden tests not run: {stopped}" if stopped else "hidden tests not run"
        scores[ex.id] = ExerciseScore(ex.id, points, ex.points, message)
    result.scores = scores


def _responsive(client: NotebookClient, limit: dict[str, float], seconds: float) -> bool:
    """After an interrupt: does the kernel answer a trivial cell within ``seconds``?"""
    saved = limit["seconds"]
    limit["seconds"] = seconds
    try:
        client.execute_cell(nbformat.v4.new_code_cell("None"), 0, store_history=False)
        return True
    except CellExecutionError as exc:
        return exc.ename != TIMEOUT_ENAME
    finally:
        limit["seconds"] = saved


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _test_message(ename: str, evalue: str, timed_out: bool, what: str) -> str:
    """What the student reads for a failed hidden test (never the test's source: it holds the answer)."""
    if timed_out:
        return f"a hidden test {what}"
    if ename == "AssertionError":
        return "a hidden test failed" + (f": {_short(evalue)}" if evalue else "")
    if ename == "NameError":
        return f"a hidden test could not find a name ({_short(evalue)}): was a cell deleted, not run, or a name changed?"
    if ename == "TypeError" and "ellipsis" in evalue:
        return "not done yet (the answer is still `...`)"
    if ename == "NotImplementedError":
        return "not done yet (the stub still raises NotImplementedError)"
    return f"a hidden test raised {ename}: {_short(evalue)}"


# ---------------------------------------------------------------- a whole class
def grade_file(path: Path, sources: dict[str, Source], **options: object) -> SubmissionResult:
    """Grade one submission file; never raises for anything the file contains."""
    start = time.monotonic()
    nb, reason = read_submission(path)
    meta_source = None
    if nb is not None:
        meta = nb.metadata.get("medkit", {})
        meta_source = meta.get("source") if isinstance(meta, dict) else None
    student, stem = identify(path, meta_source, sources)
    result = SubmissionResult(path, student, stem)
    if stem is None:
        result.status = (f"cannot tell which chapter this is: name it STUDENT_STEM.ipynb with STEM one of "
                         f"{', '.join(sorted(sources))}")
    elif nb is None:
        result.status = reason
        result.scores = {ex.id: ExerciseScore(ex.id, 0.0, ex.points, reason) for ex in sources[stem].graded}
    else:
        source = sources[stem]
        found = audit(nb, source)
        result.notes.extend(long for _, long in found)
        run_submission(nb, source, result, **options)  # type: ignore[arg-type]
        if found:
            shorts = "; ".join(short for short, _ in found)
            result.status = shorts if result.status == "ok" else f"{result.status}; {shorts}"
    result.seconds = time.monotonic() - start
    return result


def expand(paths: list[Path]) -> list[Path]:
    """Submission files: files as given, directories searched for ``*.ipynb`` (checkpoints skipped)."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts)
        else:
            files.append(path)
    return files


def write_grades(results: list[SubmissionResult], sources: dict[str, Source], out: Path) -> list[str]:
    """Write ``out`` (CSV: one row per student) and return its exercise columns.

    Columns: ``student``, one per graded exercise of every chapter handed in, ``total``,
    ``max`` and ``status`` (``ok`` or the reasons, ``;``-separated). A chapter a
    student did not hand in scores 0 with a status saying so; when a student hands
    in the same chapter twice, the file given last counts.
    """
    stems = sorted({r.source for r in results if r.source})
    columns = [ex.id for stem in stems for ex in sources[stem].graded]
    maxima = {ex.id: ex.points for stem in stems for ex in sources[stem].graded}
    by_student: dict[str, dict[str, SubmissionResult]] = {}
    unmatched: dict[str, list[SubmissionResult]] = {}
    for r in results:
        if r.source:
            chapter = by_student.setdefault(r.student, {})
            if r.source in chapter:
                r.notes.append(f"{r.source} was handed in twice; {r.path} counts, {chapter[r.source].path} does not.")
            chapter[r.source] = r
        else:
            by_student.setdefault(r.student, {})
            unmatched.setdefault(r.student, []).append(r)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *columns, "total", "max", "status"])
        for student in sorted(by_student):
            chapters = by_student[student]
            row, status = [], []
            for stem in stems:
                r = chapters.get(stem)
                if r is None:
                    status.append(f"{stem}: no submission")
                elif r.status != "ok":
                    status.append(f"{stem}: {r.status}")
            for r in unmatched.get(student, []):
                status.append(f"{r.path.name}: {r.status}")
            total = 0.0
            for col in columns:
                score = next((r.scores[col] for r in chapters.values() if col in r.scores), None)
                points = score.points if score else 0.0
                total += points
                row.append(fmt_points(points))
            writer.writerow([student, *row, fmt_points(total), fmt_points(sum(maxima.values())),
                             "; ".join(status) or "ok"])
    return columns


def write_feedback(results: list[SubmissionResult], feedback_dir: Path) -> list[Path]:
    """One Markdown file per student (``feedback_dir/<student>.md``) covering all their submissions."""
    feedback_dir.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[SubmissionResult]] = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    written = []
    for student, items in sorted(by_student.items()):
        lines = [f"# Feedback for {student}", ""]
        for r in items:
            chapter = r.source or "unknown chapter"
            lines += [f"## {chapter} ({r.path.name})", "",
                      f"Score: **{fmt_points(r.total)} / {fmt_points(r.max_total)}**"
                      f" (graded in {r.seconds:.1f} s; status: {r.status})", ""]
            if r.scores:
                lines += ["| exercise | points | why |", "|---|---|---|"]
                for s in r.scores.values():
                    why = s.message.replace("|", "\\|")
                    lines.append(f"| {s.exercise} | {fmt_points(s.points)} / {fmt_points(s.max_points)} | {why} |")
                lines.append("")
            if r.notes:
                lines += ["What the grader noticed:", ""] + [f"- {n}" for n in r.notes] + [""]
        path = feedback_dir / f"{_safe(student)}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "unnamed"


def grade(submissions: list[Path], source_dir: Path, out: Path, *, feedback_dir: Path | None = None,
          kernel: str = KERNEL, cell_timeout: float = CELL_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT,
          smoke: bool = False, jobs: int = 1, log=print) -> list[SubmissionResult]:
    """Grade ``submissions`` against the instructor notebooks in ``source_dir``; write the CSV and feedback.

    Parameters
    ----------
    submissions
        Notebook files, or directories searched for ``*.ipynb``.
    source_dir
        The instructor notebooks (with hidden tests).
    out
        The CSV to write; feedback goes to ``feedback_dir`` (default: ``feedback/`` beside it).
    kernel, cell_timeout, total_timeout
        Kernel name; seconds a cell may run; seconds a whole submission may run.
    smoke
        Set the chapters' smaller CI parameters (notebook metadata ``medkit.smoke``) after the parameters cell.
    jobs
        How many submissions to grade at once (each in its own process and kernel).
    log
        Where progress lines go.

    Raises
    ------
    FileNotFoundError, MarkupError, ValueError
        Problems of the grading set-up (no instructor notebooks, broken markup, unknown kernel),
        never of a submission.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if cell_timeout <= 0 or total_timeout <= 0:
        raise ValueError(f"timeouts must be positive, got --timeout {cell_timeout} and --total-timeout {total_timeout}")
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise ValueError(f"no Jupyter kernel named {kernel!r} is installed (see `jupyter kernelspec list`)") from None
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    sources = load_sources(source_dir)
    files = expand(submissions)
    options = dict(kernel=kernel, cell_timeout=cell_timeout, total_timeout=total_timeout, smoke=smoke)
    results: list[SubmissionResult | None] = [None] * len(files)

    def report(k: int, result: SubmissionResult) -> None:
        results[k] = result
        done = sum(r is not None for r in results)
        log(f"[{done}/{len(files)}] {result.path}: {result.student} / {result.source or '?'}: "
            f"{fmt_points(result.total)}/{fmt_points(result.max_total)} in {result.seconds:.1f} s ({result.status})")

    if jobs == 1 or len(files) < 2:
        for k, path in enumerate(files):
            report(k, grade_file(path, sources, **options))
    else:
        # Separate processes (spawned, not forked: no shared ZMQ state); each still starts its own kernel
        # per submission. Most of a slow submission's time is spent waiting for a timeout, which overlaps.
        import concurrent.futures
        import multiprocessing

        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(grade_file, path, sources, **options): k for k, path in enumerate(files)}
            for future in concurrent.futures.as_completed(futures):
                k = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died must not end the run
                    result = SubmissionResult(files[k], files[k].stem, None,
                                              status=f"grading failed: {type(exc).__name__}: {_short(str(exc))}")
                report(k, result)
    results = [r for r in results if r is not None]
    write_grades(results, sources, out)
    write_feedback(results, feedback_dir or out.parent / "feedback")
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", type=Path, nargs="+", metavar="SUBMISSION",
                        help="submitted notebooks (STUDENT_STEM.ipynb or STUDENT/STEM.ipynb), or directories of them")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (one row per student)")
    parser.add_argument("--source-dir", type=Path, default=Path("notebooks"),
                        help="instructor notebooks with the hidden tests (default: notebooks)")
    parser.add_argument("--feedback-dir", type=Path, default=None,
                        help="where to write <student>.md (default: feedback/ beside --out)")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT,
                        help=f"seconds one cell may run before it is interrupted (default {CELL_TIMEOUT:g})")
    parser.add_argument("--total-timeout", type=float, default=TOTAL_TIMEOUT,
                        help=f"seconds one submission may run in all (default {TOTAL_TIMEOUT:g})")
    parser.add_argument("--kernel", default=KERNEL, help=f"Jupyter kernel to run submissions in (default {KERNEL})")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="submissions graded at once, each in its own kernel (default 1)")
    parser.add_argument("--smoke", action="store_true",
                        help="use the chapters' smaller CI parameters (faster grading of long chapters)")


def main(args: argparse.Namespace) -> int:
    try:
        results = grade(list(args.submissions), args.source_dir, args.out, feedback_dir=args.feedback_dir,
                        kernel=args.kernel, cell_timeout=args.timeout, total_timeout=args.total_timeout,
                        smoke=args.smoke, jobs=args.jobs)
    except (FileNotFoundError, MarkupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(results)} submission(s))")
    return 0
