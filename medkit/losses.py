"""Cross-entropy losses and their gradients, in numpy (chapter 1).

Four functions cover the cases a classifier meets:

==============================  ====================  =============================
function                        model output          labels
==============================  ====================  =============================
:func:`binary_cross_entropy`     probability p         0/1 (or soft) per output
:func:`binary_cross_entropy` +   logit z               0/1 (or soft) per output
``from_logits=True``
:func:`categorical_cross_entropy` probability rows     one-hot (or soft) rows
:func:`categorical_cross_entropy` logit rows          one-hot (or soft) rows
+ ``from_logits=True``
==============================  ====================  =============================

On probabilities the predictions are clipped to ``[eps, 1 - eps]`` (Keras does
the same with ``eps = 1e-7``) so that a prediction of exactly 0 or 1 gives a
large finite loss instead of ``inf``. On logits nothing is clipped: the
log-sum-exp form is exact and stable for any finite logit, which is why
frameworks prefer it.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medkit.validation import (check_choice, check_finite, check_not_empty, check_rows_sum_to_one, check_same_shape,
                               check_unit_interval)

EPSILON = 1e-7  # the same clipping constant as keras.config.epsilon()
ROW_SUM_TOLERANCE = 1e-4  # float32 softmax rows are typically off by ~1e-7

Reduction = Literal["mean", "sum", "none"]


def _as_float_arrays(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    check_same_shape(y, p, "y_true", "y_pred")
    check_not_empty(y, "y_true")
    check_finite(p, "y_pred")
    check_finite(y, "y_true")
    return y, p


def _check_probabilities(name: str, values: NDArray[np.float64]) -> None:
    check_unit_interval(values, name, "Pass from_logits=True if these are logits.")


def _reduce(per_sample: NDArray[np.float64], reduction: Reduction) -> float | NDArray[np.float64]:
    check_choice(reduction, ("mean", "sum", "none"), "reduction")
    if reduction == "mean":
        return float(per_sample.mean())
    if reduction == "sum":
        return float(per_sample.sum())
    return per_sample


def sigmoid(z: ArrayLike) -> NDArray[np.float64]:
    """Logistic function ``1 / (1 + exp(-z))``, computed without overflow for large ``|z|``.

    Taught in chapter 1, section *Logits and numerical stability* (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    z : array_like
        Logits, any shape.

    Returns
    -------
    ndarray of float64
        Probabilities in ``[0, 1]``, the shape of ``z``.

    Examples
    --------
    >>> sigmoid([0.0, 800.0, -800.0]).tolist()
    [0.5, 1.0, 0.0]
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def log_softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """``log(softmax(z))`` via log-sum-exp, finite for any finite logits.

    Taught in chapter 1, section *Logits and numerical stability* (``notebooks/01_cross_entropy.ipynb``):
    subtracting the largest logit first is what keeps ``exp`` from overflowing.

    Parameters
    ----------
    z : array_like
        Logits; ``axis`` (default the last) holds the classes.

    Returns
    -------
    ndarray of float64
        Log-probabilities, the shape of ``z``.

    Examples
    --------
    >>> np.round(np.exp(log_softmax([1000.0, 1000.0])), 3).tolist()
    [0.5, 0.5]
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """Row-wise softmax (probabilities that sum to 1 along ``axis``), ``exp`` of :func:`log_softmax`.

    Taught in chapter 1, section *Logits and numerical stability* (``notebooks/01_cross_entropy.ipynb``),
    for the categorical loss on logits.

    Parameters
    ----------
    z : array_like
        Logits.
    axis : int
        The axis along which the probabilities sum to 1.

    Returns
    -------
    ndarray of float64
        Probabilities, the shape of ``z``.

    Examples
    --------
    >>> softmax([0.0, np.log(3.0)]).round(6).tolist()
    [0.25, 0.75]
    """
    return np.exp(log_softmax(z, axis=axis))


def binary_cross_entropy(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False,
                         reduction: Reduction = "mean", eps: float = EPSILON) -> float | NDArray[np.float64]:
    r"""Binary cross-entropy :math:`-[y \ln p + (1-y) \ln(1-p)]`, averaged over all outputs.

    Taught in chapter 1, sections *Confident mistakes cost the most* and *Logits
    and numerical stability* (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    y_true
        Labels in [0, 1] (usually 0 or 1), any shape.
    y_pred
        Predicted probabilities of class 1 (or logits with ``from_logits=True``), same shape.
    from_logits
        Treat ``y_pred`` as logits ``z`` (``p = sigmoid(z)``) and use the stable form
        ``max(z, 0) - z y + log(1 + exp(-|z|))``.
    reduction
        ``"mean"`` (a float, like Keras), ``"sum"`` or ``"none"`` (per-output array).
    eps
        Probabilities are clipped to ``[eps, 1 - eps]`` so that 0 and 1 give a finite loss.

    Returns
    -------
    float or ndarray
        The mean (or sum) loss, or the per-output losses for ``reduction="none"``.

    Examples
    --------
    >>> round(binary_cross_entropy([1, 0], [0.9, 0.2]), 6)
    0.164252
    >>> round(binary_cross_entropy([1], [0.0]), 4)  # clipped, not inf
    16.1181
    >>> round(binary_cross_entropy([1, 0], [2.0, -1.0], from_logits=True), 6)
    0.220095
    """
    y, p = _as_float_arrays(y_true, y_pred)
    _check_probabilities("y_true", y)
    if from_logits:
        per_output = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
    else:
        _check_probabilities("y_pred", p)
        p = np.clip(p, eps, 1 - eps)
        per_output = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return _reduce(per_output, reduction)


def categorical_cross_entropy(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False,
                              reduction: Reduction = "mean", eps: float = EPSILON) -> float | NDArray[np.float64]:
    r"""Categorical cross-entropy :math:`-\sum_k y_k \ln \hat{y}_k` per row, averaged over rows.

    Taught in chapter 1, sections *From likelihood to loss* and *The source
    article's worked example* (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    y_true
        One-hot (or soft) label rows, shape ``(K,)`` for one sample or ``(N, K)``; each row sums to 1.
    y_pred
        Predicted probability rows (each summing to 1), or logits with ``from_logits=True``.
    from_logits
        Use ``logsumexp(z) - sum_k y_k z_k``, exact for any finite logits.
    reduction
        ``"mean"`` over rows (a float), ``"sum"`` or ``"none"`` (one loss per row).
    eps
        Probabilities are clipped to ``[eps, 1 - eps]`` before the logarithm.

    Returns
    -------
    float or ndarray
        The mean (or sum) loss over rows, or one loss per row for ``reduction="none"``.

    Examples
    --------
    The source article's example: the true class is the second one, the model gives it 0.1.

    >>> round(categorical_cross_entropy([0, 1], [0.9, 0.1]), 6)
    2.302585
    >>> categorical_cross_entropy([[1, 0], [0, 1]], [[0.8, 0.2], [0.3, 0.7]], reduction="none").round(4).tolist()
    [0.2231, 0.3567]
    """
    y, p = _as_float_arrays(y_true, y_pred)
    if y.ndim == 0:
        raise ValueError("categorical cross-entropy needs rows of class scores; got a scalar.")
    _check_probabilities("y_true", y)
    check_rows_sum_to_one(y, "y_true", ROW_SUM_TOLERANCE)
    if from_logits:
        per_row = -(y * log_softmax(p)).sum(axis=-1)
    else:
        _check_probabilities("y_pred", p)
        check_rows_sum_to_one(p, "y_pred", ROW_SUM_TOLERANCE)
        per_row = -(y * np.log(np.clip(p, eps, 1 - eps))).sum(axis=-1)
    return _reduce(np.atleast_1d(per_row), reduction)


def binary_cross_entropy_grad(
    y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False, eps: float = EPSILON
) -> NDArray[np.float64]:
    r"""Gradient of the mean binary cross-entropy with respect to ``y_pred``.

    On logits it is the famous :math:`(\sigma(z) - y) / n`; on probabilities
    :math:`(p - y) / (p (1 - p) n)`, which blows up near 0 and 1 — one reason to
    train on logits. Inside the clipping range; zero where the clip is active.

    Taught in chapter 1, section *The gradient* (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    y_true
        Labels in [0, 1], any shape.
    y_pred
        Probabilities (or logits with ``from_logits=True``), same shape.
    from_logits
        Differentiate with respect to the logits.
    eps
        The clipping constant of :func:`binary_cross_entropy`.

    Returns
    -------
    ndarray of float64
        ``d loss / d y_pred`` for each output, the shape of ``y_pred``.

    Examples
    --------
    >>> binary_cross_entropy_grad([1.0, 0.0], [0.0, 0.0], from_logits=True).tolist()
    [-0.25, 0.25]
    """
    y, p = _as_float_arrays(y_true, y_pred)
    _check_probabilities("y_true", y)
    n = y.size
    if from_logits:
        return (sigmoid(p) - y) / n
    _check_probabilities("y_pred", p)
    inside = (p > eps) & (p < 1 - eps)
    pc = np.clip(p, eps, 1 - eps)
    return np.where(inside, (pc - y) / (pc * (1 - pc) * n), 0.0)


def categorical_cross_entropy_grad(
    y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False, eps: float = EPSILON
) -> NDArray[np.float64]:
    r"""Gradient of the mean categorical cross-entropy with respect to ``y_pred``.

    On logits: :math:`(\mathrm{softmax}(z) - y) / N`. On probabilities (treated as free
    inputs): :math:`-y / (\hat{y} N)`.

    Taught in chapter 1, section *The gradient* (``notebooks/01_cross_entropy.ipynb``).

    Parameters
    ----------
    y_true
        One-hot (or soft) label rows.
    y_pred
        Probability rows (or logits with ``from_logits=True``), same shape.
    from_logits
        Differentiate with respect to the logits.
    eps
        The clipping constant of :func:`categorical_cross_entropy`.

    Returns
    -------
    ndarray of float64
        One gradient row per label row.

    Examples
    --------
    >>> categorical_cross_entropy_grad([[0, 1]], [[0.0, 0.0]], from_logits=True).tolist()
    [[0.5, -0.5]]
    """
    y, p = _as_float_arrays(y_true, y_pred)
    _check_probabilities("y_true", y)
    check_rows_sum_to_one(y, "y_true", ROW_SUM_TOLERANCE)
    rows = 1 if y.ndim == 1 else int(np.prod(y.shape[:-1]))
    if from_logits:
        return (softmax(p) - y) / rows
    _check_probabilities("y_pred", p)
    check_rows_sum_to_one(p, "y_pred", ROW_SUM_TOLERANCE)
    inside = (p > eps) & (p < 1 - eps)
    return np.where(inside, -y / (np.clip(p, eps, 1 - eps) * rows), 0.0)
