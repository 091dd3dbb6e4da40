"""medkit: the helper package of the multimodal-medicine teaching kit.

Each chapter of the book teaches code that lives here, one module per concept:
``losses``, ``optim``, ``fusion``, ``metrics``, ``data``, ``synth``, ``models``,
``train``, ``plots``, ``exercises`` (the self-checks), ``glue`` and ``deploy``;
``language`` is the one setting for the language figures and self-checks speak.
``validation`` holds the input checks they share (labels, scores,
probabilities, shapes), so that bad input gets the same clear error everywhere.
Every public function's docstring names the chapter section that teaches it.

Two subpackages hold what is not taught, named after their users:

- :mod:`medkit.book`: what authors and CI use to run, check and publish the
  book (``runner``, ``site``, ``repro``, ``calibration``, ``warmup``,
  ``errata`` and the command line ``cli``, i.e. ``python -m medkit``);
- :mod:`medkit.classroom`: what instructors use to hand out and grade the
  exercises (``markup``, ``student``, ``grade``, ``sandbox``, ``hidden``).

Modules are imported lazily so that ``import medkit`` stays fast and does not
pull in TensorFlow for a chapter that only needs numpy.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The Jupyter kernel the notebooks run on (``make setup`` installs it; their metadata names it).
KERNEL_NAME = "medkit"
#: The same kernel speaking Chinese (``MEDKIT_LANG=zh``): the Chinese reader copies and student versions name it.
KERNEL_NAME_ZH = "medkit-zh"

#: The taught modules, reachable as ``medkit.<name>`` without importing them first.
#: ``book`` and ``classroom`` are imported explicitly (``from medkit.book import runner``).
_SUBMODULES = (
    "losses", "optim", "fusion", "metrics", "data", "synth", "models", "train", "plots",
    "exercises", "glue", "deploy", "validation", "language",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"medkit.{name}")
    raise AttributeError(f"module 'medkit' has no attribute {name!r}")


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_summary(docstring: str) -> str:
    r"""The first paragraph of a docstring as plain text: reST roles and literals unwrapped.

    Parameters
    ----------
    docstring : str
        A numpydoc docstring.

    Returns
    -------
    str
        Its summary paragraph on one line, without ``:func:``, ``:math:`` or double backticks.

    Examples
    --------
    >>> plain_summary("Mean of :math:`-y` over ``y``, see :func:`~medkit.losses.sigmoid`.\n\nMore.")
    'Mean of -y over y, see medkit.losses.sigmoid.'
    """
    first = inspect.cleandoc(docstring).split("\n\n", 1)[0]
    return " ".join(_LITERAL.sub(r"\1", _ROLE.sub(r"\1", first)).split())


def _source_with_summary(obj: Any) -> str:
    """``obj``'s source with its docstring cut to the plain-text summary (the full one is in ``help``)."""
    source = textwrap.dedent(inspect.getsource(obj))
    tree = ast.parse(source)
    node = tree.body[0]
    doc = ast.get_docstring(node, clean=False) if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else None
    if not doc:
        return source
    first = node.body[0]
    lines = source.splitlines(keepends=True)
    indent = " " * first.col_offset
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "it"))
    text = f"{plain_summary(doc)} (full docstring: help({name}))"
    summary = textwrap.fill(text, width=88, initial_indent=f'{indent}"""', subsequent_indent=indent) + '"""\n'
    return "".join(lines[:first.lineno - 1] + [summary] + lines[first.end_lineno:])


def show_source(obj: Any) -> Any:
    """Display the source code of a medkit function or class in a notebook.

    Chapters show the code they teach with this instead of pasting a second
    copy that could drift from the package. The docstring is cut to its
    summary in plain text; ``help(obj)`` shows all of it.

    Parameters
    ----------
    obj : function or class
        What to show.

    Returns
    -------
    IPython.display.Markdown or str
        A Python code block (the text itself outside IPython).

    Examples
    --------
    >>> from medkit import losses
    >>> shown = _source_with_summary(losses.binary_cross_entropy)
    >>> "(full docstring: help(binary_cross_entropy))" in shown, ":math:" in shown
    (True, False)
    """
    source = _source_with_summary(obj)
    try:
        from IPython.display import Markdown
    except ImportError:  # plain Python: just return the text
        return source
    return Markdown(f"```python\n{source}```")
