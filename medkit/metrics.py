"""Evaluation metrics for binary classifiers, in numpy (chapter 4, capstone).

Labels are 0/1 (1 = the condition, "positive"); ``y_pred`` are 0/1 decisions;
``y_score`` are any real scores where larger means "more likely positive"
(probabilities, logits).

Counts and rates
    :func:`confusion_matrix` (sklearn layout ``[[TN, FP], [FN, TP]]``),
    :func:`accuracy`, :func:`precision` (= :func:`ppv`), :func:`recall`
    (= :func:`sensitivity`), :func:`specificity`, :func:`npv`,
    :func:`f1_score`, :func:`binary_metrics` (all of them in a dict).
Ranking
    :func:`roc_curve`, :func:`roc_auc`, :func:`precision_recall_curve`,
    :func:`average_precision` (AUPRC, the step-wise sum used by scikit-learn).
Calibration
    :func:`brier_score`.
Thresholds
    :func:`predict_at`, :func:`youden_threshold`,
    :func:`threshold_for_sensitivity`.
Uncertainty
    :func:`proportion_ci` (Wilson score or exact Clopper–Pearson interval of
    a proportion such as sensitivity ``k/n``), :func:`bootstrap_ci` (seeded
    percentile bootstrap over patients) and
    :func:`summary_with_ci` (AUROC, AUPRC, F1, sensitivity, specificity,
    Brier, each with a CI, from the same resamples).

Undefined values (decided here, tested in ``tests/test_metrics.py``)
    A rate whose denominator is zero (precision with no predicted positives,
    recall with no actual positives, ...) returns ``zero_division`` (default
    ``0.0``, as scikit-learn); pass ``zero_division=np.nan`` to see the gap.
    F1 is ``2TP / (2TP + FP + FN)`` and is ``zero_division`` only when that
    denominator is zero. :func:`roc_auc` returns ``nan`` when ``y_true`` holds one
    class only (scikit-learn raises instead); :func:`average_precision` returns
    ``nan`` when there is no positive. :func:`bootstrap_ci` drops resamples whose
    value is ``nan`` and reports how many it kept.

Examples
--------
>>> confusion_matrix([0, 1, 0, 1], [0, 0, 1, 1]).tolist()
[[1, 1], [1, 1]]
>>> accuracy([0, 1, 0, 1], [0, 0, 1, 1])
0.5
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medkit.validation import (as_labels, as_scores, check_alpha, check_positive_int, check_same_length,
                               check_unit_interval)

__all__ = [
    "confusion_matrix", "accuracy", "precision", "ppv", "recall", "sensitivity", "specificity", "npv",
    "f1_score", "binary_metrics", "roc_curve", "roc_auc", "precision_recall_curve", "average_precision",
    "brier_score", "predict_at", "youden_threshold", "threshold_for_sensitivity", "BootstrapCI",
    "bootstrap_ci", "summary_with_ci", "paired_bootstrap", "percentile_ci", "ProportionCI", "proportion_ci",
]


# ---------------------------------------------------------------- validation (medkit.validation)
def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    t, p = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    check_same_length(t, p, "y_true", "y_pred")
    return t, p


def _ratio(num: float, den: float, zero_division: float) -> float:
    return float(num / den) if den else float(zero_division)


# ---------------------------------------------------------------- counts and rates
def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.int64]:
    """2x2 confusion matrix ``[[TN, FP], [FN, TP]]`` (rows: actual 0/1, columns: predicted 0/1).

    Every count-based rate below is computed from these four counts.

    Taught in chapter 4, section *The confusion matrix* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.

    Returns
    -------
    ndarray of int64, shape (2, 2)
        Rows: actual 0/1; columns: predicted 0/1.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]).tolist()
    [[1, 1], [1, 2]]
    """
    t, p = _pair(y_true, y_pred)
    return np.bincount(2 * t + p, minlength=4).reshape(2, 2).astype(np.int64)


def _counts(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[int, int, int, int]:
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred).tolist()
    return tn, fp, fn, tp


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of correct decisions, ``(TP + TN) / N``.

    Taught in chapter 4, section *Accuracy under class imbalance* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.

    Returns
    -------
    float
        In [0, 1]; misleading when one class is rare.

    Examples
    --------
    >>> accuracy([1, 1, 0, 0], [1, 0, 0, 0])
    0.75
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return float((tp + tn) / (tn + fp + fn + tp))


def precision(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> float:
    """Positive predictive value ``TP / (TP + FP)``: of the patients flagged, the fraction who have it.

    Taught in chapter 4, section *The source article's example* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        Returned when nobody is flagged (TP + FP = 0); ``np.nan`` shows the gap.

    Returns
    -------
    float
        The PPV, in [0, 1].

    Examples
    --------
    >>> precision([1, 0, 1, 0], [1, 1, 0, 0])
    0.5
    >>> precision([1, 0], [0, 0])  # nothing flagged
    0.0
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fp, zero_division)


