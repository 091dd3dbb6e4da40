"""Self-checks of chapters 2-4: right answers pass, wrong ones fail with a hint, stubs are "not done"; no check
reveals its answer or raises."""
from __future__ import annotations

import numpy as np
import pytest

from medkit import exercises as ex
from medkit import fusion, metrics, optim


def raise_not_implemented(*args, **kwargs):
    raise NotImplementedError("stub")


def crash(*args, **kwargs):
    raise ZeroDivisionError("oops")


# ---------------------------------------------------------------- right answers
def good_batch_gd(x, y, theta0, lr, n_steps):
    theta = np.asarray(theta0, dtype=float)
    for _ in range(n_steps):
        theta = theta - lr * optim.mse_gradient(theta, x, y)
    return theta


def good_average(features):
    widths = [np.shape(f)[-1] for f in features]
    if len(set(widths)) > 1:
        raise ValueError(f"widths differ: {widths}")
    return np.mean(np.stack(features), axis=0)


def good_auroc(y, s):
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    d = s[y == 1][:, None] - s[y == 0][None, :]
    return float(np.mean((d > 0) + 0.5 * (d == 0)))


CASES = {
    "gd-ex1": (ex.check_gd_gradient, [-1.5, -2.5]),
    "gd-ex2": (ex.check_batch_gd, good_batch_gd),
    "fusion-ex1": (ex.check_concat_shape, (32, 896)),
    "fusion-ex2": (ex.check_average_fusion, good_average),
    "metrics-ex1": (ex.check_screening_metrics,
                    {"sensitivity": 0.9, "specificity": 860 / 950, "ppv": 1 / 3, "npv": 860 / 865}),
    "metrics-ex2": (ex.check_auroc_by_ranking, good_auroc),
}
FUNCTION_EXERCISES = ["gd-ex2", "fusion-ex2", "metrics-ex2"]


@pytest.mark.parametrize("exercise", list(CASES))
def test_right_answers_pass(exercise, capsys):
    check, answer = CASES[exercise]
    result = check(answer)
    assert result.status == "correct", result.message
    assert result.exercise == exercise and result.passed
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(CASES))
@pytest.mark.parametrize("stub", [..., None])
def test_placeholders_are_not_done(exercise, stub):
    check, _ = CASES[exercise]
    assert check(stub).status == "not done"


@pytest.mark.parametrize("exercise", FUNCTION_EXERCISES)
def test_stub_functions_are_not_done_and_crashes_are_wrong(exercise):
    check, _ = CASES[exercise]
    assert check(raise_not_implemented).status == "not done"
    result = check(crash)
    assert result.status == "wrong" and "ZeroDivisionError" in result.message


# ---------------------------------------------------------------- wrong answers, with the hint they get
@pytest.mark.parametrize("answer, hint", [
    ([1.5, 2.5], "wrong sign"),
    ([-3.0, -5.0], "factor of 2"),
    ([1.0, 2.0], "residuals"),
    ([-1.5, 0.0], "dL/dtheta_0 is right"),
    ([1.0], "expected 2 numbers"),
    ("abc", "expected 2 numbers"),
    ([np.inf, 0.0], "inf or nan"),
])
def test_gradient_wrong_answers(answer, hint):
    result = ex.check_gd_gradient(answer)
    assert result.status == "wrong" and hint in result.message


def test_batch_gd_wrong_answers():
    def ascent(x, y, theta0, lr, n):
        theta = np.asarray(theta0, dtype=float)
        for _ in range(n):
            theta = theta + lr * optim.mse_gradient(theta, x, y)
        return theta

    def one_too_many(x, y, theta0, lr, n):
        return good_batch_gd(x, y, theta0, lr, n + 1)

    assert "stepping along the gradient" in ex.check_batch_gd(ascent).message
    assert "off by one" in ex.check_batch_gd(one_too_many).message
    assert "did not move" in ex.check_batch_gd(lambda x, y, t, lr, n: t).message
    assert ex.check_batch_gd(lambda x, y, t, lr, n: [1.0]).status == "wrong"
    assert ex.check_batch_gd(42).status == "wrong"


