"""Chapter 6's self-checks: right, wrong and not-done answers get the verdict and hint they should."""
from __future__ import annotations

import numpy as np

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
