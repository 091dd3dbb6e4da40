"""Input checks shared by the taught modules: one place for labels, scores, probabilities and shapes.

Every chapter's functions refuse bad input the same way: a ``ValueError``
whose message names the argument, says what was expected and shows what was
found (the first offending value and its index where there is one). The
checks live here, once, instead of in a private copy per module:

======================================  ===============================================
check                                   used for
======================================  ===============================================
:func:`as_labels`                       0/1 labels (metrics, training data)
:func:`as_scores`                       real-valued scores (ranking metrics)
:func:`as_features`                     a design matrix ``(n,)`` or ``(n, d)`` (chapter 2)
:func:`label_array`                     the ``"label"`` entry of one split's arrays
:func:`check_unit_interval`             probabilities in ``[0, 1]``
:func:`check_rows_sum_to_one`           probability rows (categorical cross-entropy)
:func:`check_finite`                    no ``nan`` or ``inf``
:func:`check_same_shape`,               two arrays that go together
:func:`check_same_length`
:func:`check_equal_widths`              modalities averaged or summed (fusion)
:func:`check_keys`                      a mapping holds the entries a model needs
:func:`check_choice`                    a string option among a few
:func:`check_positive`,                 step sizes, counts, sizes
:func:`check_positive_int`
:func:`check_fraction`,                 dropout rates, significance levels
:func:`check_alpha`
======================================  ===============================================

Only numpy is imported, so every chapter can use these without loading TensorFlow.
No chapter teaches this module: each function's docstring names the chapters whose
functions call it.

Examples
--------
>>> as_labels([0, 1, 1]).tolist()
[0, 1, 1]
>>> as_labels([0, 2], "y_true")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: y_true must hold only 0 and 1; found 2 at index 1. Threshold scores first (predict_at) ...
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "as_labels", "as_scores", "as_features", "label_array", "check_unit_interval", "check_rows_sum_to_one",
    "check_finite", "check_not_empty", "check_same_shape", "check_same_length", "check_equal_widths",
    "check_keys", "check_choice", "check_positive", "check_positive_int", "check_fraction", "check_alpha",
]


def _column(y: ArrayLike) -> np.ndarray:
    """A 1-D view of ``y``; a ``(n, 1)`` or ``(1, n)`` column or row is flattened, other shapes are kept."""
    arr = np.asarray(y)
    return arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr


def check_not_empty(values: np.ndarray, name: str) -> None:
    """Refuse an array with no entries.

    Not taught on its own; used by every chapter's functions (e.g. chapter 1's losses,
    ``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    values : ndarray
        The array.
    name : str
        Its name, for the message.

    Returns
    -------
    None
        Returns only when ``values`` has an entry.

    Examples
    --------
    >>> check_not_empty(np.zeros(0), "y_true")
    Traceback (most recent call last):
    ...
    ValueError: y_true is empty: at least one sample is needed.
    """
    if np.size(values) == 0:
        raise ValueError(f"{name} is empty: at least one sample is needed.")


def check_finite(values: np.ndarray, name: str) -> None:
    """Refuse ``nan`` and ``inf``.

    Not taught on its own; used by chapters 1-4 (losses, gradient descent, fusion, metrics).

    Parameters
    ----------
    values : ndarray
        Numbers.
    name : str
        Their name, for the message.

    Returns
    -------
    None
        Returns only when every value is a finite number.

    Examples
    --------
    >>> check_finite(np.array([1.0, np.inf]), "y_pred")
    Traceback (most recent call last):
    ...
    ValueError: y_pred contains nan or inf.
    """
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains nan or inf.")


def as_labels(y: ArrayLike, name: str = "y_true") -> NDArray[np.int64]:
    """0/1 labels as a 1-D ``int64`` array (a column ``(n, 1)`` is flattened; booleans are accepted).

    Not taught on its own; used by chapter 4's metrics, section *The confusion matrix*
    (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y : array_like
        Labels, 1 for the condition ("positive") and 0 otherwise.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    ndarray of int64, shape (n,)
        The labels as 0 and 1.

    Examples
    --------
    >>> as_labels([True, False]).tolist()
    [1, 0]
    >>> as_labels(np.array([[0.0], [1.0]])).tolist()
    [0, 1]
    """
    arr = _column(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of 0/1 labels; got shape {np.shape(y)}.")
    check_not_empty(arr, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    try:
        f = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold 0/1 labels: {exc}") from exc
    bad = ~np.isin(f, (0.0, 1.0))
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must hold only 0 and 1; found {arr[i].item()!r} at index {i}. "
                         "Threshold scores first (predict_at) or map class names to 0/1.")
    return f.astype(np.int64)


def as_scores(y: ArrayLike, name: str = "y_score") -> NDArray[np.float64]:
    """Finite real scores as a 1-D ``float64`` array (a column ``(n, 1)`` is flattened).

    Not taught on its own; used by chapter 4's metrics, section *ROC and precision-recall curves*
    (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y : array_like
        Scores, probabilities or logits; larger means "more likely positive".
    name : str
        The argument's name, for the messages.

    Returns
    -------
    ndarray of float64, shape (n,)
        The scores as floats.

    Examples
    --------
    >>> as_scores([[0.25], [2.0]]).tolist()
    [0.25, 2.0]
    """
    arr = _column(np.asarray(y, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of scores; got shape {np.shape(y)}.")
    check_not_empty(arr, name)
    check_finite(arr, name)
    return arr


def as_features(X: ArrayLike, name: str = "X") -> NDArray[np.float64]:
    """Features as a finite ``float64`` matrix ``(n, d)``; a vector ``(n,)`` is one feature.

    Not taught on its own; used by chapter 2's gradient descent (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    X : array_like
        ``(n,)`` or ``(n, d)`` with ``n >= 1``.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    ndarray of float64, shape (n, d)
        One row per sample, one column per feature.

    Examples
    --------
    >>> as_features([1.0, 2.0]).shape
    (2, 1)
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]  # one feature
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be (n,) or (n, d) with n >= 1; got shape {np.shape(X)}.")
    check_finite(x, name)
    return x


def label_array(data: Mapping[str, Any], name: str = "data") -> NDArray[np.float32]:
    """The 0/1 ``"label"`` entry of one split's arrays, as ``float32`` ``(n,)`` (what Keras trains on).

    Not taught on its own; used by chapter 6's training, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    data : mapping
        One split's arrays, e.g. ``features.split("train")``.
    name : str
        The mapping's name, for the messages.

    Returns
    -------
    ndarray of float32, shape (n,)
        The labels, ready for Keras.

    Examples
    --------
    >>> label_array({"label": np.array([0, 1])}).tolist()
    [0.0, 1.0]
    >>> label_array({"image": np.zeros(2)}, "train")
    Traceback (most recent call last):
    ...
    ValueError: train has no 'label' array; keys are ['image'].
    """
    if "label" not in data:
        raise ValueError(f"{name} has no 'label' array; keys are {sorted(data)}.")
    return as_labels(np.asarray(data["label"]).reshape(-1), f"{name}['label']").astype(np.float32)


def check_unit_interval(values: np.ndarray, name: str, hint: str = "") -> None:
    """Refuse values outside ``[0, 1]``, naming how many and the first one.

    Not taught on its own; used by chapter 1's cross-entropy (``notebooks/01_cross_entropy.ipynb``) and the
    Brier score.

    Parameters
    ----------
    values : ndarray
        Probabilities (or soft labels).
    name : str
        Their name, for the message.
    hint : str
        A sentence appended to the message (what to do instead).

    Returns
    -------
    None
        Returns only when every value lies in [0, 1].

    Examples
    --------
    >>> check_unit_interval(np.array([0.2, 1.5]), "y_pred", "Pass from_logits=True if these are logits.")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y_pred must be probabilities in [0, 1]; 1 value(s) are outside, first at index (1,): 1.5. Pass ...
    """
    values = np.asarray(values)
    outside = (values < 0) | (values > 1)
    if np.any(outside):
        first = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"{name} must be probabilities in [0, 1]; {int(outside.sum())} value(s) are outside, "
                         f"first at index {first}: {values[first].item()!r}." + (f" {hint}" if hint else ""))


