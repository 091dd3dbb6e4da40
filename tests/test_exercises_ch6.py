"""Chapter 6's self-checks: right, wrong and not-done answers get the verdict and hint they should."""
from __future__ import annotations

import numpy as np
import pytest

from medkit import exercises, metrics


def test_masked_late_average_check():
    def right(probs, present):
        probs, present = np.asarray(probs, float), np.asarray(present, float)
        return (probs * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1e-12)

    def zero_filled(probs, present):
        return (np.asarray(probs) * np.asarray(present)).mean(axis=1)

    assert exercises.check_masked_late_average(right).status == "correct"
    assert exercises.check_masked_late_average(zero_filled).status == "wrong"
    assert exercises.check_masked_late_average(...).status == "not done"


def test_modality_dropout_mask_check():
    def right(n, m, rate, seed):
        keep = (np.random.default_rng(seed).random((n, m)) >= rate).astype(float)
        keep[keep.sum(axis=1) == 0] = 1.0
        return keep

    def unseeded(n, m, rate, seed):
        return right(n, m, rate, None)

    def can_drop_all(n, m, rate, seed):
        return (np.random.default_rng(seed).random((n, m)) >= rate).astype(float)

    assert exercises.check_modality_dropout_mask(right).status == "correct"
    unseeded_verdict = exercises.check_modality_dropout_mask(unseeded)
    assert unseeded_verdict.status == "wrong" and "seed" in unseeded_verdict.message
    assert "lose every modality" in exercises.check_modality_dropout_mask(can_drop_all).message
    assert exercises.check_modality_dropout_mask(None).status == "not done"


def test_one_se_reason_check():
    assert exercises.check_one_se_reason("b").status == "correct"
    assert "test split" in exercises.check_one_se_reason("c").message
    assert exercises.check_one_se_reason("a").status == "wrong"
    assert exercises.check_one_se_reason("z").status == "wrong"
    assert exercises.check_one_se_reason(...).status == "not done"


def test_paired_auroc_difference_check():
    def right(y, p_a, p_b, n_boot, seed):
        rows = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
        diffs = [metrics.roc_auc(y[i], p_a[i]) - metrics.roc_auc(y[i], p_b[i]) for i in rows]
        low, high = np.quantile(diffs, [0.025, 0.975])
        return metrics.roc_auc(y, p_a) - metrics.roc_auc(y, p_b), low, high

    def unpaired(y, p_a, p_b, n_boot, seed):
        rng = np.random.default_rng(seed)
        a = [metrics.roc_auc(y[i], p_a[i]) for i in rng.integers(0, len(y), size=(n_boot, len(y)))]
        b = [metrics.roc_auc(y[i], p_b[i]) for i in rng.integers(0, len(y), size=(n_boot, len(y)))]
        low, high = np.quantile(np.array(a) - np.array(b), [0.025, 0.975])
        return metrics.roc_auc(y, p_a) - metrics.roc_auc(y, p_b), low, high

    def swapped(y, p_a, p_b, n_boot, seed):
        d, low, high = right(y, p_b, p_a, n_boot, seed)
        return d, low, high

    assert exercises.check_paired_auroc_difference(right).status == "correct"
    verdict = exercises.check_paired_auroc_difference(unpaired)
    assert verdict.status == "wrong" and "both" in verdict.message
    assert "before any resampling" in exercises.check_paired_auroc_difference(swapped).message
    assert exercises.check_paired_auroc_difference(lambda *a: 0.5).status == "wrong"
    assert exercises.check_paired_auroc_difference(None).status == "not done"


# ---------------------------------------------------------------- every hint, stub and crash of the chapter 6 checks
def raise_not_implemented(*args, **kwargs):
    raise NotImplementedError("stub")


def crash(*args, **kwargs):
    raise ZeroDivisionError("oops")


