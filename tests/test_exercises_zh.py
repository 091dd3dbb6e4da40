"""Self-checks in Chinese (issue 16): every line a check prints follows ``medkit.language``.

Under ``using_language("zh")`` each verdict reads ``[通过] 练习 1.1：……`` / ``[未通过] ……`` /
``[待完成] ……``, in Chinese, with the numbers the English line has; under ``"en"`` the line
is the English one. Every message of :mod:`medkit.exercises` is written as an English/Chinese
pair side by side in the code, and a message added in one language only fails
:func:`test_every_message_in_exercises_py_is_a_bilingual_pair`.

The answers that drive the checks are the existing tests' (right, wrong with each hint, not
done, crashing), imported from their modules, plus the few cases those tests write inline.
"""
from __future__ import annotations

import ast
import inspect
import itertools
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import binomtest

import test_exercises_ch1 as ch1
import test_exercises_ch2_4 as ch2_4
import test_exercises_ch5 as ch5
import test_exercises_ch7 as ch7
import test_exercises_issue13 as issue13
from medkit import data, metrics
from medkit import exercises as ex
from medkit.language import get_language, using_language

EXERCISES_PY = Path(ex.__file__)
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?")
CODE = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"|\{[^{}]*\}")  # code, quoted values and f-string fields
WORDS = re.compile(r"[A-Za-z]+ +[A-Za-z]+")  # a tuple of two texts with words in them is a message pair
ENGLISH_RUN = re.compile(r"(?<![\w.])[A-Za-z]+(?: +[A-Za-z]+){2,}(?![\w(])")  # three words or more


def stub(*args, **kwargs):
    raise NotImplementedError("stub")


def crash(*args, **kwargs):
    raise ZeroDivisionError("oops")


# ---------------------------------------------------------------- right answers not importable from the other tests
reference_ce, unclipped_ce = ch1.reference, ch1.unclipped


def masked_average(probs, present):
    probs, present = np.asarray(probs, float), np.asarray(present, float)
    return (probs * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1e-12)


def dropout_mask(n, m, rate, seed):
    keep = (np.random.default_rng(seed).random((n, m)) >= rate).astype(float)
    keep[keep.sum(axis=1) == 0] = 1.0
    return keep


def paired_difference(y, p_a, p_b, n_boot, seed, q=0.025):
    rows = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    diffs = [metrics.roc_auc(y[i], p_a[i]) - metrics.roc_auc(y[i], p_b[i]) for i in rows]
    low, high = np.quantile(diffs, [q, 1 - q])
    return metrics.roc_auc(y, p_a) - metrics.roc_auc(y, p_b), low, high


def wald(k, n):
    p = k / n
    half = 1.959963984540054 * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def gradient_descent_steps(k):
    return lambda x, y, t, lr, n: ch2_4.good_batch_gd(x, y, t, lr, k)


SCREENING = ch2_4.CASES["metrics-ex1"][1]
TEXTS = ["No crackles.", "Crackles at the base.", "Denies fever. Crackles heard.", "Clear chest."]
LABELS = [0, 1, 1, 0]
FORMULA = -0.9 * math.log(0.9) - 0.1 * math.log(0.1)

#: (what is checked, the call) for every check: right, each wrong answer with its own hint, not done.
def ignores_its_seed():
    """A domain_auroc that splits the folds another way on each call, whatever seed it is given.

    A fresh counter per check, so that the English and the Chinese run of the check see the same calls.
    """
    calls = itertools.count(100)
    return lambda r, n, seed=0: ch7.domain_auroc(r, n, next(calls))


