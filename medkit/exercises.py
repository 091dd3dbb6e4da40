"""Self-checks for the chapters' exercises.

Each ``check_*`` function takes what the student wrote (a value or a
function), prints a verdict, and returns a :class:`CheckResult`. A check tells
what is off (a wrong shape, a sign, a case that fails) without printing the
expected answer. It never raises: an exercise left as ``...``, ``None`` or a
stub that raises ``NotImplementedError`` is reported as "not done yet", so a
student notebook still runs top to bottom.

Add a check for a new exercise by writing a function that builds its verdict
with :func:`_verdict` (see ``check_ce_value`` for the pattern).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a self-check: ``status`` is ``"correct"``, ``"wrong"`` or ``"not done"``."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def _repr_markdown_(self) -> str:
        icon = {"correct": "✅", "wrong": "❌", "not done": "⏳"}[self.status]
        return f"{icon} **{self.exercise}**: {self.message}"

    def __str__(self) -> str:
        return f"[{self.exercise}] {self.status}: {self.message}"


def _verdict(exercise: str, status: str, message: str) -> CheckResult:
    result = CheckResult(exercise, status, message)
    print(result)
    return result


def _not_done(exercise: str) -> CheckResult:
    return _verdict(exercise, "not done", "not done yet: replace the `...` or the NotImplementedError with your answer.")


def is_unanswered(answer: Any) -> bool:
    """True for the placeholders a student version starts with (``...`` or ``None``)."""
    return answer is Ellipsis or answer is None


def call_student(exercise: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, CheckResult | None]:
    """Call a student's function; turn a stub or a crash into a verdict instead of an exception."""
    if is_unanswered(func):
        return None, _not_done(exercise)
    if not callable(func):
        return None, _verdict(exercise, "wrong", f"expected a function, got {type(func).__name__}.")
    try:
        return func(*args, **kwargs), None
    except NotImplementedError:
        return None, _not_done(exercise)
    except Exception as exc:  # a student's bug is feedback, not a crash
        return None, _verdict(exercise, "wrong", f"your function raised {type(exc).__name__}: {exc}")


