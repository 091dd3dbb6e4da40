"""The exercise markup of the chapters, read by ``medkit student`` and ``medkit grade``.

The markup is described in CONTRIBUTING.md ("Exercise markup") and on the
book's instructor page. In short, a code cell belongs to exercise ``ID`` when
its metadata holds ``"medkit": {"exercise": ID}``, and its role comes from its
tag:

- ``solution``: the instructor's code, between ``# BEGIN SOLUTION`` /
  ``# END SOLUTION`` lines inside a function body, or on a top-level line
  ending with ``# SOLUTION``;
- ``self-check``: a call to a ``medkit.exercises.check_*`` function, kept for
  students;
- ``hidden-test`` (with ``remove-cell``): ``assert`` statements worth
  ``"points"``, removed from student versions and re-inserted by the grader.

This module only reads and rewrites notebooks; it never executes them.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import nbformat

SOLUTION_TAG = "solution"
SELF_CHECK_TAG = "self-check"
HIDDEN_TEST_TAG = "hidden-test"

BEGIN_MARKER = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END_MARKER = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
SUFFIX_MARKER = re.compile(r"^(?P<code>.*?)[ \t]*# SOLUTION[ \t]*$")
ANY_MARKER = re.compile(r"#[ \t]*(BEGIN SOLUTION|END SOLUTION|SOLUTION)[ \t]*$", re.MULTILINE)


class MarkupError(ValueError):
    """A notebook breaks the exercise markup (the message names the notebook, cell and problem)."""


def cell_tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []) or [])


def exercise_of(cell: nbformat.NotebookNode) -> str | None:
    """The exercise id in the cell's ``medkit`` metadata, or ``None``."""
    meta = cell.get("metadata", {}).get("medkit", {})
    value = meta.get("exercise") if isinstance(meta, dict) else None
    return str(value) if value is not None else None


def role_of(cell: nbformat.NotebookNode) -> str | None:
    """``"solution"``, ``"self-check"``, ``"hidden-test"`` or ``None`` for any other cell."""
    tags = cell_tags(cell)
    for role in (HIDDEN_TEST_TAG, SOLUTION_TAG, SELF_CHECK_TAG):
        if role in tags:
            return role
    return None


@dataclass
class HiddenTest:
    """One hidden-test cell: its position in the instructor notebook, its source and its points."""

    index: int
    source: str
    points: float


@dataclass
class Exercise:
    """Everything the markup says about one exercise of one notebook."""

    id: str
    solution_cells: list[int] = field(default_factory=list)
    self_check_cells: list[int] = field(default_factory=list)
    hidden_tests: list[HiddenTest] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # names the solution defines: the contract the tests call

    @property
    def points(self) -> float:
        """The exercise's maximum score: the sum of its hidden tests' points."""
        return float(sum(t.points for t in self.hidden_tests))


def defined_names(source: str) -> list[str]:
    """Top-level names a code cell defines (functions, classes, assignment targets), in order.

    Examples
    --------
    >>> defined_names("def f(x):\\n    return x\\nanswer = 3")
    ['f', 'answer']
    """
    try:
        tree = ast.parse(strip_magics(source))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name) and sub.id not in names:
                        names.append(sub.id)
    return names