CALLS: list[tuple[str, Callable[[], ex.CheckResult]]] = [
    # ---- chapter 1
    ("ce-ex1 right", lambda: ex.check_ce_value(-math.log(0.2))),
    ("ce-ex1 label 1", lambda: ex.check_ce_value(-math.log(0.8))),
    ("ce-ex1 log10", lambda: ex.check_ce_value(-math.log10(0.2))),
    ("ce-ex1 negative", lambda: ex.check_ce_value(math.log(0.2))),
    ("ce-ex1 other", lambda: ex.check_ce_value(3.0)),
    ("ce-ex1 text", lambda: ex.check_ce_value("one")),
    ("ce-ex1 inf", lambda: ex.check_ce_value(float("inf"))),
    ("ce-ex1 todo", lambda: ex.check_ce_value(...)),
    ("ce-ex2 right", lambda: ex.check_binary_ce(reference_ce)),
    ("ce-ex2 unclipped", lambda: ex.check_binary_ce(unclipped_ce)),
    ("ce-ex2 sum", lambda: ex.check_binary_ce(lambda y, p: reference_ce(y, p) * len(y))),
    ("ce-ex2 off", lambda: ex.check_binary_ce(lambda y, p: 0.5)),
    ("ce-ex2 array", lambda: ex.check_binary_ce(lambda y, p: np.ones(3))),
    ("ce-ex2 crash", lambda: ex.check_binary_ce(crash)),
    ("ce-ex2 not a function", lambda: ex.check_binary_ce(42)),
    ("ce-ex2 stub", lambda: ex.check_binary_ce(stub)),
    ("ce-ex2 todo", lambda: ex.check_binary_ce(...)),
    ("ce-ex3 right", lambda: ex.check_ce_article_formula(FORMULA, "b")),
    ("ce-ex3 correct loss", lambda: ex.check_ce_article_formula(-math.log(0.1), "b")),
    ("ce-ex3 printed", lambda: ex.check_ce_article_formula(0.105, "b")),
    ("ce-ex3 log10", lambda: ex.check_ce_article_formula(-0.9 * math.log10(0.9) - 0.1 * math.log10(0.1), "b")),
    ("ce-ex3 other", lambda: ex.check_ce_article_formula(1.0, "b")),
    ("ce-ex3 a", lambda: ex.check_ce_article_formula(FORMULA, "a")),
    ("ce-ex3 c", lambda: ex.check_ce_article_formula(FORMULA, "c")),
    ("ce-ex3 letter", lambda: ex.check_ce_article_formula(FORMULA, "z")),
    ("ce-ex3 todo", lambda: ex.check_ce_article_formula(..., ...)),
    ("ce-ex3 slip todo", lambda: ex.check_ce_article_formula(FORMULA, ...)),
    ("ce-ex4 right", lambda: ex.check_ce_two_models("B")),
    ("ce-ex4 wrong", lambda: ex.check_ce_two_models("A")),
    ("ce-ex4 letter", lambda: ex.check_ce_two_models("C")),
    ("ce-ex4 todo", lambda: ex.check_ce_two_models(None)),
    # ---- chapter 2
    *[(f"gd-ex1 {answer}", lambda answer=answer: ex.check_gd_gradient(answer))
      for answer in ([-1.5, -2.5], [1.5, 2.5], [-3.0, -5.0], [1.0, 2.0], [-1.5, 0.0], [0.0, 0.0], [1.0], "abc",
                     [np.inf, 0.0], None)],
    ("gd-ex2 right", lambda: ex.check_batch_gd(ch2_4.good_batch_gd)),
    ("gd-ex2 ascent", lambda: ex.check_batch_gd(
        lambda x, y, t, lr, n: ch2_4.good_batch_gd(x, y, t, -lr, n))),
    ("gd-ex2 one too many", lambda: ex.check_batch_gd(gradient_descent_steps(26))),
    ("gd-ex2 did not move", lambda: ex.check_batch_gd(lambda x, y, t, lr, n: t)),
    ("gd-ex2 one number", lambda: ex.check_batch_gd(lambda x, y, t, lr, n: [1.0])),
    ("gd-ex2 only this data", lambda: ex.check_batch_gd(
        lambda x, y, t, lr, n: ch2_4.good_batch_gd(x, y, t, lr, n) if len(x) > 2 else t)),
    ("gd-ex2 other", lambda: ex.check_batch_gd(gradient_descent_steps(10))),
    ("gd-ex2 crash", lambda: ex.check_batch_gd(crash)),
    ("gd-ex2 stub", lambda: ex.check_batch_gd(stub)),
    *[(f"gd-ex3 {answer}", lambda answer=answer: ex.check_gd_mean_convention(answer))
      for answer in (issue13.THETA_MEAN, [0.9, 1.85], [0.9, 1.9], [1.2, 2.3], [0.0, 0.0], ...)],
    *[(f"gd-ex4 {answer}", lambda answer=answer: ex.check_gd_diverging(answer))
      for answer in ("a", "b", "c", "d", "z", None)],
    # ---- chapter 3
    *[(f"fusion-ex1 {answer}", lambda answer=answer: ex.check_concat_shape(answer))
      for answer in ((32, 896), (896,), (32, 512), (16, 896), (32, 900), (32, 896, 1), "32x896", ...)],
    ("fusion-ex2 right", lambda: ex.check_average_fusion(ch2_4.good_average)),
    ("fusion-ex2 sum", lambda: ex.check_average_fusion(lambda f: np.sum(np.stack(f), axis=0))),
    ("fusion-ex2 shape", lambda: ex.check_average_fusion(lambda f: np.mean(np.stack(f)))),
    ("fusion-ex2 values", lambda: ex.check_average_fusion(lambda f: np.stack(f).max(axis=0))),
    ("fusion-ex2 accepted", lambda: ex.check_average_fusion(
        lambda f: np.mean(np.stack([np.resize(a, np.shape(f[0])) for a in f]), axis=0))),
    ("fusion-ex2 no widths", lambda: ex.check_average_fusion(lambda f: np.mean(np.stack(f), axis=0))),
    ("fusion-ex2 error type", lambda: ex.check_average_fusion(
        lambda f: ch2_4.good_average(f) if len({np.shape(a)[-1] for a in f}) == 1 else {}[0])),
    ("fusion-ex2 stub", lambda: ex.check_average_fusion(stub)),
    ("fusion-ex2 late stub", lambda: ex.check_average_fusion(
        lambda f: ch2_4.good_average(f) if len({np.shape(a)[-1] for a in f}) == 1 else stub())),
    *[(f"fusion-ex3 {sorted(answer) if isinstance(answer, set) else answer}",
       lambda answer=answer: ex.check_order_free_fusions(answer))
      for answer in ({"sum", "average"}, {"concatenation", "sum", "average"}, {"sum"}, {"product"}, 3, ...)],
    ("fusion-ex4 right", lambda: ex.check_gated_sum(issue13.good_gated_sum)),
    ("fusion-ex4 axis 0", lambda: ex.check_gated_sum(
        lambda f, g: sum(softmax(g, axis=0)[:, [m]] * x for m, x in enumerate(f)))),
    ("fusion-ex4 no softmax", lambda: ex.check_gated_sum(
        lambda f, g: sum(np.asarray(g)[:, [m]] * x for m, x in enumerate(f)))),
    ("fusion-ex4 values", lambda: ex.check_gated_sum(lambda f, g: f[0])),
    ("fusion-ex4 shape", lambda: ex.check_gated_sum(lambda f, g: f[0][:2])),
    ("fusion-ex4 text", lambda: ex.check_gated_sum(lambda f, g: "mix")),
    ("fusion-ex4 one case", lambda: ex.check_gated_sum(
        lambda f, g: issue13.good_gated_sum(f, g) if np.any(g) else f[0])),
    ("fusion-ex4 stub", lambda: ex.check_gated_sum(stub)),
    # ---- chapter 4
    ("metrics-ex1 right", lambda: ex.check_screening_metrics(SCREENING)),
    ("metrics-ex1 swapped", lambda: ex.check_screening_metrics(
        dict(SCREENING, ppv=SCREENING["specificity"], specificity=SCREENING["ppv"]))),
    ("metrics-ex1 percent", lambda: ex.check_screening_metrics(dict(SCREENING, sensitivity=90.0))),
    ("metrics-ex1 off", lambda: ex.check_screening_metrics(dict(SCREENING, npv=0.5))),
    ("metrics-ex1 text", lambda: ex.check_screening_metrics(dict(SCREENING, npv="high"))),
    ("metrics-ex1 missing", lambda: ex.check_screening_metrics({"sensitivity": 0.9})),
    ("metrics-ex1 list", lambda: ex.check_screening_metrics([0.9, 0.9, 0.3, 0.99])),
    ("metrics-ex1 part todo", lambda: ex.check_screening_metrics(dict(SCREENING, npv=...))),
    ("metrics-ex1 todo", lambda: ex.check_screening_metrics(None)),
    ("metrics-ex2 right", lambda: ex.check_auroc_by_ranking(ch2_4.good_auroc)),
    ("metrics-ex2 flipped", lambda: ex.check_auroc_by_ranking(lambda y, s: 1 - ch2_4.good_auroc(y, s))),
    ("metrics-ex2 ties", lambda: ex.check_auroc_by_ranking(
        lambda y, s: float(np.mean(np.asarray(s)[np.asarray(y) == 1][:, None]
                                   > np.asarray(s)[np.asarray(y) == 0][None, :])))),
    ("metrics-ex2 off", lambda: ex.check_auroc_by_ranking(lambda y, s: 0.3)),
    ("metrics-ex2 text", lambda: ex.check_auroc_by_ranking(lambda y, s: "high")),
    ("metrics-ex2 stub", lambda: ex.check_auroc_by_ranking(stub)),
    ("metrics-ex3 right", lambda: ex.check_article_metrics_fix({"accuracy": 0.5, "precision": 0.5, "f1": 0.5})),
    ("metrics-ex3 printed", lambda: ex.check_article_metrics_fix({"accuracy": 0.75, "precision": 0.5, "f1": 0.5})),
    ("metrics-ex3 off", lambda: ex.check_article_metrics_fix({"accuracy": 0.5, "precision": 0.2, "f1": 0.385})),
    ("metrics-ex3 keys", lambda: ex.check_article_metrics_fix({"accuracy": 0.5})),
    ("metrics-ex3 text", lambda: ex.check_article_metrics_fix({"accuracy": "x", "precision": 0.5, "f1": 0.5})),
    ("metrics-ex3 todo", lambda: ex.check_article_metrics_fix(...)),
    ("metrics-ex4 right", lambda: ex.check_wilson_interval(issue13.good_wilson)),
    ("metrics-ex4 wald", lambda: ex.check_wilson_interval(wald)),
    ("metrics-ex4 exact", lambda: ex.check_wilson_interval(
        lambda k, n: tuple(binomtest(k, n).proportion_ci(method="exact")))),
    ("metrics-ex4 off", lambda: ex.check_wilson_interval(lambda k, n: (0.1, 0.2))),
    ("metrics-ex4 three", lambda: ex.check_wilson_interval(lambda k, n: (0.1, 0.2, 0.3))),
    ("metrics-ex4 stub", lambda: ex.check_wilson_interval(stub)),
    *[(f"metrics-ex5 {answer}", lambda answer=answer: ex.check_specificity_width(answer))
      for answer in ("c", "a", "b", "d", "e", None)],
    # ---- chapter 5 (and the issue-13 exercises): the other tests' lists
    *[(f"ch5 {i} {hint}", call) for i, (call, hint) in enumerate(ch5.WRONG)],
    *[(f"ch5 {name} right", call) for name, call in ch5.RIGHT.items()],
    *[(f"issue13 {i} {hint}", call) for i, (call, hint) in enumerate(issue13.WRONG)],
    *[(f"issue13 {name} right", call) for name, call in issue13.RIGHT.items()],
    ("mod-ex2 a cue after", lambda: ex.check_is_negated(lambda s, f: "no" in s.lower())),
    ("mod-ex3 auroc right", lambda: ex.check_flag_affirmed(
        issue13.good_flag, float(metrics.roc_auc(LABELS, [float(issue13.good_flag(t, "crackles")) for t in TEXTS])),
        TEXTS, LABELS)),
    ("mod-ex3 auroc wrong", lambda: ex.check_flag_affirmed(issue13.good_flag, 0.5, TEXTS, LABELS)),
    ("mod-ex3 auroc todo", lambda: ex.check_flag_affirmed(issue13.good_flag, ..., TEXTS, LABELS)),
    ("mod-ex4 stub", lambda: ex.check_align_by_id(stub)),
    ("mod-ex4 late stub", lambda: ex.check_align_by_id(
        lambda images, texts: ch5.good_align(images, texts) if len(images) == 3 else stub())),
    *[(f"{check.__name__} {name}", lambda check=check, p=p: check(p))
      for check in ch5.CHECKS + [ex.check_vocabulary_from_train] for name, p in (("todo", ...), ("stub", stub))],
    # ---- chapter 6
    ("mm-ex1 right", lambda: ex.check_masked_late_average(masked_average)),
    ("mm-ex1 all", lambda: ex.check_masked_late_average(
        lambda probs, present: (np.asarray(probs) * np.asarray(present)).mean(axis=1))),
    ("mm-ex1 still count", lambda: ex.check_masked_late_average(lambda probs, present: np.asarray(probs).mean(1))),
    ("mm-ex1 shape", lambda: ex.check_masked_late_average(lambda probs, present: np.asarray(probs) * present)),
    ("mm-ex1 text", lambda: ex.check_masked_late_average(lambda probs, present: "high")),
    ("mm-ex1 patient", lambda: ex.check_masked_late_average(
        lambda probs, present: np.where(np.asarray(present).all(axis=1), np.asarray(probs).mean(axis=1), 0.5))),
    ("mm-ex1 crash", lambda: ex.check_masked_late_average(crash)),
    ("mm-ex1 todo", lambda: ex.check_masked_late_average(...)),
    ("mm-ex2 right", lambda: ex.check_modality_dropout_mask(dropout_mask)),
    ("mm-ex2 shape", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: dropout_mask(n, m + 1, r, s))),
    ("mm-ex2 rescaled", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: dropout_mask(n, m, r, s) / (1 - r))),
    ("mm-ex2 all lost", lambda: ex.check_modality_dropout_mask(
        lambda n, m, r, s: (np.random.default_rng(s).random((n, m)) >= r).astype(float))),
    ("mm-ex2 rate", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: dropout_mask(n, m, 0.5, s))),
    ("mm-ex2 unseeded", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: dropout_mask(n, m, r, None))),
    ("mm-ex2 rate 0", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: dropout_mask(n, m, max(r, 0.3), s))),
    ("mm-ex2 text", lambda: ex.check_modality_dropout_mask(lambda n, m, r, s: "mask")),
    ("mm-ex2 todo", lambda: ex.check_modality_dropout_mask(None)),
    *[(f"mm-ex3 {answer}", lambda answer=answer: ex.check_one_se_reason(answer))
      for answer in ("b", "a", "c", "z", ...)],
    ("mm-ex4 right", lambda: ex.check_paired_auroc_difference(paired_difference)),
    ("mm-ex4 swapped", lambda: ex.check_paired_auroc_difference(
        lambda y, a, b, n, s: paired_difference(y, b, a, n, s))),
    ("mm-ex4 percentiles", lambda: ex.check_paired_auroc_difference(
        lambda y, a, b, n, s: paired_difference(y, a, b, n, s, q=0.05))),
    ("mm-ex4 one number", lambda: ex.check_paired_auroc_difference(lambda *a: 0.5)),
    ("mm-ex4 crash", lambda: ex.check_paired_auroc_difference(crash)),
    ("mm-ex4 todo", lambda: ex.check_paired_auroc_difference(None)),
    # ---- chapter 7
    ("dp-ex1 right", lambda: ex.check_oov_rate(ch7.oov_rate)),
    ("dp-ex1 case", lambda: ex.check_oov_rate(lambda note, v: float(np.mean([t not in v for t in note.split()])))),
    ("dp-ex1 known only", lambda: ex.check_oov_rate(
        lambda note, v: ch7.oov_rate(note, v) if note != "Nil pyrexia, no creps at the base." else 0.5)),
    ("dp-ex1 off", lambda: ex.check_oov_rate(
        lambda note, v: ch7.oov_rate(note, v) if note != "SpO2 91%" else 0.5)),
    ("dp-ex1 empty 0", lambda: ex.check_oov_rate(
        lambda note, v: ch7.oov_rate(note, v) if data.tokenize(note) else 0.0)),
    ("dp-ex1 empty text", lambda: ex.check_oov_rate(
        lambda note, v: ch7.oov_rate(note, v) if data.tokenize(note) else "none")),
    ("dp-ex1 todo", lambda: ex.check_oov_rate(...)),
    ("dp-ex2 right", lambda: ex.check_ks_statistic(ch7.ks_statistic)),
    ("dp-ex2 range", lambda: ex.check_ks_statistic(lambda a, b: 2.0)),
    ("dp-ex2 overlap", lambda: ex.check_ks_statistic(lambda a, b: 0.5)),
    ("dp-ex2 sizes", lambda: ex.check_ks_statistic(
        lambda a, b: ch7.ks_statistic(a, b) if len(a) == len(b) else 0.5)),
    ("dp-ex2 ties", lambda: ex.check_ks_statistic(
        lambda a, b: ch7.ks_statistic(a, b) if len(set(a)) == len(a) else 0.5)),
    ("dp-ex2 todo", lambda: ex.check_ks_statistic(None)),
    *[(f"dp-ex3 {answer}", lambda answer=answer: ex.check_shift_reading(answer))
      for answer in ("a", "b", "c", "maybe", ...)],
    ("dp-ex4 right", lambda: ex.check_domain_auroc(ch7.domain_auroc)),
    ("dp-ex4 in sample", lambda: ex.check_domain_auroc(lambda r, n, seed=0: ch7.domain_auroc(r, n, seed, True))),
    ("dp-ex4 flipped", lambda: ex.check_domain_auroc(lambda r, n, seed=0: 1 - ch7.domain_auroc(r, n, seed))),
    ("dp-ex4 shifted", lambda: ex.check_domain_auroc(lambda r, n, seed=0: 0.5)),
    ("dp-ex4 range", lambda: ex.check_domain_auroc(lambda r, n, seed=0: 1.5)),
    ("dp-ex4 labels", lambda: ex.check_domain_auroc(lambda r, n, seed=0: 0.1)),
    ("dp-ex4 unseeded", lambda: ex.check_domain_auroc(ignores_its_seed())),
    ("dp-ex4 todo", lambda: ex.check_domain_auroc(None)),
]
NAMES = [name for name, _ in CALLS]
assert len(set(NAMES)) == len(NAMES), "each call needs its own name"