def _as_float(exercise: str, answer: Any) -> tuple[float | None, CheckResult | None]:
    if is_unanswered(answer):
        return None, _not_done(exercise)
    try:
        value = float(np.asarray(answer, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return None, _verdict(exercise, "wrong", f"expected one number, got {type(answer).__name__} {answer!r:.60}.")
    if not math.isfinite(value):
        return None, _verdict(exercise, "wrong", f"your answer is {value}; a loss here is a finite number.")
    return value, None


def _close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# ---------------------------------------------------------------- chapter 1: cross-entropy
def check_ce_value(answer: Any) -> CheckResult:
    """Exercise ce-ex1: the binary cross-entropy of one prediction p = 0.8 when the true label is 0.

    Examples
    --------
    >>> check_ce_value(...).status
    [ce-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "ce-ex1"
    value, verdict = _as_float(ex, answer)
    if verdict is not None:
        return verdict
    correct = -math.log(1 - 0.8)
    if _close(value, correct):
        return _verdict(ex, "correct", "that is the loss for a confident wrong prediction.")
    if _close(value, -math.log(0.8)):
        return _verdict(ex, "wrong", "that is the loss as if the label were 1: which probability does the model give to class 0?")
    if _close(value, -math.log10(1 - 0.8)) or _close(value, -math.log2(1 - 0.8)):
        return _verdict(ex, "wrong", "right idea, wrong logarithm: cross-entropy in this book uses the natural log.")
    if value < 0:
        return _verdict(ex, "wrong", "a cross-entropy loss is never negative: check the minus sign.")
    return _verdict(ex, "wrong", "not the right value; write the formula for y = 0 and substitute p.")


def check_binary_ce(func: Callable[..., Any]) -> CheckResult:
    """Exercise ce-ex2: a function ``binary_ce(y_true, p)`` returning the mean binary cross-entropy.

    The function must accept numpy arrays of labels and probabilities and stay
    finite at p = 0 and p = 1 (clip). Checked against :func:`medkit.losses.binary_cross_entropy`.
    """
    from medkit.losses import binary_cross_entropy

    ex = "ce-ex2"
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = np.array([0.1, 0.8, 0.35, 0.6, 0.99])
    got, verdict = call_student(ex, func, y, p)
    if verdict is not None:
        return verdict
    try:
        got_value = float(np.asarray(got, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", f"return one number (the mean over the batch), not {np.shape(got)}.")
    want = binary_cross_entropy(y, p)
    if not _close(got_value, want, rel=1e-6):
        per_sample = binary_cross_entropy(y, p, reduction="none")
        if _close(got_value, float(per_sample.sum())):
            return _verdict(ex, "wrong", "you return the sum over the batch: divide by the number of samples.")
        return _verdict(ex, "wrong", "on a batch of five predictions your mean loss differs from the reference.")
    extreme, verdict = call_student(ex, func, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    if verdict is not None:
        return verdict
    if not np.all(np.isfinite(np.asarray(extreme, dtype=float))):
        return _verdict(ex, "wrong", "the values are right, but p = 0 or p = 1 gives inf or nan: clip p away from 0 and 1.")
    return _verdict(ex, "correct", "matches the reference on a batch and stays finite at p = 0 and p = 1.")


def _as_vector(exercise: str, answer: Any, size: int, what: str) -> tuple[np.ndarray | None, CheckResult | None]:
    """A list/array of ``size`` finite numbers, or a verdict saying what is off."""
    if is_unanswered(answer):
        return None, _not_done(exercise)
    try:
        vec = np.asarray(answer, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None, _verdict(exercise, "wrong", f"expected {size} numbers ({what}), got {type(answer).__name__}.")
    if vec.size != size:
        return None, _verdict(exercise, "wrong", f"expected {size} numbers ({what}), got {vec.size}.")
    if not np.all(np.isfinite(vec)):
        return None, _verdict(exercise, "wrong", "your answer contains inf or nan.")
    return vec, None


def _allclose(a: Any, b: Any, tol: float = 1e-6) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=1e-9))


# ---------------------------------------------------------------- chapter 2: gradient descent
GD_EX1_THETA = (0.0, 1.0)  # the point at which gd-ex1 asks for the gradient (article's data: x = (1, 2), y = (2, 4))


def check_gd_gradient(answer: Any) -> CheckResult:
    """Exercise gd-ex1: the gradient of L = 1/(2n) sum (y_hat - y)^2 at theta = (0, 1) on x = (1, 2), y = (2, 4).

    Examples
    --------
    >>> check_gd_gradient(None).status
    [gd-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit.optim import mse_gradient

    ex = "gd-ex1"
    vec, verdict = _as_vector(ex, answer, 2, "dL/dtheta_0 and dL/dtheta_1")
    if verdict is not None:
        return verdict
    x, y = np.array([1.0, 2.0]), np.array([2.0, 4.0])
    want = mse_gradient(GD_EX1_THETA, x, y)
    residual = y - (GD_EX1_THETA[0] + GD_EX1_THETA[1] * x)  # y - y_hat, the article's "gradient"
    if _allclose(vec, want):
        return _verdict(ex, "correct", "both partial derivatives match; a step against this vector lowers the loss.")
    if _allclose(vec, -want):
        return _verdict(ex, "wrong", "right size, wrong sign: differentiate (y_hat - y)^2, not (y - y_hat) alone.")
    if _allclose(vec, 2 * want) or _allclose(vec, -2 * want):
        return _verdict(ex, "wrong", "off by a factor of 2: remember the 1/n of the mean and the 1/2 in front of the loss.")
    if _allclose(vec, residual) or _allclose(vec, -residual):
        return _verdict(ex, "wrong", "those are per-sample residuals, not a gradient: each partial derivative "
                                     "averages over both samples, and dL/dtheta_1 is weighted by x.")
    if _close(float(vec[0]), float(want[0])):
        return _verdict(ex, "wrong", "dL/dtheta_0 is right; dL/dtheta_1 is not (the chain rule brings in a factor x_i).")
    return _verdict(ex, "wrong", "not the gradient: write y_hat_i, then dL/dtheta_j = (1/n) sum (y_hat_i - y_i) * dy_hat_i/dtheta_j.")


def check_batch_gd(func: Callable[..., Any]) -> CheckResult:
    """Exercise gd-ex2: ``batch_gd(x, y, theta0, lr, n_steps)`` -> theta after n_steps full-batch updates.

    Checked against :func:`medkit.optim.gradient_descent` with the loss 1/(2n) sum (y_hat - y)^2.
    """
    from medkit.optim import gradient_descent, mse_loss

    ex = "gd-ex2"
    rng = np.random.default_rng(7)
    x = rng.normal(size=12)
    y = 0.5 + 2.0 * x + rng.normal(scale=0.3, size=12)
    theta0, lr, n_steps = np.array([0.0, 0.0]), 0.1, 25
    got, verdict = call_student(ex, func, x.copy(), y.copy(), theta0.copy(), lr, n_steps)
    if verdict is not None:
        return verdict
    vec, verdict = _as_vector(ex, got, 2, "the final theta_0 and theta_1")
    if verdict is not None:
        return verdict
    want = gradient_descent(x, y, lr=lr, epochs=n_steps, theta0=theta0).theta
    if _allclose(vec, want, 1e-6):
        one, verdict = call_student(ex, func, np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([1.0, 2.0]), 0.1, 1)
        if verdict is not None:
            return verdict
        if one is not None and _allclose(np.asarray(one, dtype=float).reshape(-1), [0.9, 1.85]):
            return _verdict(ex, "correct", "matches the reference after 25 steps and after a single step.")
        return _verdict(ex, "wrong", "right on one data set but not on the article's (one step from theta = (1, 2)).")
    if _allclose(vec, theta0):
        return _verdict(ex, "wrong", "theta did not move: do you update and return the new theta?")
    if mse_loss(vec, x, y) > mse_loss(theta0, x, y):
        return _verdict(ex, "wrong", "the loss went up: you are stepping along the gradient instead of against it.")
    for k in (n_steps - 1, n_steps + 1):
        if _allclose(vec, gradient_descent(x, y, lr=lr, epochs=k, theta0=theta0).theta):
            return _verdict(ex, "wrong", f"off by one: you made {k} updates instead of n_steps.")
    return _verdict(ex, "wrong", "the loss goes down but theta differs from the reference: check the 1/n and that "
                                 "every sample is used in every step.")


# ---------------------------------------------------------------- chapter 3: fusion
def check_concat_shape(answer: Any) -> CheckResult:
    """Exercise fusion-ex1: the shape of the concatenation of (32, 512), (32, 256) and (32, 128) batches.

    Examples
    --------
    >>> check_concat_shape(...).status
    [fusion-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "fusion-ex1"
    if is_unanswered(answer):
        return _not_done(ex)
    try:
        shape = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", "give the shape as a tuple of integers, e.g. (rows, columns).")
    widths, n = (512, 256, 128), 32
    if shape == (n, sum(widths)):
        return _verdict(ex, "correct", "one row per patient, the three widths side by side.")
    if len(shape) == 1:
        return _verdict(ex, "wrong", "a batch keeps its first axis: the result has one row per patient.")
    if len(shape) != 2:
        return _verdict(ex, "wrong", f"the result is a 2-D batch; you gave {len(shape)} axes.")
    if shape[0] != n:
        return _verdict(ex, "wrong", "the number of rows is off: concatenation along the feature axis keeps the patients.")
    if shape[1] in widths:
        return _verdict(ex, "wrong", "that width is one modality's (or what average/sum would give): concatenation keeps them all.")
    return _verdict(ex, "wrong", "the number of rows is right; the width is not.")


def check_average_fusion(func: Callable[..., Any]) -> CheckResult:
    """Exercise fusion-ex2: ``average_features(features)`` averages a list of equal-width vectors or batches
    and raises ``ValueError`` on unequal widths. Checked against :func:`medkit.fusion.average_fusion`."""
    from medkit.fusion import average_fusion

    ex = "fusion-ex2"
    rng = np.random.default_rng(3)
    cases = {
        "three vectors": [rng.normal(size=4) for _ in range(3)],
        "two batches of 5 patients": [rng.normal(size=(5, 3)) for _ in range(2)],
        "four modalities": [rng.normal(size=(2, 6)) for _ in range(4)],
    }
    for label, feats in cases.items():
        got, verdict = call_student(ex, func, [f.copy() for f in feats])
        if verdict is not None:
            return verdict
        want = average_fusion(feats)
        got_arr = np.asarray(got, dtype=float) if got is not None else None
        if got_arr is None or got_arr.shape != want.shape:
            shape = None if got_arr is None else got_arr.shape
            return _verdict(ex, "wrong", f"on {label} the result has shape {shape}, expected {want.shape}: "
                                         "average across modalities, not across patients or features.")
        if not _allclose(got_arr, want):
            if _allclose(got_arr, want * len(feats)):
                return _verdict(ex, "wrong", f"on {label} you return the sum: divide by the number of modalities.")
            return _verdict(ex, "wrong", f"on {label} the values differ from the element-wise mean.")
    try:
        func([np.ones(3), np.ones(2)])
    except NotImplementedError:
        return _not_done(ex)
    except ValueError as exc:
        if "3" in str(exc) and "2" in str(exc):
            return _verdict(ex, "correct", "averages vectors and batches and refuses unequal widths with a clear message.")
        return _verdict(ex, "wrong", f"values are right and unequal widths raise ValueError, but the message ({exc}) "
                                     "does not name the widths 3 and 2: say what is wrong.")
    except Exception as exc:  # noqa: BLE001 - the student's error type is the feedback
        return _verdict(ex, "wrong", f"unequal widths raise {type(exc).__name__}; raise a ValueError that names the widths.")
    return _verdict(ex, "wrong", "values are right, but widths 3 and 2 were accepted: raise a ValueError instead.")


# ---------------------------------------------------------------- chapter 4: metrics
METRICS_EX1_COUNTS = {"tp": 45, "fn": 5, "fp": 90, "tn": 860}  # a screening test on 1000 patients


def check_screening_metrics(answer: Any) -> CheckResult:
    """Exercise metrics-ex1: sensitivity, specificity, PPV and NPV of the screening table ``METRICS_EX1_COUNTS``.

    ``answer`` is a dict with keys ``"sensitivity"``, ``"specificity"``, ``"ppv"``, ``"npv"``.

    Examples
    --------
    >>> check_screening_metrics(None).status
    [metrics-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "metrics-ex1"
    if is_unanswered(answer):
        return _not_done(ex)
    if not isinstance(answer, dict):
        return _verdict(ex, "wrong", "give a dict: {'sensitivity': ..., 'specificity': ..., 'ppv': ..., 'npv': ...}.")
    c = METRICS_EX1_COUNTS
    want = {
        "sensitivity": c["tp"] / (c["tp"] + c["fn"]),
        "specificity": c["tn"] / (c["tn"] + c["fp"]),
        "ppv": c["tp"] / (c["tp"] + c["fp"]),
        "npv": c["tn"] / (c["tn"] + c["fn"]),
    }
    missing = [k for k in want if k not in answer]
    if missing:
        return _verdict(ex, "wrong", f"missing key(s): {missing}.")
    if any(is_unanswered(answer[k]) for k in want):
        return _not_done(ex)
    problems = []
    for key, value in want.items():
        got, verdict = _as_float(ex, answer[key]) if not isinstance(answer[key], str) else (None, None)
        if got is None:
            return verdict if verdict is not None else _verdict(ex, "wrong", f"{key} must be a number.")
        if got > 1.0 + 1e-9 and _close(got / 100, value, rel=1e-3):
            problems.append(f"{key} looks like a percentage: give a fraction between 0 and 1")
        elif not _close(got, value, rel=1e-4):
            swapped = [k for k, v in want.items() if k != key and _close(got, v, rel=1e-4)]
            hint = f" (that value is the {swapped[0]})" if swapped else ""
            problems.append(f"{key} is off{hint}")
    if not problems:
        return _verdict(ex, "correct", "all four match. Note how low the PPV is although sensitivity and specificity are high.")
    return _verdict(ex, "wrong", "; ".join(problems) + ".")


def check_auroc_by_ranking(func: Callable[..., Any]) -> CheckResult:
    """Exercise metrics-ex2: ``auroc_by_ranking(y_true, y_score)``, the probability that a random positive
    scores higher than a random negative (ties count 1/2). Checked against :func:`medkit.metrics.roc_auc`."""
    from medkit.metrics import roc_auc

    ex = "metrics-ex2"
    rng = np.random.default_rng(11)
    cases = {
        "a random case without ties": (rng.integers(0, 2, 30), rng.normal(size=30)),
        "a case with tied scores": (np.array([0, 1, 0, 1, 1, 0, 0, 1]), np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.1, 0.9, 0.3])),
        "a perfectly wrong ranking": (np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])),
    }
    for label, (y, s) in cases.items():
        got, verdict = call_student(ex, func, y.copy(), s.copy())
        if verdict is not None:
            return verdict
        value, verdict = _as_float(ex, got)
        if verdict is not None:
            return verdict
        want = roc_auc(y, s)
        if not _close(value, want, rel=1e-9, abs_=1e-9):
            if _close(value, 1 - want):
                return _verdict(ex, "wrong", f"on {label} you get 1 - AUROC: count pairs where the *positive* scores higher.")
            if label == "a case with tied scores":
                return _verdict(ex, "wrong", "right without ties, off with tied scores: a tied pair counts one half.")
            return _verdict(ex, "wrong", f"on {label} your value differs from the reference; divide by n_pos * n_neg pairs.")
    return _verdict(ex, "correct", "agrees with the area under the ROC curve, ties included.")


