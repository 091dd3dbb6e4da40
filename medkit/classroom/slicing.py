"""Which code cells grading must run: a conservative static def-use slice.

A chapter's notebook does more than its exercises need: chapter 1 imports Keras
(about 3 s of TensorFlow start-up) only to compare one loss with medkit's. The
grader runs every exercise cell, every hidden-test probe and the parameters cell;
an instructor cell before them is left out only when nothing later reads a name it
binds and it cannot change shared state. :mod:`medkit.classroom.grade` uses the
slice for a chapter only after checking that the instructor notebook, run sliced,
gives exactly the expected values of the full run.

The rules, each erring on the side of running a cell:

* a cell is a candidate only if it parses and its top-level statements are
  imports, assignments to plain names, ``def``/``class`` and expression
  statements, and it binds at least one name or only shows and records values
  (``glue``, ``glue_all``, ``print``, ``display``);
* it is kept if a later kept cell reads any name it binds, or if a later kept cell
  could look names up dynamically (``globals``, ``eval``, ``exec``, ``vars``, ...)
  or does not parse;
* it is kept if it declares ``global``/``nonlocal`` or mentions anything that
  touches shared state (random seeds and generators, shuffles, the working
  directory, environment variables, files, attribute or item assignment).
"""
from __future__ import annotations

import ast
from collections.abc import Sequence

from medkit.classroom.markup import strip_magics

#: Names whose presence in a kept cell means any earlier binding may be read.
DYNAMIC_LOOKUPS = frozenset({
    "globals", "locals", "vars", "eval", "exec", "get_ipython", "__builtins__", "__import__", "dir",
    "__main__", "sys",
})
#: Substrings of names/attributes that mark a cell as touching shared state.
STATEFUL = ("seed", "random", "rng", "shuffle", "chdir", "environ", "open", "write", "setattr", "delattr",
            "set_", "config", "rcParams", "register", "update", "append", "extend", "insert", "pop", "clear")
#: Calls that only show or record a value: a cell of nothing else changes no state.
OUTPUT_ONLY = frozenset({"glue", "glue_all", "print", "display"})
_SIMPLE = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef,
           ast.ClassDef, ast.Expr)


def _parse(source: str) -> ast.Module | None:
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return None  # a magic could do anything, and strip_magics would hide what it reads
    try:
        return ast.parse(strip_magics(source))
    except SyntaxError:
        return None


def names_read(source: str) -> set[str] | None:
    """Every name a cell mentions (at any depth), or ``None`` when it may read any name.

    Names it binds count too: erring towards running a cell is always safe.

    Parameters
    ----------
    source : str
        A code cell.

    Returns
    -------
    set of str or None
        ``None`` for a cell that does not parse, holds IPython magics or looks names
        up dynamically (:data:`DYNAMIC_LOOKUPS`).

    Examples
    --------
    >>> sorted(names_read("y = f(x) + np.pi"))
    ['f', 'np', 'x', 'y']
    >>> names_read("print(globals()['x'])") is None
    True
    """
    tree = _parse(source)
    if tree is None:
        return None
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if names & DYNAMIC_LOOKUPS:
        return None
    return names


def names_bound(source: str) -> set[str] | None:
    """The names a cell binds at top level, or ``None`` when it is not a candidate for skipping.

    Parameters
    ----------
    source : str
        A code cell.

    Returns
    -------
    set of str or None
        ``None`` unless the cell parses, holds only simple top-level statements,
        touches no shared state and binds a name or only shows and records values
        (an empty set; see the module docstring).

    Examples
    --------
    >>> sorted(names_bound("import keras\\nk = keras.losses.CategoricalCrossentropy()\\nprint(k)"))
    ['k', 'keras']
    >>> names_bound("rng = np.random.default_rng(0)") is None
    True
    >>> names_bound("results['x'] = 1") is None
    True
    >>> names_bound("glue_all({'loss': float(loss)})")
    set()
    """
    tree = _parse(source)
    if tree is None or not all(isinstance(node, _SIMPLE) for node in tree.body):
        return None
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                parts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
                if not all(isinstance(part, ast.Name) for part in parts):
                    return None  # attribute or item assignment changes an object others may hold
                bound.update(part.id for part in parts)  # type: ignore[union-attr]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return None
        word = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if word is not None and any(mark.lower() in word.lower() for mark in STATEFUL):
            return None
    if bound:
        return bound
    return set() if all(_output_only(node) for node in tree.body) else None


def _output_only(node: ast.stmt) -> bool:
    """``glue(...)``, ``glue_all({...})``, ``print(...)`` or ``display(...)``: it only shows or records."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in OUTPUT_ONLY


def cells_to_skip(sources: Sequence[str], keep: set[int]) -> set[int]:
    """The indices of cells that grading may leave out.

    Parameters
    ----------
    sources : sequence of str
        The code cells in the order they run.
    keep : set of int
        Indices that must run whatever they bind (exercise cells, probes, the
        parameters cell, cells a student changed).

    Returns
    -------
    set of int
        Cells no later kept cell depends on (see the module docstring).

    Examples
    --------
    >>> cells = ["import numpy as np", "import keras\\nv = keras.ops.sum([1.0])\\nprint(v)",
    ...          "x = np.ones(2)", "answer = x.sum()"]
    >>> sorted(cells_to_skip(cells, keep={3}))
    [1]
    >>> sorted(cells_to_skip(cells + ["print(v)"], keep={3, 4}))
    []
    >>> sorted(cells_to_skip(cells + ["glue('v', v)"], keep={3}))
    [1, 4]
    """
    skip: set[int] = set()
    needed: set[str] = set()
    anything = False  # a kept cell may read any name
    for i in range(len(sources) - 1, -1, -1):
        bound = None if i in keep or anything else names_bound(sources[i])
        if bound is not None and not bound & needed:
            skip.add(i)
            continue
        read = names_read(sources[i])
        if read is None:
            anything = True
        else:
            needed |= read
    return skip
