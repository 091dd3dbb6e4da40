"""``python -m medkit grade SUBMISSION... --out grades.csv``: grade student notebooks.

Each submission is run on its own: a fresh kernel (``medkit`` unless
``--kernel`` says otherwise), sandboxed by bubblewrap (:mod:`medkit.classroom.sandbox`;
``--no-sandbox`` runs it as the grading user, with a warning), whose working
directory is a new temporary directory holding a copy of the source directory's
data files (never its notebooks), removed afterwards. Its code cells run in the
order the student left them; a cell that raises is recorded and the run goes on;
a cell that runs longer than ``--timeout`` seconds is interrupted, and the whole
submission stops after ``--total-timeout`` seconds.

Hidden tests are compared outside the student's code. Each hidden-test cell of
the *instructor* notebook lists checks (:mod:`medkit.classroom.hidden`); after the
student's last cell of that exercise (at the end if the student deleted them)
only the checks' expressions are sent to the kernel, their values come back as
plain data (JSON, base64 arrays) and are compared in this process with the
instructor's values, computed once per run by running the instructor notebook
in a separate clean kernel (:func:`compute_references`). A hidden-test cell
whose checks all pass earns its points.

Which instructor notebook? The submission's metadata ``"medkit": {"source":
STEM}`` (written by ``medkit student``) names it; failing that, the file name
does: ``STUDENT_STEM.ipynb`` or ``STUDENT/STEM.ipynb``, where ``STEM`` is the
name of a notebook in ``--source-dir`` without ``.ipynb``.

Who is the student? The part of the file name before ``_STEM``
(``alice_01_cross_entropy.ipynb`` -> ``alice``); when the file is named exactly
``STEM.ipynb``, the name of its directory (``alice/01_cross_entropy.ipynb``).

Nothing a submission does stops the run: a file that is not a notebook, or a
kernel that dies, scores zero with the reason in ``grades.csv`` and the
student's feedback file.
"""
from __future__ import annotations

import argparse
import builtins
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
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from medkit import KERNEL_NAME
from medkit.classroom import hidden
from medkit.classroom.markup import (
    HIDDEN_TEST_TAG,
    SOLUTION_TAG,
    Check,
    Exercise,
    HiddenTest,
    MarkupError,
    cell_tags,
    collect_exercises,
    defined_names,
    exercise_of,
    role_of,
)
from medkit.classroom.hidden import MIME, probe_source
from medkit.classroom.sandbox import (
    DEFAULT_MEMORY,
    Limits,
    Sandbox,
    SandboxUnavailable,
    WrappedKernelManager,
    parse_size,
)
from medkit.classroom.slicing import cells_to_skip

KERNEL = KERNEL_NAME
CELL_TIMEOUT = 60.0
TOTAL_TIMEOUT = 600.0
PROBE_TIMEOUT = 5.0  # how long a kernel may take to answer after an interrupt before it counts as stuck
TIMEOUT_ENAME = "CellTimeout"
_QUIET = logging.getLogger("medkit.classroom.grade.nbclient")
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
    sandbox: str = "none"  # what the kernel ran in: "bwrap" or "none"

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
            kind = retyped[0].cell_type
            notes.append((f"{ex.id} solution cell is {kind}",
                          f"{ex.id}: the solution cell was changed into a {kind} cell, so it did not run."))
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
    """The cells to run: ``("student", index, cell)``, ``("smoke", index, cell)`` and
    ``("test", (exercise, k, HiddenTest), probe cell)``.

    A hidden-test cell is never sent to a kernel: its place in the plan is taken by a
    probe that evaluates its expressions only (:func:`medkit.classroom.hidden.probe_source`).
    """
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

    def probes(ex: Exercise) -> list[tuple[str, object, nbformat.NotebookNode]]:
        return [("test", (ex.id, k, t), nbformat.v4.new_code_cell(probe_source(t.expressions)))
                for k, t in enumerate(ex.hidden_tests)]

    for ex in tests_after.get(-1, []):
        plan.extend(probes(ex))
    for pos, (index, cell) in enumerate(code):
        plan.append(("student", index, nbformat.v4.new_code_cell(cell.source)))
        if smoke_values and "parameters" in cell_tags(cell):
            assignments = "\n".join(f"{k} = {v!r}" for k, v in smoke_values.items())
            plan.append(("smoke", index, nbformat.v4.new_code_cell(assignments)))
        for ex in tests_after.get(pos, []):
            plan.extend(probes(ex))
    return plan