# ---- chapter 5
def check_encode_tokens(func: Callable[..., Any]) -> CheckResult:
    """Exercise mod-ex1: ``encode(tokens, vocabulary, length)`` -> list of ``length`` ints (0 pads, 1 is OOV).

    Examples
    --------
    >>> check_encode_tokens(None).status
    [mod-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mod-ex1"
    vocabulary = {"no": 2, "crackles": 3, "fever": 4}
    cases = [
        (["no", "crackles"], 4, [2, 3, 0, 0], "a short note (padding)"),
        (["no", "wheeze"], 3, [2, 1, 0], "a word missing from the vocabulary"),
        (["fever", "no", "crackles", "no"], 2, [4, 2], "a note longer than length (truncation)"),
        ([], 2, [0, 0], "an empty note"),
    ]
    for tokens, length, want, label in cases:
        got, verdict = call_student(ex, func, list(tokens), dict(vocabulary), length)
        if verdict is not None:
            return verdict
        try:
            got_list = [int(v) for v in np.asarray(got).reshape(-1)]
        except (TypeError, ValueError):
            return _verdict(ex, "wrong", f"return a list (or array) of integers, not {type(got).__name__}.")
        if len(got_list) != length:
            return _verdict(ex, "wrong", f"on {label} you return {len(got_list)} ids; every note must give exactly `length`.")
        if got_list != want:
            if label.startswith("a word missing"):
                return _verdict(ex, "wrong", "an unknown word must become the OOV index 1, not be dropped or raise.")
            if label.startswith("a note longer"):
                return _verdict(ex, "wrong", "keep the *first* `length` tokens (truncate at the end).")
            return _verdict(ex, "wrong", f"on {label} your ids differ: look up each token, then pad with 0 at the end.")
    return _verdict(ex, "correct", "pads, truncates and maps unknown words to OOV like medkit.data.encode_texts.")


def check_is_negated(func: Callable[..., Any]) -> CheckResult:
    """Exercise mod-ex2: ``is_negated(sentence, finding)`` -> True when a negation cue precedes the finding.

    Examples
    --------
    >>> check_is_negated(...).status
    [mod-ex2] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mod-ex2"
    cases = [
        ("No crackles at either lung base.", "crackles", True),
        ("Crackles heard at the right base.", "crackles", False),
        ("Denies fever.", "fever", True),
        ("Reports fever and chills.", "fever", False),
        ("Negative for consolidation on bedside lung ultrasound.", "consolidation", True),
        ("Chest clear, no crackles or wheeze.", "wheeze", True),
        ("Coarse crackles over the left lower zone, no wheeze.", "crackles", False),
        ("Bedside ultrasound shows an area of consolidation.", "consolidation", False),
    ]
    for sentence, finding, want in cases:
        got, verdict = call_student(ex, func, sentence, finding)
        if verdict is not None:
            return verdict
        if not isinstance(got, (bool, np.bool_)):
            return _verdict(ex, "wrong", f"return True or False, not {type(got).__name__}.")
        if bool(got) != want:
            hint = ("a cue *after* the finding does not negate it" if not want and "no" in sentence.lower()
                    else "look for the cues before the finding, case-insensitively")
            return _verdict(ex, "wrong", f"wrong on {sentence!r} (finding {finding!r}): {hint}.")
    return _verdict(ex, "correct", "your rule handles cues before the finding, case and cues that come after it.")


