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
- ``hidden-test`` (with ``remove-cell``): ``expect(...)``, ``expect_that(...)``
  and ``with raises(...):`` checks worth ``"points"`` (see :mod:`medkit.classroom.hidden`),
  removed from student versions; the grader evaluates their expressions in the
  student's kernel and compares the values in its own process.

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


@dataclass(frozen=True)
class Check:
    """One check of a hidden-test cell (parsed, never executed, by :func:`parse_hidden_test`).

    ``kind`` is ``"expect"`` (compare with the instructor's value of ``expr``),
    ``"expect_that"`` (``predicate``, the source of a one-argument lambda, holds)
    or ``"raises"`` (``expr`` raises ``exception``, a class name).
    """

    kind: str
    expr: str
    line: int
    atol: float = 0.0
    rtol: float = 0.0
    predicate: str = ""
    exception: str = ""


@dataclass
class HiddenTest:
    """One hidden-test cell: its position in the instructor notebook, its source, points and checks."""

    index: int
    source: str
    points: float
    checks: list[Check] = field(default_factory=list)

    @property
    def expressions(self) -> list[str]:
        """What the grader evaluates in a kernel for this cell (one per check, in order)."""
        return [c.expr for c in self.checks]


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
        ``points`` or with anything but checks (see :func:`parse_hidden_test`),
        or a hidden test / self-check whose exercise has no solution cell.
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
            checks = parse_hidden_test(cell.source, f"{name}: hidden test of {ex_id} (cell {index})")
            ex.hidden_tests.append(HiddenTest(index, cell.source, float(points), checks))
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


HIDDEN_MODULE = "medkit.classroom.hidden"
_CHECK_NAMES = ("expect", "expect_that", "raises")


def parse_hidden_test(source: str, where: str = "hidden test") -> list[Check]:
    """The checks of a hidden-test cell, read with :mod:`ast` (nothing is executed).

    A hidden-test cell holds, besides ``from medkit.classroom.hidden import ...`` lines,
    only these statements (see :mod:`medkit.classroom.hidden`):

    - ``expect(EXPR)`` or ``expect(EXPR, atol=A, rtol=R)`` with number literals;
    - ``expect_that(EXPR, lambda v: ...)``;
    - ``with raises(ExceptionName):`` over a single expression ``EXPR``.

    Parameters
    ----------
    source
        The cell's source.
    where
        How to name the cell in error messages.

    Raises
    ------
    MarkupError
        Any other statement (an ``assert`` of the old markup, an assignment, a
        loop), an argument that is not a literal number, a predicate that is not a
        one-argument lambda, or a cell without any check.

    Examples
    --------
    >>> [c.expr for c in parse_hidden_test("expect(f(1), atol=1e-6)\\nexpect_that(x, lambda v: v > 0)")]
    ['f(1)', 'x']
    >>> parse_hidden_test("assert f(1) == 2", "cell 7")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    medkit.classroom.markup.MarkupError: cell 7, line 1: an `assert` statement; hidden tests hold only ...
    """
    from medkit.classroom.hidden import DEFAULT_ATOL, DEFAULT_RTOL

    usage = ("hidden tests hold only expect(EXPR, atol=..., rtol=...), expect_that(EXPR, lambda v: ...) and "
             "`with raises(Error): EXPR`")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise MarkupError(f"{where}, line {exc.lineno}: not valid Python ({exc.msg})") from None

    def seg(node: ast.AST) -> str:
        text = ast.get_source_segment(source, node) or ast.unparse(node)
        # An expression continued over several lines is only valid inside the call it came from:
        # parentheses keep it valid on its own (a multi-line lambda predicate, say).
        return f"({text})" if "\n" in text else text

    def fail(node: ast.AST, what: str) -> MarkupError:
        return MarkupError(f"{where}, line {getattr(node, 'lineno', '?')}: {what}")

    def number(node: ast.keyword) -> float:
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise fail(node.value, f"{node.arg}= needs a number literal >= 0, got `{seg(node.value)}`")
        return float(value)

    checks: list[Check] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == HIDDEN_MODULE:
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            raise fail(stmt, f"`{seg(stmt)}`: a hidden test imports only from {HIDDEN_MODULE} "
                             f"(`from {HIDDEN_MODULE} import expect, expect_that, raises`)")
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name):
            call, name = stmt.value, stmt.value.func.id
            if name == "expect":
                if len(call.args) != 1 or any(k.arg not in ("atol", "rtol") for k in call.keywords):
                    raise fail(stmt, "expect() takes one expression and the keywords atol= and rtol=")
                tol = {k.arg: number(k) for k in call.keywords}
                checks.append(Check("expect", seg(call.args[0]), stmt.lineno, atol=tol.get("atol", DEFAULT_ATOL),
                                    rtol=tol.get("rtol", DEFAULT_RTOL)))
                continue
            if name == "expect_that":
                if len(call.args) != 2 or call.keywords:
                    raise fail(stmt, "expect_that() takes an expression and a predicate: "
                                     "expect_that(EXPR, lambda v: ...)")
                pred = call.args[1]
                if not (isinstance(pred, ast.Lambda) and len(pred.args.args) == 1 and not pred.args.vararg
                        and not pred.args.kwarg and not pred.args.kwonlyargs and not pred.args.posonlyargs):
                    raise fail(stmt, "the predicate of expect_that() must be a one-argument lambda, "
                                     f"got `{seg(pred)}`")
                checks.append(Check("expect_that", seg(call.args[0]), stmt.lineno, predicate=seg(pred)))
                continue
        if isinstance(stmt, ast.With) and len(stmt.items) == 1:
            ctx = stmt.items[0].context_expr
            if (isinstance(ctx, ast.Call) and isinstance(ctx.func, ast.Name) and ctx.func.id == "raises"
                    and len(ctx.args) == 1 and not ctx.keywords and stmt.items[0].optional_vars is None):
                exc = ctx.args[0]
                if not isinstance(exc, (ast.Name, ast.Attribute)):
                    raise fail(stmt, f"raises() takes an exception class name, got `{seg(exc)}`")
                if len(stmt.body) != 1 or not isinstance(stmt.body[0], ast.Expr):
                    raise fail(stmt, "the body of `with raises(...):` must be a single expression")
                name_ = exc.attr if isinstance(exc, ast.Attribute) else exc.id
                checks.append(Check("raises", seg(stmt.body[0].value), stmt.lineno, exception=name_))
                continue
        kind = type(stmt).__name__.lower()
        article = "an" if kind[0] in "aeiou" else "a"
        extra = (" (the old `assert` markup ran inside the student's kernel, where the student's code can change "
                 "what it checks)") if isinstance(stmt, ast.Assert) else ""
        raise fail(stmt, f"{article} `{kind}` statement; {usage}{extra}")
    if not checks:
        raise MarkupError(f"{where}: no check; {usage}")
    for check in checks:
        try:
            compile(check.expr, where, "eval")
        except SyntaxError as exc:  # e.g. a walrus or starred expression that only parses in context
            raise MarkupError(f"{where}, line {check.line}: `{check.expr}` is not an expression ({exc.msg})") from None
    return checks