def _without_unneeded(plan: list[tuple[str, object, nbformat.NotebookNode]], nb: nbformat.NotebookNode,
                       source: Source) -> list[tuple[str, object, nbformat.NotebookNode]]:
    """``plan`` less the instructor cells no graded exercise depends on (:mod:`medkit.classroom.slicing`).

    Probes, the parameters cell, every exercise cell and every cell whose text is not
    the instructor's own always run.
    """
    instructor = {c.source for c in source.nb.cells
                  if c.cell_type == "code" and exercise_of(c) not in source.exercises}
    keep = set()
    for position, (kind, ref, cell) in enumerate(plan):
        if kind != "student":
            keep.add(position)
            continue
        original = nb.cells[ref]  # type: ignore[index]
        if (exercise_of(original) in source.exercises or "parameters" in cell_tags(original)
                or cell.source not in instructor):
            keep.add(position)
    # a probe's cell is one call whose expressions are strings: what it reads is in the expressions
    texts = ["\n".join(ref[2].expressions) if kind == "test" else cell.source  # type: ignore[index]
             for kind, ref, cell in plan]
    skip = cells_to_skip(texts, keep)
    return [step for position, step in enumerate(plan) if position not in skip]


def _describe_student_cell(nb: nbformat.NotebookNode, index: int) -> str:
    cell = nb.cells[index]
    ex = exercise_of(cell)
    role = role_of(cell)
    label = f" ({ex} {role})" if ex and role else ""
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1}{label} `{first[:50]}`"


@dataclass
class RunRecord:
    """What running a notebook's plan in one kernel produced.

    ``values[(exercise, k)]`` is the list of decoded values of hidden-test cell ``k``'s
    expressions (a :class:`medkit.classroom.hidden.Raised` where one raised), or a string: why no
    values came back (the probe timed out, raised, answered garbage, or never ran).
    """

    values: dict[tuple[str, int], list | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"raised": 0, "timed out": 0})
    stopped: str = ""
    skipped: int = 0  # code cells left out because no graded exercise depends on them
    sent: list[str] = field(default_factory=list)  # every piece of code sent to the kernel, in order


def _workspace(source: Source, protected: tuple[Path, ...] = ()) -> tuple[Path, Path]:
    """A fresh ``(root, workdir)``: ROOT/<source dir name> is the working directory (as in `medkit run`),
    holding copies of the source dir's data files but never a notebook (they hold the answers); the data
    the parameters name (ROOT/data_samples) is copied beside it. Protected paths are never copied."""
    root = Path(tempfile.mkdtemp(prefix="medkit-grade-"))
    workdir = root / source.path.parent.name
    guarded = [p.resolve() for p in protected]
    patterns = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__")

    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = set(patterns(directory, names))
        for name in names:
            full = (Path(directory) / name).resolve()
            if any(full == p or full in p.parents for p in guarded):
                skip.add(name)
        return skip

    shutil.copytree(source.path.parent, workdir, ignore=ignore)
    base = source.path.parent.resolve().parent
    for rel in source.data:
        if (base / rel).is_dir():
            shutil.copytree(base / rel, root / rel, ignore=ignore, dirs_exist_ok=True)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / rel, root / rel)
    return root, workdir


def _kernel_manager(kernel: str, root: Path, workdir: Path, sandbox: Sandbox | None,
                    limits: Limits | None) -> WrappedKernelManager:
    """The kernel manager of one run: under bwrap (Unix sockets in ROOT/.kernel) and/or prlimit."""
    if sandbox is None:
        return WrappedKernelManager(kernel_name=kernel, prefix=limits.prefix() if limits else [])
    mpl = root / ".mpl"
    mpl.mkdir()
    for cache in Path(sandbox.python.mpl_cache).glob("fontlist-*.json") if sandbox.python.mpl_cache else []:
        shutil.copy2(cache, mpl / cache.name)  # matplotlib would otherwise rebuild its font list every time
    return WrappedKernelManager(kernel_name=kernel, prefix=sandbox.command(root, workdir, [], limits=limits),
                                ipc_dir=root / ".kernel")


