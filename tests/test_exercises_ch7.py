"""Chapter 7's self-checks: right answers pass, typical mistakes get a hint, placeholders are 'not done'."""
from __future__ import annotations

import numpy as np
import pytest

from medkit import data, metrics
from medkit.exercises import check_domain_auroc, check_ks_statistic, check_oov_rate, check_shift_reading


def oov_rate(note, vocabulary):
    tokens = data.tokenize(note)
    return float(np.mean([t not in vocabulary for t in tokens])) if tokens else float("nan")


def ks_statistic(a, b):
    a, b = np.sort(a), np.sort(b)
    v = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, v, side="right") / len(a)
                               - np.searchsorted(b, v, side="right") / len(b))))


def domain_auroc(reference, new, seed=0, in_sample=False):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.concatenate([reference, new])
    y = np.r_[np.zeros(len(reference), int), np.ones(len(new), int)]
    model = LogisticRegression(max_iter=2000)
    if in_sample:
        return metrics.roc_auc(y, model.fit(x, y).decision_function(x))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return metrics.roc_auc(y, cross_val_predict(model, x, y, cv=folds, method="decision_function"))


def test_right_answers_pass():
    assert check_oov_rate(oov_rate).passed
    assert check_ks_statistic(ks_statistic).passed
    assert check_shift_reading(" A ").passed
    assert check_domain_auroc(domain_auroc).passed


@pytest.mark.parametrize("check, answer, hint", [
    (check_oov_rate, lambda note, vocab: float(np.mean([t not in vocab for t in note.split()])), "lower-case"),
    (check_oov_rate, lambda note, vocab: 0.0 if not data.tokenize(note) else oov_rate(note, vocab), "nan"),
    (check_ks_statistic, lambda a, b: float(np.max(np.abs(np.sort(a)[:5] - np.sort(b)[:5]))), "in [0, 1]"),
    (check_ks_statistic, lambda a, b: 0.5, "do not overlap"),
    (check_ks_statistic, lambda a, b: ks_statistic(a, b) if len(a) == len(b) else 0.5, "different sizes"),
    (check_shift_reading, "b", "same new patients"),
    (check_shift_reading, "c", "keeps the threshold"),
    (check_shift_reading, "maybe", "one letter"),
    (check_domain_auroc, lambda r, n, seed=0: domain_auroc(r, n, seed, in_sample=True), "fitted on"),
    (check_domain_auroc, lambda r, n, seed=0: 1 - domain_auroc(r, n, seed), "clearly shifted"),
])
def test_wrong_answers_fail_with_a_hint(check, answer, hint, capsys):
    result = check(answer)
    assert result.status == "wrong" and hint in result.message, result.message


@pytest.mark.parametrize("check", [check_oov_rate, check_ks_statistic, check_shift_reading, check_domain_auroc])
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholders_are_not_done(check, placeholder):
    assert check(placeholder).status == "not done"


def test_stub_that_raises_is_not_done():
    def stub(*args):
        raise NotImplementedError("dp-ex4")

    assert check_domain_auroc(stub).status == "not done"