def dropout_mask(n, m, rate, seed):
    keep = (np.random.default_rng(seed).random((n, m)) >= rate).astype(float)
    keep[keep.sum(axis=1) == 0] = 1.0
    return keep


@pytest.mark.parametrize("answer, hint", [
    (lambda probs, present: (np.asarray(probs) * np.asarray(present)).mean(axis=1), "denominator"),
    (lambda probs, present: np.asarray(probs).mean(axis=1), "still count"),
    (lambda probs, present: np.asarray(probs) * np.asarray(present), "shape (3,)"),
    (lambda probs, present: "high", "return a numeric array"),
    # the present ones summed, but divided by the count plus one: patient 1 (two present) is the first one off
    (lambda probs, present: (np.asarray(probs) * present).sum(axis=1) / (np.asarray(present).sum(axis=1) + 1),
     "patient 0"),
    (lambda probs, present: np.where(np.asarray(present).all(axis=1), np.asarray(probs).mean(axis=1), 0.5),
     "patient 1"),
    (crash, "raised ZeroDivisionError"),
])
def test_masked_late_average_hints(answer, hint):
    result = exercises.check_masked_late_average(answer)
    assert result.status == "wrong" and hint in result.message, result.message


@pytest.mark.parametrize("answer, hint", [
    (lambda n, m, rate, seed: dropout_mask(n, m + 1, rate, seed), "shape (4000, 3)"),
    (lambda n, m, rate, seed: dropout_mask(n, m, rate, seed) / (1 - rate), "only 0 (dropped) and 1"),
    (lambda n, m, rate, seed: dropout_mask(n, m, 0.5, seed), "expected roughly 30%"),
    (lambda n, m, rate, seed: dropout_mask(n, m, max(rate, 0.3), seed), "rate=0 must keep every modality"),
    (lambda n, m, rate, seed: None if n < 0 else "mask", "return a numeric array"),
    (crash, "raised ZeroDivisionError"),
])
def test_modality_dropout_mask_hints(answer, hint):
    result = exercises.check_modality_dropout_mask(answer)
    assert result.status == "wrong" and hint in result.message, result.message


@pytest.mark.parametrize("check", [exercises.check_masked_late_average, exercises.check_modality_dropout_mask,
                                   exercises.check_paired_auroc_difference])
@pytest.mark.parametrize("placeholder", [..., None, raise_not_implemented])
def test_chapter_6_placeholders_are_not_done(check, placeholder):
    result = check(placeholder)
    assert result.status == "not done" and "not done yet" in result.message


def test_one_se_reason_all_answers():
    assert exercises.check_one_se_reason(" B ").status == "correct"  # spaces and case do not matter
    assert "seed plot" in exercises.check_one_se_reason("a").message
    assert "selection on the test set" in exercises.check_one_se_reason("c").message
    for bad in ("z", "", 2, ["b"]):
        result = exercises.check_one_se_reason(bad)
        assert result.status == "wrong" and "one of the letters" in result.message
    assert exercises.check_one_se_reason(None).status == "not done"


def test_paired_auroc_difference_hints():
    assert "three numbers" in exercises.check_paired_auroc_difference(lambda *a: 0.5).message
    assert "three numbers" in exercises.check_paired_auroc_difference(lambda *a: (0.1, 0.2)).message
    result = exercises.check_paired_auroc_difference(crash)
    assert result.status == "wrong" and "ZeroDivisionError" in result.message

    def other_percentiles(y, p_a, p_b, n_boot, seed):  # a 90% interval where a 95% one is asked for
        rows = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
        diffs = [metrics.roc_auc(y[i], p_a[i]) - metrics.roc_auc(y[i], p_b[i]) for i in rows]
        low, high = np.quantile(diffs, [0.05, 0.95])
        return metrics.roc_auc(y, p_a) - metrics.roc_auc(y, p_b), low, high

    result = exercises.check_paired_auroc_difference(other_percentiles)
    assert result.status == "wrong" and "2.5th and 97.5th percentiles" in result.message