def strip_magics(source: str) -> str:
    """Blank out IPython magics and shell escapes so ``ast`` can parse the rest of a cell."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def collect_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> dict[str, Exercise]:
    """The exercises of an instructor notebook, in the order they appear.

    Parameters
    ----------
    nb
        The instructor notebook.
    name
        How to call the notebook in error messages (usually its path).

    Raises
    ------
    MarkupError
        A tagged cell without an exercise id, a hidden test without valid
        ``points``, or a hidden test / self-check whose exercise has no solution cell.
    """
    exercises: dict[str, Exercise] = {}
    for index, cell in enumerate(nb.cells):
        role = role_of(cell)
        if role is None or cell.cell_type != "code":
            continue
        ex_id = exercise_of(cell)
        if not ex_id:
            raise MarkupError(f"{name}: cell {index} is tagged {role!r} but its metadata has no "
                              f'"medkit": {{"exercise": ID}}')
        ex = exercises.setdefault(ex_id, Exercise(ex_id))
        if role == SOLUTION_TAG:
            ex.solution_cells.append(index)
            ex.names.extend(n for n in defined_names(cell.source) if n not in ex.names)
        elif role == SELF_CHECK_TAG:
            ex.self_check_cells.append(index)
        else:
            points = cell.metadata.get("medkit", {}).get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                raise MarkupError(f"{name}: hidden test of {ex_id} (cell {index}) needs metadata "
                                  f'"medkit": {{"points": P}} with a number P >= 0, got {points!r}')
            ex.hidden_tests.append(HiddenTest(index, cell.source, float(points)))
    for ex in exercises.values():
        if not ex.solution_cells:
            raise MarkupError(f"{name}: exercise {ex.id} has self-check or hidden-test cells but no cell "
                              f"tagged 'solution'")
    return exercises


def stub_solution(source: str, exercise: str, where: str = "cell") -> str:
    """The student version of a solution cell's source.

    A ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block becomes
    ``raise NotImplementedError("<exercise>")`` at the marker's indentation; a
    line ``target = value  # SOLUTION`` becomes ``target = ...``. Code outside
    the markers (the function name and signature, the contract) is kept.

    Parameters
    ----------
    source
        The solution cell's source.
    exercise
        The exercise id, written into the stub.
    where
        How to name the cell in error messages.

    Raises
    ------
    MarkupError
        Unbalanced markers, a ``BEGIN SOLUTION`` block at the top level (it would
        stop the student notebook), a ``# SOLUTION`` line that is not a complete
        statement, or a solution cell without any marker (the solution would be
        handed out).

    Examples
    --------
    >>> print(stub_solution("def f(x):\\n    # BEGIN SOLUTION\\n    return 2 * x\\n    # END SOLUTION", "ex-1"))
    def f(x):
        raise NotImplementedError("ex-1")
    >>> stub_solution("answer = 42  # SOLUTION", "ex-2")
    'answer = ...'
    """
    out: list[str] = []
    inside: str | None = None  # indentation of the open BEGIN marker
    found = False
    for lineno, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN_MARKER.match(line)
        if inside is not None:
            if begin:
                raise MarkupError(f"{where}, line {lineno}: nested '# BEGIN SOLUTION' (the previous one is not closed)")
            if END_MARKER.match(line):
                out.append(f'{inside}raise NotImplementedError("{exercise}")')
                inside = None
            continue
        if begin:
            if not begin.group("indent"):
                raise MarkupError(f"{where}, line {lineno}: '# BEGIN SOLUTION' at the top level; put the block inside "
                                  "a function body, or mark a top-level assignment with '# SOLUTION'")
            inside, found = begin.group("indent"), True
            continue
        if END_MARKER.match(line):
            raise MarkupError(f"{where}, line {lineno}: '# END SOLUTION' without a '# BEGIN SOLUTION' before it")
        suffix = SUFFIX_MARKER.match(line)
        if suffix:
            out.append(_stub_line(suffix.group("code"), where, lineno))
            found = True
            continue
        out.append(line)
    if inside is not None:
        raise MarkupError(f"{where}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    if not found:
        raise MarkupError(f"{where}: a cell tagged 'solution' has no '# BEGIN SOLUTION' block and no '# SOLUTION' "
                          "line, so the student version would contain the answer")
    return "\n".join(out)


def _stub_line(code: str, where: str, lineno: int) -> str:
    """``target = value`` -> ``target = ...``; any other one-line statement -> ``...``."""
    indent = code[: len(code) - len(code.lstrip())]
    try:
        tree = ast.parse(code.strip())
    except SyntaxError as exc:
        raise MarkupError(f"{where}, line {lineno}: a '# SOLUTION' line must be a complete statement on one line "
                          f"({exc.msg})") from None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    text = code.strip()
    if isinstance(stmt, ast.Assign):
        targets = " = ".join(ast.get_source_segment(text, t) or "" for t in stmt.targets)
        return f"{indent}{targets} = ..."
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = ast.get_source_segment(text, stmt.target)
        annotation = ast.get_source_segment(text, stmt.annotation)
        return f"{indent}{target}: {annotation} = ..."
    return f"{indent}..."


def has_marker(source: str) -> bool:
    """True when a source contains a solution marker (used to refuse markers outside solution cells)."""
    return bool(ANY_MARKER.search(source))
