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

    def __bool__(self) -> bool:
        return self.passed

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
    if verdict:
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
    if verdict:
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
    if verdict:
        return verdict
    if not np.all(np.isfinite(np.asarray(extreme, dtype=float))):
        return _verdict(ex, "wrong", "the values are right, but p = 0 or p = 1 gives inf or nan: clip p away from 0 and 1.")
    return _verdict(ex, "correct", "matches the reference on a batch and stays finite at p = 0 and p = 1.")
