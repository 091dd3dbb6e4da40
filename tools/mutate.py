"""Mutation testing for medkit's taught modules: one small change at a time, the tests run on a copy.

Each mutant changes one node of a module's syntax tree (``ast``): a comparison
(``<`` to ``<=`` and to ``>``), an arithmetic operator (``+``/``-``,
``*``/``/``), a constant (0 and 1 swapped, other numbers + 1, True/False), a
unary minus or ``not`` dropped, ``and``/``or`` swapped, ``|``/``&`` swapped,
``max``/``min``-type names swapped, or ``return x`` replaced by ``return None``.
Error messages, docstrings and annotations are left alone.

The mutants run in a temporary copy of the repository (``git ls-files``), so
the working tree is never left mutated, even when the script is interrupted.
Heavy imports (numpy, scikit-learn, TensorFlow, Keras, hypothesis) are done
once in a parent process; each mutant runs ``pytest -x -q`` in a forked child
that imports medkit afresh from the copy, with a time limit. Tests run fastest
first (durations from a run on the unmutated module), so numpy-only tests
usually kill a mutant before the Keras ones start. Hypothesis runs
derandomised, without shrinking, so a run repeats.

A mutant is *killed* when a test fails (or the run exceeds the time limit,
reported as "timeout"); it *survives* when every test passes. A survivor is a
test gap, or an equivalent mutant (a change no input can detect).

Usage::

    python tools/mutate.py medkit/losses.py medkit/metrics.py medkit/fusion.py
    python tools/mutate.py medkit/metrics.py --list                  # the mutants, not run
    python tools/mutate.py medkit/metrics.py --only roc_auc,_ratio   # mutants inside these functions
    python tools/mutate.py medkit/fusion.py --tests tests/test_fusion.py --json _build/mutants.json

Without ``--tests`` a module's tests are those in ``DEFAULT_TESTS``.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DEFAULT_TESTS = {
    "medkit/losses.py": ["tests/test_losses.py"],
    "medkit/metrics.py": ["tests/test_metrics.py"],
    "medkit/fusion.py": ["tests/test_fusion.py",
                         "tests/test_models.py::test_a_missing_modality_is_left_out_not_zero_filled"],
}

COMPARE_SWAPS = {  # boundary shift, then direction flip
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
}
NAME_SWAPS = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum", "any": "all", "all": "any",
              "argmax": "argmin", "argmin": "argmax", "floor": "ceil", "ceil": "floor"}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
          ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**", ast.Mod: "%", ast.BitOr: "|", ast.BitAnd: "&",
          ast.And: "and", ast.Or: "or", ast.USub: "-", ast.Not: "not", ast.Invert: "~"}


@dataclass
class Mutant:
    id: int
    file: str
    line: int
    function: str
    mutation: str
    source_line: str
    status: str = "not run"  # killed | timeout | survived | error
    seconds: float = 0.0
    failed_test: str = ""
    index: int = 0  # the site's number within its module


# ---------------------------------------------------------------- generating mutants
class _Mutator(ast.NodeTransformer):
    """Numbers the mutation sites in traversal order; with ``target`` set, applies that one only."""

    def __init__(self, target: int | None = None) -> None:
        self.target = target
        self.count = 0
        self.sites: list[tuple[int, str, str]] = []  # (line, function, description)
        self.scope: list[str] = []

    def _site(self, node: ast.AST, description: str) -> bool:
        """Register a site; True when it is the one to apply."""
        index = self.count
        self.count += 1
        if self.target is None:
            self.sites.append((getattr(node, "lineno", 0), ".".join(self.scope) or "<module>", description))
        return index == self.target

    # -- subtrees never mutated: messages, docstrings, annotations, decorators, __all__
    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        return node

    def _visit_scope(self, node: ast.AST, name: str) -> ast.AST:
        self.scope.append(name)
        body = node.body  # type: ignore[attr-defined]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.args = self.visit(node.args)
        node.body[len(node.body) - len(body):] = [self.visit(s) for s in body]  # type: ignore[attr-defined]
        self.scope.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._visit_scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self._visit_scope(node, node.name)

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        node.defaults = [self.visit(d) for d in node.defaults]
        node.kw_defaults = [self.visit(d) if d is not None else None for d in node.kw_defaults]
        return node  # annotations are skipped

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return node
        return self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Constant):  # a bare string (comment-like)
            return node
        return self.generic_visit(node)

    # -- the mutations
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            for new in COMPARE_SWAPS.get(type(op), ()):
                if self._site(node, f"{SYMBOL[type(op)]} -> {SYMBOL[new]}"):
                    node.ops[i] = new()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        new = BINOP_SWAPS.get(type(node.op))
        if new is not None and self._site(node, f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}"):
            node.op = new()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        new = BINOP_SWAPS.get(type(node.op))
        if new is not None and self._site(node, f"{SYMBOL[type(node.op)]}= -> {SYMBOL[new]}="):
            node.op = new()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}"):
            node.op = new()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.USub, ast.Not, ast.Invert)):
            operand = ast.unparse(node.operand)
            operand = operand if len(operand) <= 24 else operand[:21] + "..."
            if not isinstance(node.operand, (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript)):
                operand = f"({operand})"
            space = " " if isinstance(node.op, ast.Not) else ""
            if self._site(node, f"{SYMBOL[type(node.op)]}{space}{operand} -> {operand}"):
                return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            new: object = not value
        elif isinstance(value, int):
            new = {0: 1, 1: 0}.get(value, value + 1)
        elif isinstance(value, float):
            new = {0.0: 1.0, 1.0: 0.0}.get(value, value + 1.0)
        else:
            return node
        if self._site(node, f"{value!r} -> {new!r}"):
            return ast.copy_location(ast.Constant(new), node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        new = NAME_SWAPS.get(node.id)
        if new is not None and isinstance(node.ctx, ast.Load) and self._site(node, f"{node.id} -> {new}"):
            return ast.copy_location(ast.Name(new, ast.Load()), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        new = NAME_SWAPS.get(node.attr)
        if new is not None and isinstance(node.ctx, ast.Load) and self._site(node, f".{node.attr} -> .{new}"):
            node.attr = new
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            if self._site(node, "return x -> return None"):
                node.value = None
        return node


def list_mutants(path: Path, rel: str, start_id: int = 0) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    mutator = _Mutator()
    mutator.visit(ast.parse(source))
    lines = source.splitlines()
    return [Mutant(start_id + i, rel, line, func, desc, lines[line - 1].strip() if line else "", index=i)
            for i, (line, func, desc) in enumerate(mutator.sites)]


def mutated_source(source: str, index: int) -> str:
    tree = copy.deepcopy(ast.parse(source))
    mutator = _Mutator(target=index)
    tree = ast.fix_missing_locations(mutator.visit(tree))
    return ast.unparse(tree) + "\n"


# ---------------------------------------------------------------- running the tests
def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


class _Order:
    """pytest plugin: run the fastest tests first; record durations and the first failure."""

    def __init__(self, durations: dict[str, float]) -> None:
        self.durations = durations
        self.measured: dict[str, float] = {}
        self.failed = ""

    def pytest_collection_modifyitems(self, items: list) -> None:
        items.sort(key=lambda item: self.durations.get(item.nodeid, float("inf")))

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001
        self.measured[report.nodeid] = self.measured.get(report.nodeid, 0.0) + report.duration
        if report.failed and not self.failed:
            self.failed = report.nodeid


def _child(workdir: Path, tests: list[str], durations: dict[str, float], result_file: Path, quiet: bool) -> int:
    """In the forked child: import medkit from ``workdir`` and run pytest there."""
    os.chdir(workdir)
    sys.path[:] = [str(workdir)] + [p for p in sys.path if Path(p or ".").resolve() != REPO]
    for name in [m for m in sys.modules if m == "medkit" or m.startswith("medkit.")]:
        del sys.modules[name]
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    import pytest
    from hypothesis import HealthCheck, Phase, settings

    settings.register_profile("mutate", derandomize=True, database=None, deadline=None, print_blob=False,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate],
                              suppress_health_check=list(HealthCheck))
    settings.load_profile("mutate")
    plugin = _Order(durations)
    rc = pytest.main([*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-W", "ignore"],
                     plugins=[plugin])
    result_file.write_text(json.dumps({"rc": int(rc), "failed": plugin.failed, "durations": plugin.measured}))
    return int(rc)


def run_tests(workdir: Path, tests: list[str], durations: dict[str, float], timeout: float,
              quiet: bool = True) -> tuple[str, float, dict]:
    """Fork, run the tests in the child; ("passed" | "failed" | "timeout" | "error", seconds, child's report)."""
    result_file = Path(tempfile.mkstemp(prefix="mutant-", suffix=".json")[1])
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            code = _child(workdir, tests, durations, result_file, quiet)
        finally:
            os._exit(code)
    status = None
    while time.monotonic() - start < timeout:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(wait_status)
            break
        time.sleep(0.05)
    seconds = time.monotonic() - start
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        result_file.unlink(missing_ok=True)
        return "timeout", seconds, {}
    report = json.loads(result_file.read_text() or "{}") if result_file.stat().st_size else {}
    result_file.unlink(missing_ok=True)
    # pytest exit codes: 0 all passed, 1 some failed, 2 interrupted (e.g. an import error while collecting)
    verdict = {0: "passed", 1: "failed", 2: "failed"}.get(status, "error")
    return verdict, seconds, report


def preload(tests: list[str]) -> None:
    """Import the heavy libraries once, before forking (never medkit itself)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401

    text = " ".join((REPO / t.split("::")[0]).read_text(encoding="utf-8") for t in tests)
    if "keras" in text or "tensorflow" in text:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="module files to mutate, e.g. medkit/losses.py")
    parser.add_argument("--tests", nargs="*", help="test files or node ids (default: DEFAULT_TESTS per module)")
    parser.add_argument("--only", help="comma-separated function or class names: mutate only inside these")
    parser.add_argument("--skip", help="comma-separated function or class names not to mutate")
    parser.add_argument("--ids", help="comma-separated mutant ids to run (as --list numbers them)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant (default: 3 x the unmutated run + 20)")
    parser.add_argument("--json", type=Path, help="write every mutant and its status here")
    parser.add_argument("--verbose", action="store_true", help="show pytest's output")
    args = parser.parse_args(argv)

    only = set(args.only.split(",")) if args.only else None
    skip = set(args.skip.split(",")) if args.skip else set()
    wanted_ids = {int(i) for i in args.ids.split(",")} if args.ids else None

    def selected(m: Mutant) -> bool:
        parts = set(m.function.split("."))
        return (only is None or bool(parts & only)) and not (parts & skip) and \
            (wanted_ids is None or m.id in wanted_ids)

    plan: list[tuple[str, list[Mutant], list[str]]] = []
    next_id = 0
    for module in args.modules:
        rel = Path(module).resolve().relative_to(REPO).as_posix()
        mutants = list_mutants(REPO / rel, rel, next_id)
        next_id += len(mutants)
        tests = args.tests or DEFAULT_TESTS.get(rel)
        if not tests:
            parser.error(f"no tests known for {rel}; pass --tests")
        plan.append((rel, [m for m in mutants if selected(m)], tests))

    if args.list:
        for rel, mutants, tests in plan:
            print(f"# {rel}: {len(mutants)} mutants; tests {' '.join(tests)}")
            for m in mutants:
                print(f"{m.id:4d}  {m.file}:{m.line:<4d} {m.function:<28s} {m.mutation:<26s} {m.source_line[:60]}")
        return 0

    all_mutants: list[Mutant] = []
    preload([t for _, _, tests in plan for t in tests])
    with tempfile.TemporaryDirectory(prefix="medkit-mutate-") as tmp:
        workdir = Path(tmp) / "repo"
        copy_repo(workdir)
        for rel, mutants, tests in plan:
            target = workdir / rel
            original = target.read_text(encoding="utf-8")
            try:
                target.write_text(ast.unparse(ast.parse(original)) + "\n", encoding="utf-8")  # same layout as mutants
                verdict, seconds, report = run_tests(workdir, tests, {}, timeout=3600, quiet=not args.verbose)
                if verdict != "passed":
                    print(f"{rel}: the tests fail on the unmutated module ({verdict}; {report.get('failed')}); "
                          "fix that first.", file=sys.stderr)
                    return 2
                durations = report.get("durations", {})
                timeout = args.timeout or 3 * seconds + 20
                print(f"# {rel}: {len(mutants)} mutants; unmutated run {seconds:.1f} s; limit {timeout:.0f} s each",
                      flush=True)
                for m in mutants:
                    target.write_text(mutated_source(original, m.index), encoding="utf-8")
                    verdict, m.seconds, report = run_tests(workdir, tests, durations, timeout,
                                                           quiet=not args.verbose)
                    m.status = {"passed": "survived", "failed": "killed"}.get(verdict, verdict)
                    m.failed_test = report.get("failed", "")
                    mark = {"killed": ".", "timeout": "T", "survived": "S", "error": "E"}[m.status]
                    print(mark, end="", flush=True)
                print(flush=True)
            finally:
                target.write_text(original, encoding="utf-8")
            all_mutants += mutants

    report_table(all_mutants)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(m) for m in all_mutants], indent=1) + "\n", encoding="utf-8")
    return 0


def report_table(mutants: list[Mutant]) -> None:
    by_file: dict[str, dict[str, int]] = {}
    for m in mutants:
        counts = by_file.setdefault(m.file, {"generated": 0, "killed": 0, "timeout": 0, "survived": 0, "error": 0})
        counts["generated"] += 1
        counts[m.status] = counts.get(m.status, 0) + 1
    print("\n| module | mutants | killed | timeout | survived | error |\n|---|---|---|---|---|---|")
    for file, c in by_file.items():
        print(f"| {file} | {c['generated']} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['error']} |")
    survivors = [m for m in mutants if m.status in ("survived", "error")]
    if survivors:
        print("\nSurviving mutants:\n\n| id | where | function | mutation | line |\n|---|---|---|---|---|")
        for m in survivors:
            print(f"| {m.id} | {m.file}:{m.line} | {m.function} | `{m.mutation}` | `{m.source_line[:70]}` |")


if __name__ == "__main__":
    sys.exit(main())
