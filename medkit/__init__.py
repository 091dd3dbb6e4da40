"""medkit: the helper package of the multimodal-medicine teaching kit.

Each chapter of the book teaches code that lives here, one module per concept:
``losses``, ``optim``, ``fusion``, ``metrics``, ``data``, ``synth``, ``models``,
``train``, ``plots``, ``exercises`` (the self-checks), ``glue`` and ``deploy``.
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

import importlib
import inspect
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The Jupyter kernel the notebooks run on (``make setup`` installs it; their metadata names it).
KERNEL_NAME = "medkit"

#: The taught modules, reachable as ``medkit.<name>`` without importing them first.
#: ``book`` and ``classroom`` are imported explicitly (``from medkit.book import runner``).
_SUBMODULES = (
    "losses", "optim", "fusion", "metrics", "data", "synth", "models", "train", "plots",
    "exercises", "glue", "deploy", "validation",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"medkit.{name}")
    raise AttributeError(f"module 'medkit' has no attribute {name!r}")


def show_source(obj: Any) -> Any:
    """Display the source code of a medkit function or class in a notebook.

    Chapters show the code they teach with this instead of pasting a second
    copy that could drift from the package.

    Examples
    --------
    >>> from medkit import losses, show_source
    >>> show_source(losses.binary_cross_entropy)  # doctest: +SKIP
    """
    source = inspect.getsource(obj)
    try:
        from IPython.display import Markdown
    except ImportError:  # plain Python: just return the text
        return source
    return Markdown(f"```python\n{source}```")