def check_rows_sum_to_one(values: np.ndarray, name: str, tolerance: float = 1e-4) -> None:
    """Refuse probability rows (last axis) whose sum is not 1 within ``tolerance``.

    Not taught on its own; used by chapter 1's categorical cross-entropy (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    values : ndarray
        ``(K,)`` or ``(..., K)`` rows of class probabilities.
    name : str
        Their name, for the message.
    tolerance : float
        Allowed ``|sum - 1|`` (float32 softmax rows are off by about 1e-7).

    Returns
    -------
    None
        Returns only when every row sums to 1.

    Examples
    --------
    >>> check_rows_sum_to_one(np.array([[0.5, 0.6]]), "y_pred")
    Traceback (most recent call last):
    ...
    ValueError: each row of y_pred must sum to 1; 1 row(s) do not, first at row (0,): sum = 1.1.
    """
    sums = np.asarray(values).sum(axis=-1)
    bad = np.abs(sums - 1.0) > tolerance
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if sums.ndim else ()
        raise ValueError(f"each row of {name} must sum to 1; {int(np.sum(bad))} row(s) do not, "
                         f"first at row {first}: sum = {float(sums[first]):.6g}.")


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Refuse two arrays of different shapes.

    Not taught on its own; used by chapter 1's losses and chapter 2's gradient step.

    Parameters
    ----------
    a, b : ndarray
        The arrays.
    name_a, name_b : str
        Their names, for the message.

    Returns
    -------
    None
        Returns only when the shapes agree.

    Examples
    --------
    >>> check_same_shape(np.zeros(2), np.zeros(3), "y_true", "y_pred")
    Traceback (most recent call last):
    ...
    ValueError: y_true and y_pred must have the same shape; got y_true (2,) and y_pred (3,).
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name_a} and {name_b} must have the same shape; "
                         f"got {name_a} {np.shape(a)} and {name_b} {np.shape(b)}.")


