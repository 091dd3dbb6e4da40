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

In JupyterLab, a student reads a *reader copy* of the chapter (written by
``make lab`` or ``medkit student``, see :mod:`medkit.book.reader`) whose text
quotes the values of the reference run. When such a notebook is re-run in
JupyterLab (the kernel knows its notebook from ``JPY_SESSION_NAME``, which
Jupyter sets; papermill and the book build do not), :func:`glue` also

* prints one line when the value, formatted as the text shows it, differs
  from the text ("the text says 0.877 (reference run, seed 0); this run
  gives 0.881"), so a changed parameter never silently contradicts the prose;
* shows a glued figure in the cell's output, since JupyterLab cannot render
  the book's ``{glue:figure}``.

The recorded output is the same in every case.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
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

    plain = to_plain(variable)
    mimebundle, metadata = format_display_data(plain)
    mime_prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": mime_prefix}
    ipy_display({mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
    reader = _reader_metadata()
    if reader is None:
        return
    if not display and any(k.startswith("image/") for k in mimebundle):
        ipy_display(dict(mimebundle), raw=True, metadata={})
    note = difference_note(name, plain, reader)
    if note:
        print(note)


def format_value(value: Any, spec: str = "") -> str:
    """The text ``{glue:text}`name:spec``` shows for ``value`` (myst-nb's rule; ``"repr"`` for ``{glue}``).

    Examples
    --------
    >>> format_value(0.87654, ".3f"), format_value("concat"), format_value("concat", "repr")
    ('0.877', 'concat', "'concat'")
    """
    if spec == "repr":
        return repr(value)
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, spec)


def difference_note(name: str, value: Any, reader: dict[str, Any]) -> str | None:
    """The line to print when ``value`` differs from what the reader copy's text shows for ``name``.

    Parameters
    ----------
    name
        The glue name.
    value
        The value this run computed (plain Python, see :func:`to_plain`).
    reader
        The ``medkit.reader`` metadata of the reader copy: ``{"origin": ..., "shown": {name: {spec: text}}}``.

    Returns
    -------
    str or None
        ``None`` when the text does not quote ``name`` or shows the same text.

    Examples
    --------
    >>> meta = {"origin": "reference run, seed 0", "shown": {"auc": {".3f": "0.877"}}}
    >>> difference_note("auc", 0.8772, meta) is None
    True
    >>> difference_note("auc", 0.881, meta)
    'note: the text says auc = 0.877 (reference run, seed 0); this run gives 0.881.'
    """
    shown = reader.get("shown", {}).get(name)
    if not shown:
        return None
    for spec, text in shown.items():
        try:
            now = format_value(value, spec)
        except (TypeError, ValueError):
            now = str(value)
        if now != text:
            origin = reader.get("origin", "reference run")
            return f"note: the text says {name} = {text} ({origin}); this run gives {now}."
    return None


_READER_CACHE: dict[str, tuple[int, dict[str, Any] | None]] = {}


def _reader_metadata() -> dict[str, Any] | None:
    """The ``medkit.reader`` metadata of the notebook this JupyterLab kernel runs, or ``None``.

    ``None`` outside JupyterLab (papermill, the book build, the grader, plain
    Python) and for notebooks that are not reader copies.
    """
    session = os.environ.get("JPY_SESSION_NAME")
    if not session:
        return None
    path = Path(session)
    if not path.is_absolute() or not path.is_file():
        path = Path.cwd() / path.name
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _READER_CACHE.get(str(path))
    if cached is None or cached[0] != stamp:
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("medkit", {}).get("reader")
        except (OSError, ValueError, AttributeError):
            meta = None
        cached = (stamp, meta if isinstance(meta, dict) else None)
        _READER_CACHE[str(path)] = cached
    return cached[1]


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