def _run(call: Callable[[], ex.CheckResult], capsys) -> tuple[ex.CheckResult, str]:
    capsys.readouterr()
    result = call()
    return result, capsys.readouterr().out


def _quoted_values_removed(text: str) -> str:
    """The line without what the student wrote: code, quoted values, and the text of an exception it raised."""
    text = re.sub(r"错误信息（[^）]*）", "错误信息（）", text)
    text = re.sub(r"(抛出了 \w+：).*$", r"\1", text)
    return CODE.sub(" ", text)


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


# ---------------------------------------------------------------- every check, in both languages
@pytest.mark.parametrize("name, call", CALLS, ids=NAMES)
def test_each_verdict_is_printed_in_the_language_in_effect(name, call, capsys, monkeypatch):
    monkeypatch.delenv("MEDKIT_LANG", raising=False)
    default, default_out = _run(call, capsys)
    with using_language("en"):
        en, en_out = _run(call, capsys)
    with using_language("zh"):
        zh, zh_out = _run(call, capsys)
    number = ex.exercise_number(en.exercise)

    # English: exactly the line it always was (the default is English), one line, no Chinese
    assert (en.status, en.exercise, en.lang) == (default.status, default.exercise, "en")
    assert en_out == default_out == en.line + "\n"
    assert en.line.startswith(f"{ex.MARKERS[en.status]} Exercise {number}: ") and not CJK.search(en.line)

    # Chinese: the same verdict, one line, with its marker, in Chinese, keeping the English line's numbers
    assert (zh.status, zh.exercise, zh.lang, zh.passed) == (en.status, en.exercise, "zh", en.passed)
    assert zh_out == zh.line + "\n" and zh_out.count("\n") == 1
    assert zh.line == f"{ex.MARKERS_ZH[zh.status]} 练习 {number}：{zh.message}"
    assert CJK.search(zh.message), zh.line
    assert not ENGLISH_RUN.search(_quoted_values_removed(zh.message)), zh.line
    missing = sorted(set(numbers(en.message)) - set(numbers(zh.message)))
    assert not missing, f"{zh.line!r} lacks the numbers {missing} of {en.line!r}"


