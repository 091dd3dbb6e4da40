"""Chapter 1 self-checks: right, wrong (with a hint that does not leak the answer) and not done."""
from __future__ import annotations

import math

import numpy as np
import pytest

from medkit.exercises import check_binary_ce, check_ce_value

CORRECT_VALUE = -math.log(0.2)


@pytest.mark.parametrize("answer", [..., None])
def test_value_not_done(answer):
    assert check_ce_value(answer).status == "not done"


def test_value_correct():
    assert check_ce_value(CORRECT_VALUE).passed


@pytest.mark.parametrize("answer, hint", [
    (-math.log(0.8), "as if the label were 1"),
    (-math.log10(0.2), "wrong logarithm"),
    (math.log(0.2), "never negative"),
    ("one", "expected one number"),
])
def test_value_wrong_with_hint(answer, hint):
    result = check_ce_value(answer)
    assert result.status == "wrong"
    assert hint in result.message
    assert f"{CORRECT_VALUE:.3f}" not in result.message


def reference(y, p):
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def unclipped(y, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def summed(y, p):
    return reference(y, p) * len(y)


def stub(y, p):
    raise NotImplementedError("ce-ex2")


def crashes(y, p):
    return y.undefined_attribute


@pytest.mark.parametrize("func, status, hint", [
    (reference, "correct", "matches"),
    (unclipped, "wrong", "clip"),
    (summed, "wrong", "sum over the batch"),
    (stub, "not done", "not done yet"),
    (..., "not done", "not done yet"),
    (crashes, "wrong", "AttributeError"),
    (42, "wrong", "expected a function"),
])
def test_binary_ce_function(func, status, hint):
    result = check_binary_ce(func)
    assert result.status == status
    assert hint in result.message