# ---- chapter 6
def check_masked_late_average(func: Callable[..., Any]) -> CheckResult:
    """Exercise mm-ex1: ``masked_late_average(probs, present)`` -> per-patient mean of the present modalities.

    ``probs`` and ``present`` are ``(N, M)`` arrays (probabilities; 1 = modality
    available, 0 = missing); the result is ``(N,)``. Checked against
    :class:`medkit.models.LateFusion` arithmetic on hand-made cases.

    Examples
    --------
    >>> check_masked_late_average(...).status
    [mm-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mm-ex1"
    probs = np.array([[0.2, 0.6, 0.9], [0.8, 0.4, 0.1], [0.5, 0.7, 0.3]])
    present = np.array([[1, 1, 1], [1, 0, 1], [0, 1, 0]])
    want = np.array([(0.2 + 0.6 + 0.9) / 3, (0.8 + 0.1) / 2, 0.7])
    got, verdict = call_student(ex, func, probs, present)
    if verdict is not None:
        return verdict
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", f"return a numeric array, not {type(got).__name__}.")
    if got.shape != (3,):
        return _verdict(ex, "wrong", f"return one probability per patient, shape (3,) here; got shape {got.shape}.")
    if np.allclose(got, (probs * present).mean(axis=1)):
        return _verdict(ex, "wrong", "you divide by all modalities: a missing one must not count in the denominator.")
    if np.allclose(got, probs.mean(axis=1)):
        return _verdict(ex, "wrong", "the missing modalities still count: use `present` to leave them out.")
    if not np.allclose(got, want):
        bad = int(np.argmax(~np.isclose(got, want)))
        return _verdict(ex, "wrong", f"patient {bad} (present = {present[bad].tolist()}) is off.")
    return _verdict(ex, "correct", "a missing modality is left out of the average, not counted as 0.")


def check_modality_dropout_mask(func: Callable[..., Any]) -> CheckResult:
    """Exercise mm-ex2: ``modality_dropout_mask(n, m, rate, seed)`` -> an ``(n, m)`` 0/1 mask.

    Each entry is 0 with probability about ``rate``, no row is all zeros (a
    patient keeps at least one modality), ``rate=0`` keeps everything and the
    same seed gives the same mask.

    Examples
    --------
    >>> check_modality_dropout_mask(None).status
    [mm-ex2] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mm-ex2"
    got, verdict = call_student(ex, func, 4000, 3, 0.3, 0)
    if verdict is not None:
        return verdict
    try:
        mask = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", f"return a numeric array, not {type(got).__name__}.")
    if mask.shape != (4000, 3):
        return _verdict(ex, "wrong", f"for n=4000, m=3 the mask must have shape (4000, 3); got {mask.shape}.")
    if not np.isin(mask, (0.0, 1.0)).all():
        return _verdict(ex, "wrong", "the mask must hold only 0 (dropped) and 1 (kept): no rescaling here.")
    if (mask.sum(axis=1) == 0).any():
        return _verdict(ex, "wrong", "some patients lose every modality: make sure each row keeps at least one.")
    dropped = 1 - mask.mean()
    if not 0.2 < dropped < 0.36:
        return _verdict(ex, "wrong", f"with rate=0.3 you drop {dropped:.0%} of the entries; expected roughly 30%.")
    again, verdict = call_student(ex, func, 4000, 3, 0.3, 0)
    if verdict is not None:
        return verdict
    if not np.array_equal(np.asarray(again, dtype=float), mask):
        return _verdict(ex, "wrong", "two calls with the same seed give different masks: seed your generator.")
    none, verdict = call_student(ex, func, 10, 3, 0.0, 1)
    if verdict is not None:
        return verdict
    if not np.all(np.asarray(none, dtype=float) == 1):
        return _verdict(ex, "wrong", "rate=0 must keep every modality.")
    return _verdict(ex, "correct", "right shape, about the right rate, reproducible, and nobody loses everything.")