def execute_plan(nb: nbformat.NotebookNode, source: Source, *, kernel: str = KERNEL,
                 cell_timeout: float = CELL_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT, smoke: bool = False,
                 sandbox: Sandbox | None = None, limits: Limits | None = None,
                 protected: tuple[Path, ...] = (), skip_unneeded: bool = False) -> RunRecord:
    """Run ``nb``'s code cells, with a probe in place of each hidden-test cell, in one fresh kernel.

    Used for a submission (in the sandbox when one is given) and for the instructor
    notebook (the reference values). ``skip_unneeded`` leaves out the cells no graded
    exercise depends on (:func:`_without_unneeded`). Never raises for anything the
    notebook does.
    """
    record = RunRecord()
    plan = _plan(nb, source, smoke)
    if skip_unneeded:
        full = len(plan)
        plan = _without_unneeded(plan, nb, source)
        record.skipped = full - len(plan)
    for ex in source.graded:
        for k in range(len(ex.hidden_tests)):
            record.values[(ex.id, k)] = ""  # "" = not run
    root, workdir = _workspace(source, protected)
    deadline = time.monotonic() + total_timeout
    limit = {"seconds": cell_timeout}
    run_nb = nbformat.v4.new_notebook(cells=[cell for _, _, cell in plan])
    run_nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    try:
        km = _kernel_manager(kernel, root, workdir, sandbox, limits)
        client = NotebookClient(
            run_nb, km=km, kernel_name=kernel, allow_errors=False, force_raise_errors=True,
            interrupt_on_timeout=True, error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
            startup_timeout=60, iopub_timeout=2, shutdown_kernel="immediate",
            resources={"metadata": {"path": str(workdir)}}, record_timing=False,
            log=_QUIET,  # nbclient logs every timeout as an error; the feedback reports them instead
        )
        client.timeout_func = lambda cell: max(1, math.ceil(limit["seconds"]))
        # The kernel process's own stderr (ipykernel's TCP warning, TensorFlow's start-up lines) would bury
        # the progress lines; what the student's code prints still arrives through the kernel protocol.
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cleanup_kc=True):
            for position, (kind, ref, cell) in enumerate(plan):
                left = deadline - time.monotonic()
                if left <= 0:
                    record.stopped = f"the submission used up its total time limit ({fmt_points(total_timeout)} s)"
                    break
                limit["seconds"] = min(cell_timeout, left)
                record.sent.append(cell.source)
                try:
                    client.execute_cell(cell, position, store_history=kind != "test")
                    if kind == "test":
                        ex_id, k, test = ref
                        record.values[(ex_id, k)] = _probe_values(cell, len(test.checks))
                    continue
                except CellExecutionError as exc:
                    ename, evalue = exc.ename, exc.evalue
                finally:
                    cell.outputs = []  # what a cell printed is not kept: a submission may print gigabytes
                timed_out = ename == TIMEOUT_ENAME
                what = (f"did not finish within {fmt_points(limit['seconds'])} s and was interrupted (an endless loop?)"
                        if timed_out else f"raised {ename}: {_short(evalue)}")
                if kind == "test":
                    ex_id, k, _ = ref
                    record.values[(ex_id, k)] = _test_message(ename, evalue, timed_out, what)
                elif kind == "smoke":
                    record.notes.append(f"the smaller grading parameters could not be set ({what})")
                else:
                    record.notes.append(f"{_describe_student_cell(nb, ref)} {what}")
                    record.counts["timed out" if timed_out else "raised"] += 1
                if timed_out and not _responsive(client, limit, min(PROBE_TIMEOUT, cell_timeout)):
                    record.stopped = "the kernel did not stop after a cell was interrupted"
                    break
    except DeadKernelError:
        record.stopped = "the kernel died (the code exited Python, crashed it or ran out of memory)"
    except Exception as exc:  # noqa: BLE001 - one submission must never end the whole run
        record.stopped = f"grading failed: {type(exc).__name__}: {_short(str(exc))}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return record