def test_every_check_is_driven_right_wrong_and_not_done(capsys):
    """CALLS reaches every check function with a right, a wrong and an unanswered answer."""
    seen: dict[str, set[str]] = {}
    with using_language("zh"):
        for _, call in CALLS:
            result = call()
            seen.setdefault(result.exercise, set()).add(result.status)
    capsys.readouterr()
    checks = [f for name, f in inspect.getmembers(ex, inspect.isfunction) if name.startswith("check_")]
    exercises = {e for e in re.findall(r'"([a-z]+-ex\d+)"', EXERCISES_PY.read_text(encoding="utf-8"))
                 if e.split("-")[0] in ex.CHAPTER_OF_PREFIX}
    assert len(exercises) == len(checks) >= 30  # one exercise id per check
    assert {e: seen.get(e) for e in exercises} == {e: {"correct", "wrong", "not done"} for e in exercises}


def test_the_language_is_read_when_the_check_runs(capsys, monkeypatch):
    monkeypatch.delenv("MEDKIT_LANG", raising=False)
    with using_language("zh"):
        zh = ex.check_ce_value(3.0)
    en = ex.check_ce_value(3.0)
    assert capsys.readouterr().out.splitlines() == [zh.line, en.line]
    assert zh.line == "[未通过] 练习 1.1：数值不对；写出 y = 0 时的公式，再代入 p。"  # still Chinese afterwards
    assert en.line == "[not yet] Exercise 1.1: not the right value; write the formula for y = 0 and substitute p."
    assert str(zh) == zh.line and zh.status == en.status == "wrong"
    monkeypatch.setenv("MEDKIT_LANG", "zh")  # what the medkit-zh kernel sets
    assert get_language() == "zh"
    assert ex.check_ce_value(...).line.startswith("[待完成] 练习 1.1：")
    with using_language("en"):  # set_language/using_language win over the environment
        assert ex.check_ce_value(...).line.startswith("[to do] Exercise 1.1: ")
    capsys.readouterr()