def check_oov_rate(func: Callable[..., Any]) -> CheckResult:
    """Exercise dp-ex1: ``oov_rate(note, vocabulary)`` -> share of the note's tokens not in the vocabulary.

    Tokens are :func:`medkit.data.tokenize`'s (lower-cased words, numbers, ``%``);
    an empty note has no rate (``nan``). Chapter 7 uses this number to warn when
    a note is written in words the model has never seen.

    Examples
    --------
    >>> check_oov_rate(...).status
    [dp-ex1] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "dp-ex1"
    vocabulary = {"no": 2, "fever": 3, "crackles": 4, "at": 5, "the": 6, "base": 7}
    cases = [("No fever.", 0.0), ("Nil pyrexia, no creps at the base.", 3 / 7), ("SpO2 91%", 1.0)]
    for note, want in cases:
        got, verdict = call_student(ex, func, note, vocabulary)
        if verdict is not None:
            return verdict
        value, verdict = _as_float(ex, got)
        if verdict is not None:
            return verdict
        if note == "No fever." and value != 0.0:
            return _verdict(ex, "wrong", "'No fever.' is all in the vocabulary: lower-case the tokens "
                                         "(use medkit.data.tokenize) and do not count punctuation.")
        if not _close(value, want):
            if note.startswith("Nil") and _close(value, 3 / 6):
                return _verdict(ex, "wrong", "count every token of the note, including those in the vocabulary.")
            return _verdict(ex, "wrong", f"note {note!r} gives {value:.3f}; count tokens with medkit.data.tokenize "
                                         "and divide the unknown ones by all of them.")
    got, verdict = call_student(ex, func, "...", vocabulary)
    if verdict is not None:
        return verdict
    try:
        empty = float(got)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", "a note without tokens must give nan (no rate), not an error or "
                                     f"{type(got).__name__}.")
    if not math.isnan(empty):
        return _verdict(ex, "wrong", "a note without any token has no OOV rate: return nan, not a number.")
    return _verdict(ex, "correct", "the share of unknown tokens, and nan for a note with none.")


def check_ks_statistic(func: Callable[..., Any]) -> CheckResult:
    """Exercise dp-ex2: ``ks_statistic(a, b)`` -> the two-sample Kolmogorov-Smirnov statistic D.

    D is the largest vertical distance between the two empirical cumulative
    distribution functions; checked against ``scipy.stats.ks_2samp`` on samples
    with ties, different sizes and a shift.

    Examples
    --------
    >>> check_ks_statistic(None).status
    [dp-ex2] not done: not done yet: replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from scipy.stats import ks_2samp

    ex = "dp-ex2"
    rng = np.random.default_rng(7)
    cases = [(rng.normal(size=30), rng.normal(size=30) + 10, "two samples that do not overlap at all (D = 1)"),
             (rng.normal(size=40), rng.normal(0.5, 1.0, size=40), "two samples of the same size"),
             (np.array([1.0, 2, 2, 3, 3, 3]), np.array([2.0, 3, 3, 4, 4, 5]),
              "samples with tied values: evaluate both CDFs at every observed value, counting all observations "
              "<= that value (np.searchsorted with side='right')"),
             (rng.normal(size=50), rng.normal(0.8, 1.0, size=80),
              "samples of different sizes: divide each count by its own sample's size")]
    for a, b, hint in cases:
        got, verdict = call_student(ex, func, a.copy(), b.copy())
        if verdict is not None:
            return verdict
        value, verdict = _as_float(ex, got)
        if verdict is not None:
            return verdict
        want = float(ks_2samp(a, b).statistic)
        if not _close(value, want, rel=1e-9, abs_=1e-12):
            if not 0.0 <= value <= 1.0:
                return _verdict(ex, "wrong", f"D is a difference of two probabilities: it lies in [0, 1]; got {value}.")
            return _verdict(ex, "wrong", f"wrong on {hint}.")
    return _verdict(ex, "correct", "D matches scipy.stats.ks_2samp, ties and unequal sizes included.")
