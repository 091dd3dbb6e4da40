"""medkit.metrics against scikit-learn on generated labels and scores, edge cases included."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as sk

from medkit import metrics

EXAMPLES = settings(max_examples=60, deadline=None)


@st.composite
def labels_and_predictions(draw):
    n = draw(st.integers(1, 30))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    p = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    return y, p


@st.composite
def labels_and_scores(draw, both_classes=False):
    n = draw(st.integers(2 if both_classes else 1, 30))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    if both_classes and len(set(y.tolist())) < 2:
        y[0], y[-1] = 0, 1
    # Few distinct values make ties common; floats cover the rest.
    coarse = draw(st.booleans())
    elements = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) if coarse else st.floats(0, 1)
    s = draw(arrays(np.float64, n, elements=elements))
    return y, s


def sk_quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------- threshold metrics
@EXAMPLES
@given(labels_and_predictions(), st.sampled_from([0.0, 1.0]))
def test_threshold_metrics_match_sklearn(data, zero_division):
    y, p = data
    np.testing.assert_array_equal(metrics.confusion_matrix(y, p), sk.confusion_matrix(y, p, labels=[0, 1]))
    assert metrics.accuracy(y, p) == pytest.approx(sk.accuracy_score(y, p))
    kw = dict(zero_division=zero_division)
    assert metrics.precision(y, p, **kw) == pytest.approx(sk_quiet(sk.precision_score, y, p, labels=[0, 1], **kw))
    assert metrics.recall(y, p, **kw) == pytest.approx(sk_quiet(sk.recall_score, y, p, labels=[0, 1], **kw))
    assert metrics.f1_score(y, p, **kw) == pytest.approx(sk_quiet(sk.f1_score, y, p, labels=[0, 1], **kw))
    # specificity is the recall of class 0, NPV the precision of class 0
    assert metrics.specificity(y, p, **kw) == pytest.approx(
        sk_quiet(sk.recall_score, y, p, pos_label=0, labels=[0, 1], **kw))
    assert metrics.npv(y, p, **kw) == pytest.approx(
        sk_quiet(sk.precision_score, y, p, pos_label=0, labels=[0, 1], **kw))
    d = metrics.binary_metrics(y, p, **kw)
    assert d["tp"] + d["fp"] + d["tn"] + d["fn"] == y.size
    assert d["f1"] == pytest.approx(metrics.f1_score(y, p, **kw))


def test_article_example_values():
    y, p = [0, 1, 0, 1], [0, 0, 1, 1]
    d = metrics.binary_metrics(y, p)
    assert {k: d[k] for k in ("tp", "fp", "tn", "fn")} == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    for key in ("accuracy", "precision", "recall", "specificity", "npv", "f1"):
        assert d[key] == 0.5


def test_zero_division_is_defined():
    # nothing flagged: precision undefined; no positives: recall undefined
    assert metrics.precision([1, 0], [0, 0]) == 0.0
    assert metrics.precision([1, 0], [0, 0], zero_division=1.0) == 1.0
    assert math.isnan(metrics.precision([1, 0], [0, 0], zero_division=np.nan))
    assert metrics.recall([0, 0], [1, 0]) == 0.0
    assert metrics.specificity([1, 1], [1, 0]) == 0.0
    assert metrics.npv([0, 1], [1, 1]) == 0.0
    assert metrics.f1_score([0, 0], [0, 0]) == 0.0
    assert metrics.f1_score([0, 0], [0, 0], zero_division=1.0) == 1.0
    # F1 stays defined when only one of precision and recall is
    assert metrics.f1_score([0, 1], [0, 0]) == 0.0


def test_all_predictions_one_class():
    y = np.array([0, 1, 1, 0, 1])
    assert metrics.recall(y, np.ones(5, int)) == 1.0
    assert metrics.specificity(y, np.ones(5, int)) == 0.0
    assert metrics.precision(y, np.ones(5, int)) == pytest.approx(0.6)
    assert metrics.recall(y, np.zeros(5, int)) == 0.0
    assert metrics.specificity(y, np.zeros(5, int)) == 1.0


# ---------------------------------------------------------------- ranking metrics
@EXAMPLES
@given(labels_and_scores(both_classes=True))
def test_roc_matches_sklearn(data):
    y, s = data
    fpr, tpr, thr = metrics.roc_curve(y, s)
    fpr2, tpr2, thr2 = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr2)
    np.testing.assert_allclose(tpr, tpr2)
    np.testing.assert_allclose(thr, thr2)
    assert metrics.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))


@EXAMPLES
@given(labels_and_scores())
def test_precision_recall_match_sklearn(data):
    y, s = data
    p, r, t = metrics.precision_recall_curve(y, s)
    p2, r2, t2 = sk_quiet(sk.precision_recall_curve, y, s)
    np.testing.assert_allclose(p, p2)
    np.testing.assert_allclose(r, r2)
    np.testing.assert_allclose(t, t2)
    if y.any():
        assert metrics.average_precision(y, s) == pytest.approx(sk_quiet(sk.average_precision_score, y, s))
    else:
        assert math.isnan(metrics.average_precision(y, s))


@EXAMPLES
@given(labels_and_scores())
def test_brier_matches_sklearn(data):
    y, s = data
    assert metrics.brier_score(y, s) == pytest.approx(sk.brier_score_loss(y, s, labels=[0, 1]))


@EXAMPLES
@given(labels_and_scores(both_classes=True))
def test_auroc_is_pairwise_ranking_probability(data):
    y, s = data
    diff = s[y == 1][:, None] - s[y == 0][None, :]
    assert metrics.roc_auc(y, s) == pytest.approx(np.mean((diff > 0) + 0.5 * (diff == 0)))


def test_one_class_gives_nan_auroc_and_defined_auprc():
    assert math.isnan(metrics.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(metrics.roc_auc([0, 0], [0.2, 0.5]))
    assert math.isnan(metrics.average_precision([0, 0], [0.2, 0.5]))
    assert metrics.average_precision([1, 1], [0.2, 0.5]) == 1.0
    fpr, tpr, _ = metrics.roc_curve([1, 1], [0.2, 0.5])
    assert np.all(np.isnan(fpr)) and tpr[-1] == 1.0


def test_all_tied_scores_give_chance():
    assert metrics.roc_auc([0, 1, 0, 1], [0.5] * 4) == 0.5
    assert metrics.average_precision([0, 1, 0, 1], [0.5] * 4) == 0.5


# ---------------------------------------------------------------- thresholds
@EXAMPLES
@given(labels_and_scores(both_classes=True))
def test_youden_threshold_is_the_best_over_all_thresholds(data):
    y, s = data
    t, j = metrics.youden_threshold(y, s)
    best = max(metrics.recall(y, s >= c) + metrics.specificity(y, s >= c) - 1 for c in np.unique(s))
    assert j == pytest.approx(best)
    assert metrics.recall(y, s >= t) + metrics.specificity(y, s >= t) - 1 == pytest.approx(j)


@EXAMPLES
@given(labels_and_scores(both_classes=True), st.sampled_from([0.5, 0.8, 0.9, 1.0]))
def test_threshold_for_sensitivity_is_the_highest_meeting_the_target(data, target):
    y, s = data
    t, sens, spec = metrics.threshold_for_sensitivity(y, s, target)
    assert sens >= target - 1e-12
    assert metrics.recall(y, s >= t) == pytest.approx(sens)
    assert metrics.specificity(y, s >= t) == pytest.approx(spec)
    higher = np.unique(s)[np.unique(s) > t]
    assert all(metrics.recall(y, s >= c) < target - 1e-12 for c in higher)


def test_threshold_rules_need_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        metrics.youden_threshold([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="at least one positive"):
        metrics.threshold_for_sensitivity([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="target sensitivity"):
        metrics.threshold_for_sensitivity([0, 1], [0.1, 0.2], target=0)


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    s = np.clip(y * 0.3 + rng.random(80) * 0.7, 0, 1)
    a = metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=300, seed=1)
    b = metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=300, seed=1)
    c = metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=300, seed=2)
    assert a == b and a != c
    assert a.low <= a.estimate <= a.high
    assert a.estimate == pytest.approx(sk.roc_auc_score(y, s))
    assert a.n_valid == 300
    est, low, high, n_valid, alpha = a  # unpacks as a tuple
    assert alpha == 0.05
    assert low < high


def test_bootstrap_percentiles_by_hand():
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 0, 1])
    p = np.array([0, 1, 1, 1, 0, 0, 1, 0, 1, 1])
    ci = metrics.bootstrap_ci(metrics.accuracy, y, p, n_boot=200, seed=4, alpha=0.1)
    rng = np.random.default_rng(4)
    vals = [sk.accuracy_score(y[i], p[i]) for i in rng.integers(0, 10, size=(200, 10))]
    assert ci.low == pytest.approx(np.quantile(vals, 0.05))
    assert ci.high == pytest.approx(np.quantile(vals, 0.95))


def test_bootstrap_drops_undefined_resamples():
    y = np.array([0] * 9 + [1])
    s = np.linspace(0, 1, 10)
    ci = metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=200, seed=0)
    assert 0 < ci.n_valid < 200  # resamples without the single positive have no AUROC
    strat = metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=200, seed=0, stratified=True)
    assert strat.n_valid == 200
    none = metrics.bootstrap_ci(metrics.roc_auc, [1, 1], [0.1, 0.2], n_boot=10)
    assert none.n_valid == 0 and math.isnan(none.low)


def test_summary_with_ci():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    p = np.clip(0.5 * y + 0.5 * rng.random(60), 0, 1)
    out = metrics.summary_with_ci(y, p, n_boot=100, seed=0)
    assert set(out) == {"auroc", "auprc", "f1", "sensitivity", "specificity", "brier"}
    assert out["auroc"].estimate == pytest.approx(sk.roc_auc_score(y, p))
    assert out["auprc"].estimate == pytest.approx(sk.average_precision_score(y, p))
    assert out["brier"].estimate == pytest.approx(sk.brier_score_loss(y, p))
    assert out["f1"].estimate == pytest.approx(sk.f1_score(y, p >= 0.5))
    for ci in out.values():
        assert ci.low <= ci.estimate <= ci.high
    assert "95% CI" in str(out["auroc"])
    assert out == metrics.summary_with_ci(y, p, n_boot=100, seed=0)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("call, match", [
    (lambda: metrics.accuracy([0, 1], [0, 1, 1]), "same length; got 2 and 3"),
    (lambda: metrics.accuracy([0, 2], [0, 1]), "only 0 and 1; found 2 at index 1"),
    (lambda: metrics.accuracy([], []), "empty"),
    (lambda: metrics.roc_auc([0, 1], [0.1, np.nan]), "nan or inf"),
    (lambda: metrics.brier_score([0, 1], [0.1, 1.5]), "probabilities in \\[0, 1\\]"),
    (lambda: metrics.bootstrap_ci(metrics.accuracy, [0, 1], [0, 1], n_boot=0), "n_boot"),
    (lambda: metrics.bootstrap_ci(metrics.accuracy, [0, 1], [0, 1], alpha=1.5), "alpha"),
    (lambda: metrics.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2))), "1-D"),
])
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_accepts_booleans_and_column_vectors():
    assert metrics.accuracy(np.array([True, False]), np.array([[1], [0]])) == 1.0
    assert metrics.roc_auc(np.array([[0], [1]]), np.array([[0.2], [0.8]])) == 1.0


def test_paired_bootstrap_matches_bootstrap_ci_and_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    a = y + rng.normal(0, 1.0, (3, 60))  # three "seeds"
    b = y + rng.normal(0, 1.5, 60)
    est, boot = metrics.paired_bootstrap(metrics.roc_auc, y, {"a": a, "b": b}, n_boot=200, seed=4)
    assert est["a"] == pytest.approx(np.mean([sk.roc_auc_score(y, row) for row in a]))
    assert est["b"] == pytest.approx(sk.roc_auc_score(y, b))
    # one model, one seed: the same resamples as bootstrap_ci, hence the same interval
    ci = metrics.bootstrap_ci(metrics.roc_auc, y, b, n_boot=200, seed=4)
    assert tuple(metrics.percentile_ci(boot["b"], est["b"]))[:3] == pytest.approx(tuple(ci)[:3])
    # paired: the difference's samples are resample-by-resample differences
    first = np.random.default_rng(4).integers(0, 60, size=(200, 60))[0]
    assert boot["a"][0] - boot["b"][0] == pytest.approx(
        np.mean([sk.roc_auc_score(y[first], row[first]) for row in a]) - sk.roc_auc_score(y[first], b[first]))


def test_paired_interval_is_narrower_than_the_separate_ones_for_correlated_models():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    shared = y + rng.normal(0, 1.0, 80)
    a, b = shared + rng.normal(0, 0.2, 80), shared + rng.normal(0, 0.2, 80)
    est, boot = metrics.paired_bootstrap(metrics.roc_auc, y, {"a": a, "b": b}, n_boot=300)
    diff = metrics.percentile_ci(boot["a"] - boot["b"], est["a"] - est["b"])
    single = metrics.percentile_ci(boot["a"], est["a"])
    assert (diff.high - diff.low) < 0.5 * (single.high - single.low)


def test_bootstrap_ci_label_follows_alpha():
    y = np.array([0, 1] * 20)
    s = np.linspace(0, 1, 40)
    assert "90% CI" in str(metrics.bootstrap_ci(metrics.roc_auc, y, s, n_boot=50, alpha=0.1))
    with pytest.raises(ValueError, match="shape"):
        metrics.paired_bootstrap(metrics.roc_auc, y, {"a": s[:10]})

# ---------------------------------------------------------------- proportion_ci against scipy.stats.binomtest
@EXAMPLES
@given(n=st.integers(1, 400), frac=st.floats(0, 1), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_proportion_ci_matches_scipy_binomtest(n, frac, level):
    from scipy.stats import binomtest

    k = int(round(frac * n))
    for method, scipy_method in (("wilson", "wilson"), ("clopper-pearson", "exact"), ("exact", "exact")):
        got = metrics.proportion_ci(k, n, method=method, alpha=1 - level)
        want = binomtest(k, n).proportion_ci(confidence_level=level, method=scipy_method)
        assert got.estimate == pytest.approx(k / n)
        assert got.low == pytest.approx(want.low, abs=1e-9)
        assert got.high == pytest.approx(want.high, abs=1e-9)
        assert 0.0 <= got.low <= got.estimate <= got.high <= 1.0


def test_proportion_ci_the_issue_example_and_the_ends():
    exact = metrics.proportion_ci(18, 19, method="clopper-pearson")
    assert (round(exact.low, 3), round(exact.high, 3)) == (0.740, 0.999)
    assert metrics.proportion_ci(0, 7, method="exact").low == 0.0
    assert metrics.proportion_ci(7, 7, method="exact").high == 1.0
    # the exact interval is never narrower than Wilson's at the ends, and Wilson is never degenerate
    for k, n in ((0, 7), (7, 7), (1, 30)):
        w, e = metrics.proportion_ci(k, n), metrics.proportion_ci(k, n, method="exact")
        assert w.high - w.low > 0 and e.high - e.low >= w.high - w.low - 1e-12


@pytest.mark.parametrize("k, n, method, alpha, match", [
    (3, 0, "wilson", 0.05, "n >= 1"), (5, 4, "wilson", 0.05, "0 <= k <= n"), (-1, 4, "wilson", 0.05, "0 <= k"),
    (2.5, 4, "wilson", 0.05, "integers"), (1, 4, "wald", 0.05, "method"), (1, 4, "wilson", 1.5, "alpha"),
])
def test_proportion_ci_rejects_bad_arguments(k, n, method, alpha, match):
    with pytest.raises(ValueError, match=match):
        metrics.proportion_ci(k, n, method=method, alpha=alpha)


# ---------------------------------------------------------------- defaults, labels and edges (mutation testing)
def test_defaults_are_the_documented_ones():
    """Notebooks call these with their defaults; a changed default changes glued numbers silently."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 40)
    s = np.clip(0.3 * y + 0.7 * rng.random(40), 0, 1)
    assert metrics.binary_metrics([1, 0], [0, 0])["precision"] == 0.0  # zero_division=0.0
    np.testing.assert_array_equal(metrics.predict_at([0.2, 0.5, 0.7]), [0, 1, 1])  # threshold 0.5, score >= t
    assert metrics.BootstrapCI(0.5, 0.4, 0.6, 10).alpha == 0.05
    default = metrics.bootstrap_ci(metrics.brier_score, y, s)
    assert default == metrics.bootstrap_ci(metrics.brier_score, y, s, n_boot=1000, seed=0, alpha=0.05)
    assert default.n_valid == 1000
    summary = metrics.summary_with_ci(y, s)
    assert summary == metrics.summary_with_ci(y, s, threshold=0.5, n_boot=1000, seed=0, alpha=0.05)
    assert summary["brier"].n_valid == 1000
    est, boot = metrics.paired_bootstrap(metrics.brier_score, y, {"a": s})
    est2, boot2 = metrics.paired_bootstrap(metrics.brier_score, y, {"a": s}, n_boot=1000, seed=0, stratified=False)
    assert est == est2 and boot["a"].shape == (1000,)
    np.testing.assert_array_equal(boot["a"], boot2["a"])


