"""``glue``: record a computed value in a notebook so the book's prose can quote it.

This writes exactly what :func:`myst_nb.glue` writes — a display output whose
metadata ``scrapbook.name`` is the key and whose MIME types carry the
``application/papermill.record/`` prefix — so ``{glue:text}`key``` in the
book's markdown and ``medkit.book.runner`` (which fills ``_build/results.json``)
both read it. Two differences:

* numpy scalars and arrays are turned into plain Python numbers and lists
  first, so the stored text is ``0.5``, not ``np.float64(0.5)``, and reads
  back with :func:`ast.literal_eval`;
* importing it is instant, whereas ``myst_nb.glue`` imports nbformat and
  jsonschema, which cost about 4 s in every kernel.
"""
from __future__ import annotations

from typing import Any

import numpy as np

GLUE_PREFIX = "application/papermill.record/"


def to_plain(value: Any) -> Any:
    """Convert numpy scalars/arrays (also inside lists, tuples and dicts) to Python builtins.

    Examples
    --------
    >>> to_plain({"auc": np.float64(0.5), "shape": (np.int64(3),), "v": np.array([1.0, 2.0])})
    {'auc': 0.5, 'shape': [3], 'v': [1.0, 2.0]}
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Store ``variable`` under ``name`` in the cell's outputs (and show it if ``display``).

    Examples
    --------
    In a notebook cell::

        glue("ce_article_example", loss, display=False)

    and in markdown: ``{glue:text}`ce_article_example:.4f```.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    mimebundle, metadata = format_display_data(to_plain(variable))
    mime_prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": mime_prefix}
    ipy_display({mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)


def glue_all(values: dict[str, Any]) -> None:
    """Record several values at once, none of them displayed (one cell per section).

    Parameters
    ----------
    values : dict
        Maps each glue name to its value, e.g. ``{"ce_loss": loss, "n_train": 240}``.

    Examples
    --------
    In a notebook cell (tagged ``remove-input`` when it only records values)::

        glue_all({"ce_article_example": loss, "ce_n_classes": 3})
    """
    if not isinstance(values, dict):
        raise TypeError(f"glue_all takes a dict of name -> value, not {type(values).__name__}")
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"glue_all: every name must be a non-empty string, got {name!r}")
        glue(name, value, display=False)