# ---------------------------------------------------------------- every message of exercises.py is a pair
def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _literal(node: ast.AST) -> str:
    """The text of a string or f-string, each replacement field as ``{}``."""
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _fields(node: ast.AST) -> list[str]:
    """The replacement fields of an f-string, ``_zh`` names read as their English twins."""
    if isinstance(node, ast.Constant):
        return []
    return sorted(re.sub(r"\b(\w+)_zh\b", r"\1", ast.unparse(v)) for v in node.values
                  if isinstance(v, ast.FormattedValue))


def _pair_problems(en: ast.AST, zh: ast.AST) -> list[str]:
    en_text, zh_text = _literal(en), _literal(zh)
    where = f"line {en.lineno}: ({en_text[:50]!r}, {zh_text[:30]!r})"
    problems = []
    if not en_text and not zh_text:
        return []
    if CJK.search(en_text):
        problems.append(f"{where}: the English half has Chinese in it")
    if not CJK.search(zh_text):
        problems.append(f"{where}: the Chinese half is not Chinese")
    run = ENGLISH_RUN.search(CODE.sub(" ", zh_text))
    if run:
        problems.append(f"{where}: untranslated English {run.group(0)!r} in the Chinese half")
    missing = sorted(set(numbers(en_text)) - set(numbers(zh_text)))
    if missing:
        problems.append(f"{where}: the Chinese half lacks the numbers {missing}")
    if _fields(en) != _fields(zh):
        problems.append(f"{where}: the halves show different values: {_fields(en)} vs {_fields(zh)}")
    return problems