def test_interval_labels_print_what_they_hold():
    assert str(metrics.BootstrapCI(0.5, 0.4, 0.6, 10)) == "0.500 (95% CI 0.400-0.600)"
    assert str(metrics.BootstrapCI(0.5, math.nan, math.nan, 0)) == "0.500 (no CI)"
    assert str(metrics.proportion_ci(18, 19)) == "0.947 (95% CI 0.754-0.991)"


def test_proportion_ci_label_follows_alpha():
    ci = metrics.proportion_ci(18, 19, alpha=0.1)
    assert "90% CI" in str(ci)
    assert len(ci) == 3 and ci[1:] == (ci.low, ci.high)  # still unpacks as three numbers


def test_summary_with_ci_uses_one_set_of_resamples_for_all_six():
    """Oracles: the by-hand percentile bootstrap with scikit-learn, and bootstrap_ci on the same seed."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 30)
    p = np.clip(0.4 * y + 0.6 * rng.random(30), 0, 1)
    out = metrics.summary_with_ci(y, p, n_boot=150, seed=3, alpha=0.2)
    rows = np.random.default_rng(3).integers(0, 30, size=(150, 30))
    values = [sk.roc_auc_score(y[i], p[i]) for i in rows if len(set(y[i])) == 2]
    assert out["auroc"].low == pytest.approx(np.quantile(values, 0.1))
    assert out["auroc"].high == pytest.approx(np.quantile(values, 0.9))
    assert out["auroc"].n_valid == len(values) and out["auroc"].alpha == 0.2
    for name, fn in (("brier", metrics.brier_score), ("auprc", metrics.average_precision),
                     ("f1", lambda a, b: metrics.f1_score(a, b >= 0.5))):
        assert out[name] == metrics.bootstrap_ci(fn, y, p, n_boot=150, seed=3, alpha=0.2), name
    # one class only: no resample has an AUROC, and the interval says so
    none = metrics.summary_with_ci(np.zeros(6, int), np.linspace(0, 1, 6), n_boot=20)
    assert none["auroc"].n_valid == 0 and math.isnan(none["auroc"].low) and math.isnan(none["auroc"].estimate)
    assert none["brier"].n_valid == 20


def test_percentile_ci_edges():
    one = metrics.percentile_ci([0.3], 0.3)
    assert (one.low, one.high, one.n_valid) == (0.3, 0.3, 1)
    empty = metrics.percentile_ci([np.nan, np.nan], 0.5)
    assert empty.n_valid == 0 and math.isnan(empty.low) and math.isnan(empty.high) and empty.estimate == 0.5


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1])
def test_alpha_must_be_strictly_between_0_and_1(alpha):
    with pytest.raises(ValueError, match="alpha"):
        metrics.bootstrap_ci(metrics.accuracy, [0, 1], [0, 1], n_boot=5, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        metrics.summary_with_ci([0, 1], [0.2, 0.8], n_boot=5, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        metrics.proportion_ci(1, 4, alpha=alpha)


def test_scores_and_counts_must_have_the_right_shape():
    with pytest.raises(ValueError, match="1-D array of scores"):
        metrics.roc_auc([0, 1, 0, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="n >= 1"):
        metrics.proportion_ci(0, 0)