def recall(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> float:
    """Sensitivity ``TP / (TP + FN)``: of the patients who have it, the fraction flagged.

    Taught in chapter 4, sections *The source article's example* and *Sensitivity and
    specificity as clinicians use them* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        Returned when nobody has the condition (TP + FN = 0).

    Returns
    -------
    float
        The sensitivity, in [0, 1].

    Examples
    --------
    >>> recall([1, 1, 1, 0], [1, 1, 0, 0])
    0.6666666666666666
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fn, zero_division)


def specificity(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> float:
    """True negative rate ``TN / (TN + FP)``: of the patients without it, the fraction cleared.

    Taught in chapter 4, section *Sensitivity and specificity as clinicians use them*
    (``notebooks/04_metrics.ipynb``); first computed in *The source article's example*.

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        Returned when everybody has the condition (TN + FP = 0).

    Returns
    -------
    float
        The true negative rate, in [0, 1].

    Examples
    --------
    >>> specificity([0, 0, 0, 1], [0, 0, 1, 1])
    0.6666666666666666
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tn, tn + fp, zero_division)


def npv(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> float:
    """Negative predictive value ``TN / (TN + FN)``: of the patients cleared, the fraction truly negative.

    Taught in chapter 4 (``notebooks/04_metrics.ipynb``), section *The source article's
    example*, where it is read from the confusion matrix next to the PPV.

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        Returned when nobody is cleared (TN + FN = 0).

    Returns
    -------
    float
        The negative predictive value, in [0, 1].

    Examples
    --------
    >>> npv([0, 1, 0, 1], [0, 0, 1, 1])
    0.5
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tn, tn + fn, zero_division)


def f1_score(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> float:
    """Harmonic mean of precision and recall, computed as ``2TP / (2TP + FP + FN)``.

    The count form equals ``2PR / (P + R)`` whenever both are defined and stays
    defined when only one is (as in scikit-learn >= 1.3).

    Taught in chapter 4, section *The source article's example* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        Returned when 2TP + FP + FN = 0 (no positive, none flagged).

    Returns
    -------
    float
        In [0, 1]; 1 only when there is no false positive and no false negative.

    Examples
    --------
    >>> f1_score([0, 1, 0, 1], [0, 0, 1, 1])
    0.5
    """
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(2 * tp, 2 * tp + fp + fn, zero_division)


ppv = precision
sensitivity = recall


def binary_metrics(y_true: ArrayLike, y_pred: ArrayLike, zero_division: float = 0.0) -> dict[str, float | int]:
    """Every count and rate above in one dict (plain Python numbers).

    The rates are those of :func:`accuracy`, :func:`precision`, :func:`recall`,
    :func:`specificity`, :func:`npv` and :func:`f1_score`, on labels checked once.

    Taught in chapter 4, sections *The source article's example* and *Choosing a threshold*
    (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_pred : array_like
        Actual labels and decisions, 0/1, one per patient.
    zero_division : float
        What a rate with a zero denominator returns.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``tn``, ``fn`` (int) and ``accuracy``, ``precision``,
        ``recall``, ``specificity``, ``npv``, ``f1`` (float).

    Examples
    --------
    >>> binary_metrics([0, 1, 0, 1], [0, 0, 1, 1])["specificity"]
    0.5
    """
    t, p = _pair(y_true, y_pred)
    tn, fp, fn, tp = _counts(t, p)
    return {
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "accuracy": accuracy(t, p),
        "precision": precision(t, p, zero_division),
        "recall": recall(t, p, zero_division),
        "specificity": specificity(t, p, zero_division),
        "npv": npv(t, p, zero_division),
        "f1": f1_score(t, p, zero_division),
    }


# ---------------------------------------------------------------- ranking curves
def _cumulative_counts(y_true: ArrayLike, y_score: ArrayLike
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """FP and TP counts when predicting positive for ``score >= t``, for each distinct score ``t`` (descending)."""
    t = as_labels(y_true, "y_true")
    s = as_scores(y_score, "y_score")
    check_same_length(t, s, "y_true", "y_score")
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    # Tied scores share one threshold: keep only the last index of each run of equal scores.
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(t)[last_of_run].astype(np.float64)
    fps = (last_of_run + 1 - tps).astype(np.float64)
    return fps, tps, s[last_of_run]


def roc_curve(y_true: ArrayLike, y_score: ArrayLike
              ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ROC curve: false-positive rate, true-positive rate and the thresholds giving them.

    One point per distinct score (predict positive when ``score >= threshold``),
    plus the start point (0, 0) at threshold ``inf``, like
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``. With one class
    only, the undefined rate is ``nan``.

    Taught in chapter 4, section *ROC and precision-recall curves* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.

    Returns
    -------
    fpr, tpr, thresholds : ndarray of float64
        One entry per point, thresholds descending from ``inf``.

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    fps, tps, thr = _cumulative_counts(y_true, y_score)
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / fps[-1] if fps[-1] else np.full_like(fps, np.nan)
        tpr = tps / tps[-1] if tps[-1] else np.full_like(tps, np.nan)
    return fpr, tpr, np.r_[np.inf, thr]


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (trapezoids; ties count one half); ``nan`` with one class only.

    Equals the probability that a random positive scores higher than a random
    negative (the Mann-Whitney U statistic divided by ``n_pos * n_neg``).

    Taught in chapter 4, section *ROC and precision-recall curves* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.

    Returns
    -------
    float
        In [0, 1] (0.5 for random scores), or ``nan`` with one class.

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> roc_auc([1, 1], [0.2, 0.9])
    nan
    """
    fpr, tpr, _ = roc_curve(y_true, y_score)
    if np.isnan(fpr[-1]) or np.isnan(tpr[-1]):
        return float("nan")
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y_true: ArrayLike, y_score: ArrayLike
                           ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Precision and recall for each distinct threshold, in scikit-learn's order and convention.

    ``thresholds`` ascend; ``precision``/``recall`` have one more entry, the end
    point (precision 1, recall 0). With no positive at all recall is set to 1
    (as scikit-learn does, without its warning).

    Taught in chapter 4, section *ROC and precision-recall curves* (``notebooks/04_metrics.ipynb``), right panel.

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.

    Returns
    -------
    precision, recall, thresholds : ndarray of float64
        Precision and recall for ascending thresholds, plus the end point.

    Examples
    --------
    >>> p, r, t = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> p.round(3).tolist(), r.tolist()
    ([0.5, 0.667, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0])
    """
    fps, tps, thr = _cumulative_counts(y_true, y_score)
    prec = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=(tps + fps) != 0)
    rec = tps / tps[-1] if tps[-1] else np.ones_like(tps)
    return np.r_[prec[::-1], 1.0], np.r_[rec[::-1], 0.0], thr[::-1]


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """AUPRC as average precision ``sum_n (R_n - R_{n-1}) P_n``; ``nan`` when there is no positive.

    The step-wise sum (no interpolation between points) is what scikit-learn's
    ``average_precision_score`` computes; a trapezoid under the PR curve would
    be optimistic. A random classifier scores about the prevalence.

    Taught in chapter 4, section *ROC and precision-recall curves* (``notebooks/04_metrics.ipynb``), as AUPRC.

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.

    Returns
    -------
    float
        In [0, 1], or ``nan`` without positives.

    Examples
    --------
    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    p, r, _ = precision_recall_curve(y_true, y_score)
    if not np.any(as_labels(y_true, "y_true")):
        return float("nan")
    return float(max(0.0, -np.sum(np.diff(r) * p[:-1])))


# ---------------------------------------------------------------- calibration
def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared difference between predicted probability and outcome (0 is perfect; lower is better).

    Taught in chapter 6, section *Calibration* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    y_true : array_like
        Labels, 0/1 ``(n,)``.
    y_prob : array_like
        Predicted probabilities in ``[0, 1]``, ``(n,)``.

    Returns
    -------
    float
        In [0, 1]; 0 is perfect.

    Examples
    --------
    >>> brier_score([0, 1], [0.25, 0.5])
    0.15625
    """
    t = as_labels(y_true, "y_true")
    p = as_scores(y_prob, "y_prob")
    check_same_length(t, p, "y_true", "y_prob")
    check_unit_interval(p, "y_prob", "The Brier score compares probabilities with outcomes: apply a sigmoid to "
                        "logits first.")
    return float(np.mean((p - t) ** 2))


# ---------------------------------------------------------------- thresholds
def predict_at(y_score: ArrayLike, threshold: float = 0.5) -> NDArray[np.int64]:
    """Decisions ``score >= threshold`` as 0/1.

    Taught in chapter 4, sections *Accuracy under class imbalance* and *Choosing a threshold*
    (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_score : array_like
        Scores ``(n,)``.
    threshold : float
        Scores at or above it are flagged positive.

    Returns
    -------
    ndarray of int64, shape (n,)
        1 where ``y_score >= threshold``.

    Examples
    --------
    >>> predict_at([0.2, 0.5, 0.9], 0.5).tolist()
    [0, 1, 1]
    """
    return (as_scores(y_score, "y_score") >= threshold).astype(np.int64)


def youden_threshold(y_true: ArrayLike, y_score: ArrayLike) -> tuple[float, float]:
    """The threshold maximising Youden's J = sensitivity + specificity - 1, and J.

    Ties go to the highest threshold (fewest positives flagged). Needs both classes.

    Taught in chapter 4, section *Choosing a threshold* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.

    Returns
    -------
    threshold, j : float
        The best threshold and its J = sensitivity + specificity - 1.

    Examples
    --------
    >>> youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    (0.8, 0.5)
    """
    fpr, tpr, thr = roc_curve(y_true, y_score)
    if np.isnan(fpr[-1]) or np.isnan(tpr[-1]):
        raise ValueError("youden_threshold needs both classes in y_true.")
    j = tpr - fpr
    best = int(np.argmax(j[1:])) + 1  # skip the inf start point, which flags nobody
    return float(thr[best]), float(j[best])


def threshold_for_sensitivity(y_true: ArrayLike, y_score: ArrayLike, target: float = 0.9
                              ) -> tuple[float, float, float]:
    """Highest threshold whose sensitivity is at least ``target``; returns (threshold, sensitivity, specificity).

    The highest such threshold flags the fewest patients, so it has the best
    specificity among the thresholds meeting the target (the usual screening rule).

    Taught in chapter 4, section *Choosing a threshold* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true, y_score : array_like
        Labels (0/1) and scores, one per patient; a larger score means more likely positive.
    target : float
        The sensitivity to reach, in ``(0, 1]``.

    Returns
    -------
    threshold, sensitivity, specificity : float
        The threshold and the rates it gives.

    Examples
    --------
    >>> threshold_for_sensitivity([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], target=1.0)
    (0.35, 1.0, 0.5)
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target sensitivity must be in (0, 1]; got {target!r}.")
    fpr, tpr, thr = roc_curve(y_true, y_score)
    if np.isnan(tpr[-1]):
        raise ValueError("threshold_for_sensitivity needs at least one positive in y_true.")
    ok = np.flatnonzero(tpr >= target - 1e-12)
    i = int(ok[0])
    spec = float(1.0 - fpr[i]) if not np.isnan(fpr[i]) else float("nan")
    return float(thr[i]), float(tpr[i]), spec


# ---------------------------------------------------------------- bootstrap
class BootstrapCI(NamedTuple):
    """A point estimate with a percentile bootstrap interval; unpacks as ``(estimate, low, high, n_valid, alpha)``.

    Printed, it says its own coverage (``1 - alpha``).

    Taught in chapter 4, section *Confidence intervals by bootstrap* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    estimate : float
        The statistic on all the data.
    low, high : float
        The interval's ends (``nan`` without valid resamples).
    n_valid : int
        Resamples on which the statistic was defined.
    alpha : float
        ``1 - alpha`` is the coverage.

    Examples
    --------
    >>> print(BootstrapCI(0.81, 0.74, 0.88, 1000, alpha=0.1))
    0.810 (90% CI 0.740-0.880)
    """

    estimate: float
    low: float
    high: float
    n_valid: int
    alpha: float = 0.05

    def __str__(self) -> str:
        if not self.n_valid:
            return f"{self.estimate:.3f} (no CI)"
        return f"{self.estimate:.3f} ({100 * (1 - self.alpha):g}% CI {self.low:.3f}-{self.high:.3f})"


def _bootstrap_indices(y_true: NDArray[np.int64], n_boot: int, seed: int, stratified: bool) -> NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    n = y_true.size
    if not stratified:
        return rng.integers(0, n, size=(n_boot, n))
    # Resample positives and negatives separately: every resample keeps the prevalence and both classes.
    parts = [np.flatnonzero(y_true == c) for c in (0, 1)]
    parts = [p for p in parts if p.size]
    return np.concatenate([p[rng.integers(0, p.size, size=(n_boot, p.size))] for p in parts], axis=1)


def _check_boot_args(n_boot: int, alpha: float) -> None:
    check_positive_int(n_boot, "n_boot")
    check_alpha(alpha)


def bootstrap_ci(metric_fn: Callable[[NDArray, NDArray], float], y_true: ArrayLike, y_score: ArrayLike,
                 n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, stratified: bool = False) -> BootstrapCI:
    """Percentile bootstrap confidence interval of ``metric_fn(y_true, y_score)``.

    Patients (rows) are resampled with replacement ``n_boot`` times with a
    ``numpy.random.default_rng(seed)`` generator, so the interval is
    reproducible. Resamples on which the metric is ``nan`` (e.g. AUROC on a
    resample with one class) are dropped; ``n_valid`` says how many were used.
    The interval is :func:`percentile_ci` of the resampled values.

    Taught in chapter 4, section *Confidence intervals by bootstrap* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(y_true, y_score) -> float``; ``y_score`` may be decisions,
        probabilities or scores, whatever the metric takes.
    y_true, y_score : array_like
        Labels (0/1) and the second argument of ``metric_fn``, same length.
    n_boot : int
        Number of resamples.
    seed : int
        Seed of the resampling.
    alpha : float
        ``1 - alpha`` is the coverage: 0.05 gives the 2.5th and 97.5th percentiles.
    stratified : bool
        Resample positives and negatives separately (keeps the prevalence).

    Returns
    -------
    BootstrapCI
        ``(estimate, low, high, n_valid, alpha)``; the estimate is the metric on the full data.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1]); s = np.array([.1, .3, .7, .8, .4, .35, .2, .9])
    >>> ci = bootstrap_ci(roc_auc, y, s, n_boot=200, seed=0)
    >>> ci.low <= ci.estimate <= ci.high
    True
    """
    _check_boot_args(n_boot, alpha)
    t = as_labels(y_true, "y_true")
    s = np.asarray(y_score)
    check_same_length(t, s, "y_true", "y_score")
    estimate = float(metric_fn(t, s))
    values = np.array([metric_fn(t[idx], s[idx]) for idx in _bootstrap_indices(t, n_boot, seed, stratified)],
                      dtype=np.float64)
    return percentile_ci(values, estimate, alpha)


def summary_with_ci(y_true: ArrayLike, y_prob: ArrayLike, threshold: float = 0.5, n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> dict[str, BootstrapCI]:
    """AUROC, AUPRC, F1, sensitivity, specificity and Brier score, each with a bootstrap CI.

    All six use the same resamples (same ``seed``), so their intervals describe
    the same uncertainty. Threshold metrics use ``y_prob >= threshold``. Each
    interval is :func:`bootstrap_ci` of one metric.

    Taught in chapter 4, section *Confidence intervals by bootstrap* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    y_true : array_like
        Labels, 0/1 ``(n,)``.
    y_prob : array_like
        Predicted probabilities ``(n,)``.
    threshold : float
        Decision threshold of F1, sensitivity and specificity.
    n_boot, seed : int
        Resamples and their seed.
    alpha : float
        ``1 - alpha`` is the coverage.

    Returns
    -------
    dict of str to BootstrapCI
        Keys ``auroc``, ``auprc``, ``f1``, ``sensitivity``, ``specificity``, ``brier``.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1]); p = np.array([.1, .3, .7, .8, .4, .35, .2, .9])
    >>> sorted(summary_with_ci(y, p, n_boot=50))
    ['auprc', 'auroc', 'brier', 'f1', 'sensitivity', 'specificity']
    """
    _check_boot_args(n_boot, alpha)
    t = as_labels(y_true, "y_true")
    p = as_scores(y_prob, "y_prob")
    check_same_length(t, p, "y_true", "y_prob")
    fns: dict[str, Callable[[NDArray, NDArray], float]] = {
        "auroc": roc_auc,
        "auprc": average_precision,
        "f1": lambda a, b: f1_score(a, predict_at(b, threshold)),
        "sensitivity": lambda a, b: recall(a, predict_at(b, threshold), zero_division=np.nan),
        "specificity": lambda a, b: specificity(a, predict_at(b, threshold), zero_division=np.nan),
        "brier": brier_score,
    }
    return {name: bootstrap_ci(fn, t, p, n_boot=n_boot, seed=seed, alpha=alpha) for name, fn in fns.items()}


def paired_bootstrap(metric_fn: Callable[[NDArray, NDArray], float], y_true: ArrayLike,
                     scores: "dict[str, ArrayLike]", n_boot: int = 1000, seed: int = 0, stratified: bool = False
                     ) -> tuple[dict[str, float], dict[str, NDArray[np.float64]]]:
    """A metric of several models on the *same* bootstrap resamples of patients (chapter 6).

    Comparing two models by their separate intervals ignores that they were
    scored on the same patients: a hard patient is hard for both. Resampling
    the patients once and scoring every model on each resample keeps that
    pairing, so ``samples[a] - samples[b]`` is the bootstrap distribution of the
    *difference* (give it to :func:`percentile_ci`).

    Taught in chapter 6, section *Results* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(y_true, y_score) -> float``, e.g. :func:`roc_auc`.
    y_true : array_like
        Labels (0/1), length ``N``.
    scores : dict of str to array_like
        Per model, scores ``(N,)`` or ``(S, N)``: one row per training seed,
        and the statistic is then the mean over the seeds of the metric.
    n_boot, seed : int
        Number of resamples and their seed.
    stratified : bool
        Resample positives and negatives separately.

    Returns
    -------
    estimates : dict of str to float
        The statistic on all patients.
    samples : dict of str to ndarray
        ``(n_boot,)`` per model, on the same resamples (``nan`` where the
        metric is undefined on a resample).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    >>> s = {"a": np.array([.1, .3, .7, .8, .4, .35, .2, .9]), "b": np.array([.2, .1, .6, .9, .3, .5, .4, .7])}
    >>> est, boot = paired_bootstrap(roc_auc, y, s, n_boot=100)
    >>> round(est["a"], 4), boot["a"].shape
    (0.9375, (100,))
    >>> ci = percentile_ci(boot["a"] - boot["b"], est["a"] - est["b"])
    >>> ci.low <= ci.estimate <= ci.high
    True
    """
    if not scores:
        raise ValueError("scores is empty: pass at least one model's scores.")
    _check_boot_args(n_boot, 0.05)
    t = as_labels(y_true, "y_true")
    arrays = {}
    for name, s in scores.items():
        a = np.asarray(s, dtype=np.float64)
        a = a[None, :] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[1] != t.size:
            raise ValueError(f"scores[{name!r}] has shape {np.shape(s)}; expected ({t.size},) or "
                             f"(n_seeds, {t.size}) for {t.size} labels.")
        arrays[name] = a
    idx = _bootstrap_indices(t, n_boot, seed, stratified)

    def stat(a: NDArray, rows: NDArray | slice) -> float:
        return float(np.mean([metric_fn(t[rows], row[rows]) for row in a]))

    estimates = {name: stat(a, slice(None)) for name, a in arrays.items()}
    samples = {name: np.array([stat(a, i) for i in idx], dtype=np.float64) for name, a in arrays.items()}
    return estimates, samples


def percentile_ci(samples: ArrayLike, estimate: float, alpha: float = 0.05) -> BootstrapCI:
    """The percentile interval of bootstrap ``samples`` around ``estimate`` (``nan`` samples are dropped).

    Taught in chapter 6, section *Does fusion help? A paired interval* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    samples : array_like
        Bootstrap values of a statistic (e.g. differences from :func:`paired_bootstrap`).
    estimate : float
        The statistic on all the data.
    alpha : float
        ``1 - alpha`` is the coverage.

    Returns
    -------
    BootstrapCI
        ``estimate`` with the ``alpha/2`` and ``1 - alpha/2`` quantiles of the samples.

    Examples
    --------
    >>> percentile_ci(np.arange(101.0), 50.0, alpha=0.1)
    BootstrapCI(estimate=50.0, low=5.0, high=95.0, n_valid=101, alpha=0.1)
    """
    _check_boot_args(1, alpha)
    values = np.asarray(samples, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return BootstrapCI(float(estimate), math.nan, math.nan, 0, alpha)
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(float(estimate), float(low), float(high), int(values.size), alpha)

# ---------------------------------------------------------------- a proportion's interval
class _Proportion(NamedTuple):
    estimate: float
    low: float
    high: float


class ProportionCI(_Proportion):
    """A proportion ``k/n`` with a confidence interval; unpacks as ``(estimate, low, high)``.

    The interval's level is kept beside the three numbers (``alpha``), so the label
    says what it is and unpacking stays three values.

    Taught in chapter 4, section *Intervals for a proportion* (``notebooks/04_metrics.ipynb``).

    Parameters
    ----------
    estimate : float
        ``k / n``.
    low, high : float
        The interval's ends.

    Examples
    --------
    >>> est, low, high = proportion_ci(9, 10)
    >>> round(est, 2), round(low, 3), round(high, 3)
    (0.9, 0.596, 0.982)
    >>> print(proportion_ci(9, 10, alpha=0.1))
    0.900 (90% CI 0.652-0.977)
    """

    alpha: float

    def __new__(cls, estimate: float, low: float, high: float, alpha: float = 0.05) -> ProportionCI:
        self = super().__new__(cls, estimate, low, high)
        self.alpha = alpha
        return self

    def __str__(self) -> str:
        return f"{self.estimate:.3f} ({100 * (1 - self.alpha):g}% CI {self.low:.3f}-{self.high:.3f})"


def proportion_ci(k: int, n: int, method: str = "wilson", alpha: float = 0.05) -> ProportionCI:
    """Confidence interval of a proportion ``k/n`` (sensitivity, specificity, PPV, ...).

    Taught in chapter 4, section *Intervals for a proportion* (``notebooks/04_metrics.ipynb``). Sensitivity is the
    proportion of the ``n`` ill patients that the test finds, so its
    uncertainty is that of a binomial proportion and has closed-form intervals
    that behave well where the percentile bootstrap does not: near 0 and 1
    and for small ``n`` (all ``n`` found gives a bootstrap interval of width 0).

    Parameters
    ----------
    k : int
        Number of successes (e.g. true positives), ``0 <= k <= n``.
    n : int
        Number of trials (e.g. ill patients, TP + FN), ``n >= 1``.
    method : {"wilson", "clopper-pearson"}
        ``"wilson"``: the score interval of Wilson (1927), coverage close to
        ``1 - alpha`` on average, the usual choice for reporting
        (Brown, Cai & DasGupta 2001). ``"clopper-pearson"`` (alias ``"exact"``):
        inverts two one-sided binomial tests, coverage never below
        ``1 - alpha`` and therefore wider (conservative).
    alpha : float
        ``1 - alpha`` is the nominal coverage.

    Returns
    -------
    ProportionCI
        ``(estimate, low, high)`` with ``estimate = k / n``.

    Examples
    --------
    >>> ci = proportion_ci(18, 19, method="clopper-pearson")
    >>> round(ci.low, 3), round(ci.high, 3)
    (0.74, 0.999)
    >>> w = proportion_ci(18, 19)
    >>> round(w.low, 3), round(w.high, 3)
    (0.754, 0.991)
    >>> proportion_ci(9, 9, method="exact").high
    1.0
    """
    from scipy import stats

    if isinstance(k, bool) or isinstance(n, bool) or not isinstance(k, (int, np.integer)) \
            or not isinstance(n, (int, np.integer)):
        raise ValueError(f"k and n must be integers (counts); got k={k!r}, n={n!r}.")
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need n >= 1 and 0 <= k <= n; got k={k}, n={n}.")
    check_alpha(alpha)
    k, n = int(k), int(n)
    p = k / n
    if method == "wilson":
        z = float(stats.norm.ppf(1 - alpha / 2))
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        # the Wilson interval always contains k/n; clamp the rounding at k = 0 and k = n
        low, high = max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
    elif method in ("clopper-pearson", "exact"):
        low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
        high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    else:
        raise ValueError(f"method must be 'wilson' or 'clopper-pearson'; got {method!r}.")
    return ProportionCI(float(p), float(low), float(high), alpha=alpha)