@pytest.mark.parametrize("answer, hint", [
    ((896,), "one row per patient"),
    ((32, 512), "one modality"),
    ((16, 896), "number of rows"),
    ((32, 900), "width is not"),
    ((32, 896, 1), "2-D"),
    ("32x896", "tuple of integers"),
])
def test_concat_shape_wrong_answers(answer, hint):
    result = ex.check_concat_shape(answer)
    assert result.status == "wrong" and hint in result.message


def test_average_fusion_wrong_answers():
    assert "sum" in ex.check_average_fusion(lambda f: np.sum(np.stack(f), axis=0)).message
    assert "shape" in ex.check_average_fusion(lambda f: np.mean(np.stack(f))).message
    lenient = ex.check_average_fusion(lambda f: np.mean(np.stack([np.resize(a, np.shape(f[0])) for a in f]), axis=0))
    assert lenient.status == "wrong" and "were accepted" in lenient.message
    silent = ex.check_average_fusion(lambda f: np.mean(np.stack(f), axis=0))  # numpy's own error names no widths
    assert silent.status == "wrong" and "name the widths" in silent.message


def test_screening_metrics_wrong_answers():
    right = dict(CASES["metrics-ex1"][1])
    swapped = dict(right, ppv=right["specificity"], specificity=right["ppv"])
    result = ex.check_screening_metrics(swapped)
    assert result.status == "wrong" and "that value is the specificity" in result.message
    percent = dict(right, sensitivity=90.0)
    assert "percentage" in ex.check_screening_metrics(percent).message
    assert "missing key" in ex.check_screening_metrics({"sensitivity": 0.9}).message
    assert ex.check_screening_metrics([0.9, 0.9, 0.3, 0.99]).status == "wrong"
    assert ex.check_screening_metrics(dict(right, npv=...)).status == "not done"


def test_auroc_wrong_answers():
    def ignores_ties(y, s):
        y, s = np.asarray(y), np.asarray(s, dtype=float)
        return float(np.mean(s[y == 1][:, None] > s[y == 0][None, :]))

    assert "tie" in ex.check_auroc_by_ranking(ignores_ties).message
    flipped = ex.check_auroc_by_ranking(lambda y, s: 1 - good_auroc(y, s))
    assert flipped.status == "wrong" and "1 - AUROC" in flipped.message
    assert ex.check_auroc_by_ranking(lambda y, s: "high").status == "wrong"


# ---------------------------------------------------------------- checks do not give the answer away
def test_messages_do_not_reveal_answers():
    want_grad = optim.mse_gradient([0.0, 1.0], [1.0, 2.0], [2.0, 4.0])
    messages = [ex.check_gd_gradient(a).message for a in ([1.5, 2.5], [0.0, 0.0], [-3.0, -5.0])]
    messages += [ex.check_concat_shape(a).message for a in ((896,), (32, 512), (32, 1))]
    messages += [ex.check_screening_metrics({"sensitivity": 0.1, "specificity": 0.1, "ppv": 0.1, "npv": 0.1}).message]
    forbidden = {"-1.5", "-2.5", "896", "0.9", "0.905", "0.333", "0.994"} | {repr(float(v)) for v in want_grad}
    for msg in messages:
        assert not any(tok in msg for tok in forbidden), msg


def test_reference_implementations_agree_with_the_exercise_answers():
    # the checks' references are the kit's own functions; pin the values the exercises expect
    np.testing.assert_allclose(optim.mse_gradient([0.0, 1.0], [1.0, 2.0], [2.0, 4.0]), [-1.5, -2.5])
    assert fusion.concat_fusion([np.zeros((32, 512)), np.zeros((32, 256)), np.zeros((32, 128))]).shape == (32, 896)
    c = ex.METRICS_EX1_COUNTS
    y = np.r_[np.ones(c["tp"] + c["fn"]), np.zeros(c["fp"] + c["tn"])]
    p = np.r_[np.ones(c["tp"]), np.zeros(c["fn"]), np.ones(c["fp"]), np.zeros(c["tn"])]
    assert metrics.precision(y, p) == pytest.approx(1 / 3)
    assert metrics.npv(y, p) == pytest.approx(860 / 865)