def message_problems(source: str) -> list[str]:
    """Why the messages of an exercises.py source are not all English/Chinese pairs (empty: they are)."""
    tree = ast.parse(source)
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    problems: list[str] = []

    def is_pair(node: ast.AST) -> bool:
        return isinstance(node, ast.Tuple) and len(node.elts) == 2 and all(map(_is_text, node.elts))

    def returns_pairs(node: ast.AST) -> bool:
        if isinstance(node, ast.Lambda):
            return is_pair(node.body)
        if isinstance(node, ast.Name) and node.id in functions:
            returns = [r for r in ast.walk(functions[node.id]) if isinstance(r, ast.Return)]
            return bool(returns) and all(isinstance(r.value, ast.Tuple) and len(r.value.elts) == 2 for r in returns)
        return False

    for node in ast.walk(tree):
        if is_pair(node) and any(WORDS.search(_literal(e)) or CJK.search(_literal(e)) for e in node.elts):
            problems += _pair_problems(*node.elts)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name, args = node.func.id, node.args
        where = f"line {node.lineno}: {name}(...)"
        if name == "_verdict":
            if len(args) == 4 and not any(isinstance(a, ast.Starred) for a in args) and not node.keywords:
                if _is_text(args[2]) and _is_text(args[3]):
                    problems += _pair_problems(args[2], args[3])
                elif _is_text(args[2]) or _is_text(args[3]):
                    problems.append(f"{where}: one half is text and the other is not")
            elif not (len(args) == 3 and isinstance(args[2], ast.Starred) and not node.keywords):
                problems.append(f"{where}: a message must be given in English and in Chinese")
        elif name == "_check_choice":
            given = dict(zip(("exercise", "answer", "correct", "hints", "why"), args, strict=False))
            given.update({k.arg: k.value for k in node.keywords})
            hints, why = given.get("hints"), given.get("why")
            if not (isinstance(hints, ast.Dict) and all(is_pair(v) for v in hints.values) and is_pair(why)):
                problems.append(f"{where}: each hint and the explanation must be (English, Chinese) pairs")
        elif name == "_as_vector":
            if len(args) != 4 or not is_pair(args[3]):
                problems.append(f"{where}: say what the numbers are as an (English, Chinese) pair")
        elif name == "_check_true_false_cases":
            if len(args) != 4 or not returns_pairs(args[3]):
                problems.append(f"{where}: the hint must return an (English, Chinese) pair")
    return problems


