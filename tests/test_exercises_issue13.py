"""Self-checks of the exercises added for issue 13 (chapters 1-5): right answers pass, typical wrong answers
fail with a hint that does not print the answer, stubs are "not done", and no check raises."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import binomtest

from medkit import exercises as ex


def raise_not_implemented(*args, **kwargs):
    raise NotImplementedError("stub")


def good_gated_sum(features, gate_logits):
    g = softmax(np.asarray(gate_logits, float), axis=1)
    return sum(g[:, [m]] * np.asarray(f, float) for m, f in enumerate(features))


def good_wilson(k, n):
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")  # an independent oracle
    return ci.low, ci.high


def good_flag(note, finding):
    for sentence in note.split("."):
        low = sentence.lower()
        pos = low.find(finding)
        if pos >= 0 and not any(f" {cue} " in f" {low[:pos]} " for cue in ("no", "not", "denies", "negative for")):
            return True
    return False


def good_align(images, texts):
    by_id = dict(zip(images["patient_id"], images["path"], strict=True))
    missing = [p for p in texts["patient_id"] if p not in by_id]
    if missing:
        raise ValueError(f"no image for {missing}")
    return [by_id[p] for p in texts["patient_id"]]


THETA_MEAN = [0.8, 1.7]  # by hand: residuals (1, 1), gradient (2/n) * (1 + 1, 1 + 2) = (2, 3)
RIGHT = {
    "ce-ex3": lambda: ex.check_ce_article_formula(-0.9 * math.log(0.9) - 0.1 * math.log(0.1), "b"),
    "ce-ex4": lambda: ex.check_ce_two_models("B"),
    "gd-ex3": lambda: ex.check_gd_mean_convention(THETA_MEAN),
    "gd-ex4": lambda: ex.check_gd_diverging("a"),
    "fusion-ex3": lambda: ex.check_order_free_fusions({"sum", "average"}),
    "fusion-ex4": lambda: ex.check_gated_sum(good_gated_sum),
    "metrics-ex3": lambda: ex.check_article_metrics_fix({"accuracy": 0.5, "precision": 0.5, "f1": 0.5}),
    "metrics-ex4": lambda: ex.check_wilson_interval(good_wilson),
    "metrics-ex5": lambda: ex.check_specificity_width("c"),
    "mod-ex3": lambda: ex.check_flag_affirmed(good_flag),
    "mod-ex4": lambda: ex.check_align_by_id(good_align),
    "mod-ex5": lambda: ex.check_vocabulary_from_train("b"),
}


@pytest.mark.parametrize("exercise", list(RIGHT))
def test_right_answers_pass(exercise):
    result = RIGHT[exercise]()
    assert result.status == "correct", result.message
    assert result.exercise == exercise


def test_ce_two_models_answer_is_the_lower_mean_loss():
    c = ex.CE_EX4
    loss_a = -math.log(c["a"])
    loss_b = -((c["n"] - 1) * math.log(c["b_right"]) + math.log(c["b_wrong"])) / c["n"]
    assert loss_b < loss_a  # the answer "B" above is right because of these numbers, not by decree


WRONG = [
    (lambda: ex.check_ce_article_formula(-math.log(0.1), "b"), "correct loss"),
    (lambda: ex.check_ce_article_formula(0.105, "b"), "prints"),
    (lambda: ex.check_ce_article_formula(-0.9 * math.log(0.9) - 0.1 * math.log(0.1), "a"), "infinite"),
    (lambda: ex.check_ce_two_models("A"), "compute both means"),
    (lambda: ex.check_gd_mean_convention([0.9, 1.85]), "1/(2n)"),
    (lambda: ex.check_gd_mean_convention([0.9, 1.9]), "printed"),
    (lambda: ex.check_gd_mean_convention([1.2, 2.3]), "along the gradient"),
    (lambda: ex.check_gd_diverging("b"), "diverge further"),
    (lambda: ex.check_gd_diverging("z"), "one of the letters"),
    (lambda: ex.check_order_free_fusions({"concatenation", "sum", "average"}), "positions"),
    (lambda: ex.check_order_free_fusions({"sum"}), "missing"),
    (lambda: ex.check_gated_sum(lambda f, g: sum(softmax(g, axis=0)[:, [m]] * x for m, x in enumerate(f))), "axis 1"),
    (lambda: ex.check_gated_sum(lambda f, g: sum(np.asarray(g)[:, [m]] * x for m, x in enumerate(f))), "softmax"),
    (lambda: ex.check_article_metrics_fix({"accuracy": 0.75, "precision": 0.5, "f1": 0.5}), "printed"),
    (lambda: ex.check_wilson_interval(lambda k, n: (k / n - 1.96 * math.sqrt(k / n * (1 - k / n) / n),
                                                    k / n + 1.96 * math.sqrt(k / n * (1 - k / n) / n))), "differ"),
    (lambda: ex.check_wilson_interval(lambda k, n: tuple(binomtest(k, n).proportion_ci(method="exact"))), "Clopper"),
    (lambda: ex.check_specificity_width("d"), "sensitivity"),
    (lambda: ex.check_flag_affirmed(lambda note, f: f in note.lower()), "sentence"),
    (lambda: ex.check_align_by_id(lambda images, texts: list(images["path"])), "row order"),
    (lambda: ex.check_align_by_id(lambda images, texts: [dict(zip(images["patient_id"], images["path"],
                                                                  strict=True)).get(p, "")
                                                         for p in texts["patient_id"]]), "silently"),
    (lambda: ex.check_vocabulary_from_train("a"), "size"),
]


@pytest.mark.parametrize("call, hint", WRONG)
def test_wrong_answers_fail_with_a_hint(call, hint):
    result = call()
    assert result.status == "wrong"
    assert hint in result.message, result.message


@pytest.mark.parametrize("check", [
    ex.check_ce_two_models, ex.check_gd_mean_convention, ex.check_gd_diverging, ex.check_order_free_fusions,
    ex.check_gated_sum, ex.check_article_metrics_fix, ex.check_wilson_interval, ex.check_specificity_width,
    ex.check_flag_affirmed, ex.check_align_by_id, ex.check_vocabulary_from_train,
])
@pytest.mark.parametrize("placeholder", [..., None, raise_not_implemented])
def test_placeholders_are_not_done(check, placeholder):
    assert check(placeholder).status in ("not done", "wrong")
    if placeholder is not raise_not_implemented or check in (ex.check_gated_sum, ex.check_wilson_interval,
                                                             ex.check_flag_affirmed, ex.check_align_by_id):
        assert check(placeholder).status == "not done"


def test_ce_article_formula_not_done():
    assert ex.check_ce_article_formula(..., ...).status == "not done"
    assert ex.check_ce_article_formula(-0.9 * math.log(0.9) - 0.1 * math.log(0.1), ...).status == "not done"


def test_flag_affirmed_checks_the_stored_auroc_against_the_students_flags():
    from sklearn.metrics import roc_auc_score

    texts = ["No crackles.", "Crackles at the base.", "Denies fever. Crackles heard.", "Clear chest."]
    labels = [0, 1, 1, 0]
    right = float(roc_auc_score(labels, [float(good_flag(t, "crackles")) for t in texts]))
    assert ex.check_flag_affirmed(good_flag, right, texts, labels).passed
    assert ex.check_flag_affirmed(good_flag, 0.5, texts, labels).status == "wrong"


def test_wilson_answer_not_leaked():
    result = ex.check_wilson_interval(lambda k, n: (0.1, 0.2))
    low = binomtest(18, 19).proportion_ci(method="wilson").low
    assert result.status == "wrong" and f"{low:.3f}" not in result.message