def _probe_values(cell: nbformat.NotebookNode, n: int) -> list | str:
    """The decoded values a probe cell displayed, or why there are none (never raises)."""
    answers = [o.get("data", {}).get(MIME) for o in cell.get("outputs", [])
               if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
    if len(answers) != 1:
        return "a hidden test got no answer from the notebook (was `display` or `get_ipython` replaced?)"
    try:
        values = hidden.loads(answers[0])
    except hidden.ValueTransportError as exc:
        return f"a hidden test got an unreadable answer from the notebook ({_short(str(exc))})"
    if len(values) != n:
        return "a hidden test got the wrong number of values from the notebook"
    return values


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
        return (f"a hidden test could not find a name ({_short(evalue)}): was a cell deleted, not run, "
                "or a name changed?")
    if ename in ("TypeError", "ValueTransportError") and "ellipsis" in evalue:
        return "not done yet (the answer is still `...`)"
    if ename == "NotImplementedError":
        return "not done yet (the stub still raises NotImplementedError)"
    return f"a hidden test raised {ename}: {_short(evalue)}"


# ---------------------------------------------------------------- reference values and scores
class References(dict):
    """``{(exercise, k): [reference value or None per check]}`` of one instructor notebook.

    ``skip_unneeded`` is true when the notebook, run without the cells no graded
    exercise depends on, gave exactly these values: submissions of that chapter are
    then run the same way (``skipped`` cells fewer).
    """

    skip_unneeded: bool = False
    skipped: int = 0


def _identical(a: object, b: object) -> bool:
    """Exact equality of decoded probe values (arrays element-wise, NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b



def _predicate(check: Check) -> object:
    """The compiled predicate of an ``expect_that`` check, run in the grader on plain data (instructor code)."""
    return eval(compile(check.predicate, "<hidden test predicate>", "eval"),  # noqa: S307 - the instructor's markup
                {"np": np, "math": math, "__builtins__": builtins})


def compute_references(source: Source, **options: object) -> References:
    """The instructor's values of every hidden check of ``source``, from a clean kernel (no sandbox).

    Run once per grading run and per chapter; each submission is compared with these.

    Raises
    ------
    MarkupError
        The instructor notebook does not pass its own hidden checks, a cell of it
        raises, or a value cannot be brought out as plain data (the message names
        the notebook, exercise, cell and check).
    """
    options = {k: v for k, v in options.items() if k in ("kernel", "cell_timeout", "total_timeout", "smoke")}
    record = execute_plan(source.nb, source, **options)  # type: ignore[arg-type]
    sliced = None
    if not record.stopped and not record.notes:
        plan = _plan(source.nb, source, bool(options.get("smoke")))
        if len(_without_unneeded(plan, source.nb, source)) < len(plan):
            sliced = execute_plan(source.nb, source, skip_unneeded=True, **options)  # type: ignore[arg-type]
    name = str(source.path)
    if record.stopped:
        raise MarkupError(f"{name}: the instructor notebook could not be run to compute the expected values: "
                          f"{record.stopped}")
    if record.notes:
        raise MarkupError(f"{name}: the instructor notebook must run without errors to compute the expected "
                          f"values: {'; '.join(record.notes)}")
    references = References()
    if sliced is not None and not sliced.stopped and not sliced.notes and sliced.values.keys() == record.values.keys():
        references.skip_unneeded = all(_identical(sliced.values[key], record.values[key]) for key in record.values)
        references.skipped = sliced.skipped if references.skip_unneeded else 0
    for ex in source.graded:
        for k, test in enumerate(ex.hidden_tests):
            where = f"{name}: hidden test of {ex.id} (cell {test.index})"
            values = record.values[(ex.id, k)]
            if isinstance(values, str):
                raise MarkupError(f"{where}: no values from the instructor notebook ({values or 'not run'})")
            refs: list = []
            for check, value in zip(test.checks, values, strict=False):
                here = f"{where}, line {check.line}"
                if check.kind == "raises":
                    why = hidden.check_raised(value, check.exception)
                    refs.append(None)
                elif check.kind == "expect_that":
                    why = hidden.check_predicate(value, _predicate(check))
                    refs.append(None)
                else:
                    why = f"raised {value.type}: {value.message}" if isinstance(value, hidden.Raised) else ""
                    refs.append(value)
                if why:
                    raise MarkupError(f"{here}: the instructor's solution fails its own check `{check.expr}` "
                                      f"({why})")
            references[(ex.id, k)] = refs
    return references


def score_test(test: HiddenTest, values: list | str, refs: list) -> str:
    """``""`` when every check of a hidden-test cell passes, else what the student reads (no expected values)."""
    if isinstance(values, str):
        return values or "hidden test not run"
    for check, value, ref in zip(test.checks, values, refs, strict=False):
        if isinstance(value, hidden.Raised) and check.kind != "raises":
            return _test_message(value.type, value.message, False, "")
        if check.kind == "expect":
            why = hidden.compare(value, ref, atol=check.atol, rtol=check.rtol)
        elif check.kind == "expect_that":
            why = hidden.check_predicate(value, _predicate(check))
        else:
            why = hidden.check_raised(value, check.exception)
        if why:
            return f"a hidden test failed: {why}"
    return ""


def run_submission(nb: nbformat.NotebookNode, source: Source, result: SubmissionResult, *,
                   references: References | None = None, **options: object) -> RunRecord:
    """Run one submission in a fresh kernel, compare its values in this process, fill ``result``.

    ``references`` (from :func:`compute_references`) are computed here when not given.
    """
    if references is None:
        references = compute_references(source, **options)  # without the sandbox: the instructor's code
    record = execute_plan(nb, source, skip_unneeded=references.skip_unneeded, **options)  # type: ignore[arg-type]
    result.notes.extend(record.notes)
    issues = [f"{n} cell(s) {what}" for what, n in record.counts.items() if n]
    if record.stopped:
        issues.append(f"stopped: {record.stopped}")
    result.status = "; ".join(issues) or "ok"
    scores = {}
    for ex in source.graded:
        points, failures, not_run = 0.0, [], 0
        for k, test in enumerate(ex.hidden_tests):
            values = record.values[(ex.id, k)]
            if values == "":
                not_run += 1
                continue
            why = score_test(test, values, references[(ex.id, k)])
            if why:
                failures.append(why)
            else:
                points += test.points
        if failures:
            unique = list(dict.fromkeys(failures))
            message = (f"{len(failures)} of {len(ex.hidden_tests)} hidden tests failed: " if
                       len(ex.hidden_tests) > 1 else "") + "; ".join(unique)
        elif not_run:
            message = f"hidden tests not run: {record.stopped}" if record.stopped else "hidden tests not run"
        else:
            message = "all hidden tests passed"
        scores[ex.id] = ExerciseScore(ex.id, points, ex.points, message)
    result.scores = scores
    return record


# ---------------------------------------------------------------- a whole class
def grade_file(path: Path, sources: dict[str, Source], *, references: dict[str, References] | None = None,
               sandbox: Sandbox | None = None, **options: object) -> SubmissionResult:
    """Grade one submission file; never raises for anything the file contains.

    ``references`` maps a chapter stem to its :func:`compute_references` (computed
    here when missing); ``sandbox`` runs the kernel under bwrap (``None``: no sandbox).
    """
    start = time.monotonic()
    nb, reason = read_submission(path)
    meta_source = None
    if nb is not None:
        meta = nb.metadata.get("medkit", {})
        meta_source = meta.get("source") if isinstance(meta, dict) else None
    student, stem = identify(path, meta_source, sources)
    result = SubmissionResult(path, student, stem, sandbox=sandbox.name if sandbox else "none")
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
        refs = (references or {}).get(stem)
        run_submission(nb, source, result, references=refs, sandbox=sandbox, **options)  # type: ignore[arg-type]
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
    ``max``, ``status`` (``ok`` or the reasons, ``;``-separated) and ``sandbox`` (what the
    student's code ran in: ``bwrap``, or ``none`` when graded with ``--no-sandbox``). A chapter a
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
        writer.writerow(["student", *columns, "total", "max", "status", "sandbox"])
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
            boxes = sorted({r.sandbox for r in [*chapters.values(), *unmatched.get(student, [])]})
            writer.writerow([student, *row, fmt_points(total), fmt_points(sum(maxima.values())),
                             "; ".join(status) or "ok", "+".join(boxes)])
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
                      f" (graded in {r.seconds:.1f} s; status: {r.status}; sandbox: {r.sandbox})", ""]
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


NO_SANDBOX_WARNING = """\
*************************************************************************************
* medkit grade --no-sandbox: student code runs as YOU, with your files and network. *
* A submission can read the instructor notebooks and the other submissions, change  *
* files (grades.csv included) and leave processes behind. Use it only on a machine  *
* or in a container holding nothing but this class (see book/instructors.md).       *
*************************************************************************************"""


def grade(submissions: list[Path], source_dir: Path, out: Path, *, feedback_dir: Path | None = None,
          kernel: str = KERNEL, cell_timeout: float = CELL_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT,
          smoke: bool = False, jobs: int = 1, sandbox: bool = True, memory_limit: int = DEFAULT_MEMORY,
          log=print, warn=None) -> list[SubmissionResult]:
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
    sandbox
        Run each submission's kernel under bwrap (:mod:`medkit.classroom.sandbox`); ``False`` runs it
        as the grading user (``--no-sandbox``) after printing a warning through ``warn``.
    memory_limit
        Bytes of address space one kernel may use (prlimit, with or without the sandbox).
    log, warn
        Where progress lines and the no-sandbox warning go (``warn`` defaults to stderr).

    Raises
    ------
    FileNotFoundError, MarkupError, ValueError
        Problems of the grading set-up (no instructor notebooks, broken markup, an
        instructor notebook failing its own hidden checks, unknown kernel), never of a submission.
    SandboxUnavailable
        ``sandbox=True`` and bwrap is missing or not permitted on this machine.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    warn = warn or (lambda text: print(text, file=sys.stderr))
    if cell_timeout <= 0 or total_timeout <= 0:
        raise ValueError(f"timeouts must be positive, got --timeout {cell_timeout} and --total-timeout {total_timeout}")
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise ValueError(f"no Jupyter kernel named {kernel!r} is installed (see `jupyter kernelspec list`)") from None
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    sources = load_sources(source_dir)
    files = expand(submissions)
    feedback_dir = feedback_dir or out.parent / "feedback"
    protected = tuple(Path(p) for p in [source_dir, *submissions, *files, out, feedback_dir])
    limits = Limits(memory=memory_limit)
    box = Sandbox.detect(spec.argv, list(protected)) if sandbox else None
    if box is None:
        warn(NO_SANDBOX_WARNING)
    # The instructor's values, once per chapter handed in, from a clean kernel outside the sandbox.
    needed = []
    for path in files:
        nb, _ = read_submission(path)
        if nb is not None:
            meta = nb.metadata.get("medkit", {})
            stem = identify(path, meta.get("source") if isinstance(meta, dict) else None, sources)[1]
            if stem is not None and stem not in needed:
                needed.append(stem)
    run_options = dict(kernel=kernel, cell_timeout=cell_timeout, total_timeout=total_timeout, smoke=smoke)
    references: dict[str, References] = {}
    for stem in needed:
        start = time.monotonic()
        references[stem] = compute_references(sources[stem], **run_options)
        skipped = (f"; {references[stem].skipped} cell(s) no graded exercise depends on are not run "
                   f"(checked: the expected values are the same without them)" if references[stem].skipped else "")
        log(f"expected values of {stem}: {sum(len(v) for v in references[stem].values())} check(s) from the "
            f"instructor notebook in {time.monotonic() - start:.1f} s{skipped}")
    options = dict(run_options, sandbox=box, limits=limits, protected=protected, references=references)
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
                                              status=f"grading failed: {type(exc).__name__}: {_short(str(exc))}",
                                              sandbox=box.name if box else "none")
                report(k, result)
    results = [r for r in results if r is not None]
    write_grades(results, sources, out)
    write_feedback(results, feedback_dir)
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
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code as you, without bwrap (unsafe: it can read the solutions and "
                             "change files; see book/instructors.md)")
    parser.add_argument("--memory-limit", default="8G",
                        help="address space one kernel may use, e.g. 4G or 512M (default 8G)")


def main(args: argparse.Namespace) -> int:
    try:
        memory = parse_size(args.memory_limit)
        results = grade(list(args.submissions), args.source_dir, args.out, feedback_dir=args.feedback_dir,
                        kernel=args.kernel, cell_timeout=args.timeout, total_timeout=args.total_timeout,
                        smoke=args.smoke, jobs=args.jobs, sandbox=not args.no_sandbox, memory_limit=memory)
    except SandboxUnavailable as exc:
        print(f"error: cannot sandbox the submissions: {exc}\n"
              "Nothing was graded. Without a sandbox a submission can read the solutions and change the grades; "
              "to grade anyway, add --no-sandbox (book/instructors.md explains the risk).", file=sys.stderr)
        return 2
    except (FileNotFoundError, MarkupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(results)} submission(s), sandbox: {results[0].sandbox if results else '-'})")
    return 0