def test_every_message_in_exercises_py_is_a_bilingual_pair():
    source = EXERCISES_PY.read_text(encoding="utf-8")
    assert message_problems(source) == []
    tree = ast.parse(source)
    verdicts = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_verdict"]
    assert len(verdicts) > 140  # the scan does see the messages


@pytest.mark.parametrize("snippet, complaint", [
    ('def f():\n    return _verdict("x-ex1", "wrong", "English only.")\n', "English and in Chinese"),
    ('def f():\n    return _verdict("x-ex1", "wrong", "not yet.", "not yet.")\n', "not Chinese"),
    ('def f():\n    return _verdict("x-ex1", "wrong", f"got {a}.", f"得到 {b}。")\n', "different values"),
    ('def f():\n    return _verdict("x-ex1", "wrong", "3 axes.", "三个轴。")\n', "lacks the numbers"),
    ('def f():\n    return _verdict("x-ex1", "wrong", "use the natural log.", "请 use the natural log。")\n',
     "untranslated English"),
    ('def f(a):\n    return _check_choice("x-ex1", a, "a", {"b": "English hint."}, ("Why.", "原因。"))\n',
     "pairs"),
    ('def f(a):\n    return _as_vector("x-ex1", a, 2, "the two numbers")\n', "pair"),
    ('def f(g):\n    return _check_true_false_cases("x-ex1", g, [], lambda t, f, w: f"wrong on {t}")\n', "pair"),
])
def test_the_scan_finds_a_message_in_one_language_only(snippet, complaint):
    found = message_problems(snippet)
    assert found and any(complaint in p for p in found), found
    fine = 'def f():\n    return _verdict("x-ex1", "wrong", f"got {a_zh} of 3.", f"得到 3 个中的 {a}。")\n'
    assert message_problems(fine) == []