def check_same_length(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Refuse two per-sample sequences of different lengths (one entry per patient in each).

    Not taught on its own; used by chapters 2, 4 and 6 (features and targets, labels and scores).

    Parameters
    ----------
    a, b : sized
        Arrays or sequences; their first axis is the samples.
    name_a, name_b : str
        Their names, for the message.

    Returns
    -------
    None
        Returns only when the lengths agree.

    Examples
    --------
    >>> check_same_length([0, 1], [0.1, 0.2, 0.3], "y_true", "y_score")
    Traceback (most recent call last):
    ...
    ValueError: y_true and y_score must have the same length; got 2 and 3 (y_true has 2 samples but y_score has 3).
    """
    la, lb = len(a), len(b)
    if la != lb:
        raise ValueError(f"{name_a} and {name_b} must have the same length; got {la} and {lb} "
                         f"({name_a} has {la} samples but {name_b} has {lb}).")


def check_equal_widths(widths: Sequence[int], what: str, alternative: str) -> None:
    """Refuse modalities of different widths where they are averaged or summed element-wise.

    Not taught on its own; used by chapter 3's fusions, section *What average and sum lose*
    (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    widths : sequence of int
        Feature width of each modality.
    what : str
        The operation, e.g. ``"sum_fusion"``.
    alternative : str
        The fusion that accepts unequal widths, e.g. ``"concat_fusion"``.

    Returns
    -------
    None
        Returns only when every width is the same.

    Examples
    --------
    >>> check_equal_widths([3, 2], "sum_fusion", "concat_fusion")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: sum_fusion needs all modalities to have the same width; got widths [3, 2]. Pass projection_dim=k ...
    """
    widths = [int(w) for w in widths]
    if len(set(widths)) > 1:
        raise ValueError(f"{what} needs all modalities to have the same width; got widths {widths}. "
                         f"Pass projection_dim=k to project them to a common width first, or use {alternative}.")


def check_keys(data: Mapping[str, Any], keys: Iterable[str], name: str = "data", needed_by: str = "",
               hint: str = "") -> None:
    """Refuse a mapping that lacks some of ``keys``, listing what it lacks and what it has.

    Not taught on its own; used by chapter 6's training and prediction
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    data : mapping
        E.g. one split's arrays.
    keys : iterable of str
        The entries needed.
    name : str
        The mapping's name, for the message.
    needed_by : str
        Who needs them (appended as ", which ... needs").
    hint : str
        What to do about it (appended to the message).

    Returns
    -------
    None
        Returns only when every key is present.

    Examples
    --------
    >>> check_keys({"image": 1, "label": 2}, ["image", "ecg"])
    Traceback (most recent call last):
    ...
    ValueError: data lacks ['ecg']; it has ['image', 'label'].
    """
    absent = [k for k in keys if k not in data]
    if absent:
        who = f", which {needed_by} needs" if needed_by else ""
        raise ValueError(f"{name} lacks {absent}{who}; it has {sorted(data)}" + (f": {hint}." if hint else "."))


def check_choice(value: Any, choices: Sequence[Any], name: str) -> None:
    """Refuse an option that is not one of ``choices``.

    Not taught on its own; used by every chapter's options (``reduction``, ``model``, ``split``, ``fusion``,
    ...).

    Parameters
    ----------
    value : object
        The option given.
    choices : sequence
        The allowed options.
    name : str
        The argument's name, for the message.

    Returns
    -------
    None
        Returns only when ``value`` is one of ``choices``.

    Examples
    --------
    >>> check_choice("poisson", ("linear", "logistic"), "model")
    Traceback (most recent call last):
    ...
    ValueError: model must be one of 'linear', 'logistic'; got 'poisson'.
    """
    if value not in tuple(choices):
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_positive(value: Any, name: str) -> None:
    """Refuse a number that is not ``> 0`` (``nan`` included).

    Not taught on its own; used by chapter 2's learning rate (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    value : float
        E.g. a learning rate.
    name : str
        Its name, for the message.

    Returns
    -------
    None
        Returns only when ``value > 0``.

    Examples
    --------
    >>> check_positive(0.0, "lr")
    Traceback (most recent call last):
    ...
    ValueError: lr must be positive; got 0.0.
    """
    if not (_is_number(value) and value > 0):
        raise ValueError(f"{name} must be positive; got {value!r}.")


def check_positive_int(value: Any, name: str, allow_none: bool = False) -> None:
    """Refuse anything but an integer ``>= 1`` (and ``None`` when ``allow_none``).

    Not taught on its own; used by epochs, batch sizes, resamples and projection widths (chapters 2-6).

    Parameters
    ----------
    value : int
        E.g. a number of epochs or resamples.
    name : str
        Its name, for the message.
    allow_none : bool
        Accept ``None`` (an optional setting left unset).

    Returns
    -------
    None
        Returns only for an integer of at least 1.

    Examples
    --------
    >>> check_positive_int(0, "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer; got 0.
    """
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        either = "None or " if allow_none else ""
        raise ValueError(f"{name} must be {either}a positive integer; got {value!r}.")


def check_fraction(value: Any, name: str) -> None:
    """Refuse a rate outside ``[0, 1)`` (a dropout rate of 1 would drop everything).

    Not taught on its own; used by chapter 6's dropout rates (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    value : float
        The rate.
    name : str
        Its name, for the message.

    Returns
    -------
    None
        Returns only when ``0 <= value < 1``.

    Examples
    --------
    >>> check_fraction(1.0, "dropout")
    Traceback (most recent call last):
    ...
    ValueError: dropout must be in [0, 1); got 1.0.
    """
    if not (_is_number(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1); got {value!r}.")


def check_alpha(alpha: Any) -> None:
    """Refuse a significance level outside ``(0, 1)``; ``1 - alpha`` is an interval's coverage.

    Not taught on its own; used by chapter 4's intervals, sections *Confidence intervals by bootstrap* and
    *Intervals for a proportion*.

    Parameters
    ----------
    alpha : float
        0.05 for a 95% interval.

    Returns
    -------
    None
        Returns only when ``0 < alpha < 1``.

    Examples
    --------
    >>> check_alpha(1.5)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be in (0, 1); got 1.5 (0.05 gives a 95% interval).
    """
    if not (_is_number(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r} (0.05 gives a 95% interval).")