# ---------------------------------------------------------------- the medkit-zh kernel and the Chinese copies
def _medkit_spec(tmp_path: Path, monkeypatch) -> Path:
    """A ``medkit`` kernelspec in a private Jupyter path (the real one's argv, so it can start)."""
    import json

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        real = json.loads((Path(KernelSpecManager().get_kernel_spec("medkit").resource_dir) / "kernel.json")
                          .read_text())
    except NoSuchKernel:
        real = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (medkit)", "language": "python"}
    spec_dir = tmp_path / "kernels" / "medkit"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({**real, "env": {"KEEP": "1"}}))
    (spec_dir / "logo-32x32.png").write_bytes(b"png")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return spec_dir / "kernel.json"


def test_ensure_kernel_installs_the_chinese_twin(tmp_path, monkeypatch):
    import json

    from medkit import KERNEL_NAME_ZH
    from medkit.book import reader

    _medkit_spec(tmp_path, monkeypatch)
    medkit_json = reader.ensure_kernel()
    zh_json = tmp_path / "kernels" / KERNEL_NAME_ZH / "kernel.json"
    assert reader.kernel_json_zh(medkit_json) == zh_json
    medkit_spec, zh_spec = json.loads(medkit_json.read_text()), json.loads(zh_json.read_text())
    assert zh_spec["display_name"] == "Python (medkit, 中文)" == reader.kernelspec("zh")["display_name"]
    assert zh_spec["argv"] == medkit_spec["argv"] and reader.KERNEL_FLAG in zh_spec["argv"]
    assert zh_spec["env"] == {**medkit_spec["env"], "MEDKIT_LANG": "zh"} == {"KEEP": "1", **reader.KERNEL_ENV,
                                                                             "MEDKIT_LANG": "zh"}
    assert (zh_json.parent / "logo-32x32.png").read_bytes() == b"png"
    stamp = zh_json.stat().st_mtime_ns
    reader.ensure_kernel()  # idempotent
    assert zh_json.stat().st_mtime_ns == stamp
    zh_json.write_text(json.dumps({**zh_spec, "env": {}}))  # a stale twin is put right
    reader.ensure_kernel()
    assert json.loads(zh_json.read_text()) == zh_spec


def test_lab_kernel_only_installs_both_kernels(tmp_path, monkeypatch, capsys):
    from medkit import KERNEL_NAME_ZH
    from medkit.book import cli

    _medkit_spec(tmp_path, monkeypatch)
    assert cli.main(["lab", "--kernel-only"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path}/kernels/medkit/kernel.json" in out and f"{tmp_path}/kernels/{KERNEL_NAME_ZH}/kernel.json" in out
    assert (tmp_path / "kernels" / KERNEL_NAME_ZH / "kernel.json").is_file()


def test_chinese_reader_copies_name_the_chinese_kernel(tmp_path):
    from medkit.book import reader

    chapter = Path(reader.NOTEBOOK_DIR) / "01_cross_entropy.ipynb"
    for lang, name in (("en", "medkit"), ("zh", "medkit-zh")):
        reader.build_lab(tmp_path / lang, [chapter], executed_dir=None, book_dir=None, lang=lang)
        for folder in ("notebooks", "student"):
            nb = nbformat.read(tmp_path / lang / folder / chapter.name, as_version=4)
            assert nb.metadata["kernelspec"]["name"] == name, (lang, folder)


@pytest.mark.slow
@pytest.mark.xdist_group("kernels")
def test_the_chinese_kernel_runs_the_self_checks_in_chinese(tmp_path, monkeypatch):
    """A notebook on medkit-zh prints Chinese verdicts with no language code in it; on medkit, English ones."""
    from nbclient import NotebookClient

    from medkit.book import reader

    _medkit_spec(tmp_path, monkeypatch)
    monkeypatch.delenv("MEDKIT_LANG", raising=False)
    reader.ensure_kernel()
    printed = {}
    for kernel in ("medkit", "medkit-zh"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "from medkit.exercises import check_ce_value\nanswer = ...\ncheck_ce_value(answer)")])
        NotebookClient(nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
        printed[kernel] = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert printed["medkit"].startswith("[to do] Exercise 1.1: not done yet"), printed
    assert printed["medkit-zh"].startswith("[待完成] 练习 1.1：尚未作答"), printed
