"""Self-checks for the chapters' exercises.

Each ``check_*`` function takes what the student wrote (a value or a
function), prints a one-line verdict (``[ok] Exercise 1.1: ...``), and returns a :class:`CheckResult`. A check tells
what is off (a wrong shape, a sign, a case that fails) without printing the
expected answer. It never raises: an exercise left as ``...``, ``None`` or a
stub that raises ``NotImplementedError`` is reported as "not done yet", so a
student notebook still runs top to bottom.

The verdict speaks the language of :func:`medkit.language.get_language` at the
moment the check runs: English, or Chinese (``[通过] 练习 1.1：……``) in the
Chinese edition, whose JupyterLab copies and student versions run on the
``medkit-zh`` kernel (``MEDKIT_LANG=zh``). Every message is therefore written
twice, side by side, as an English/Chinese pair: ``_verdict(ex, status, en, zh)``,
or a ``(en, zh)`` tuple for a hint or a case label. Values and code names
(``binary_ce``, ``...``, ``NotImplementedError``) appear verbatim in both.
``tests/test_exercises_zh.py`` fails for a message written in one language only.

Add a check for a new exercise by writing a function that builds its verdict
with :func:`_verdict` (see ``check_ce_value`` for the pattern).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from medkit.language import get_language, pick

#: Chapter of each exercise-id prefix: exercise ``ce-ex2`` is Exercise 1.2 on the page.
CHAPTER_OF_PREFIX = {"ce": 1, "gd": 2, "fusion": 3, "metrics": 4, "mod": 5, "mm": 6, "dp": 7}

#: The text marker a self-check line starts with, per status (plain ASCII: renders with any font).
MARKERS = {"correct": "[ok]", "wrong": "[not yet]", "not done": "[to do]"}
#: The same markers in the Chinese edition.
MARKERS_ZH = {"correct": "[通过]", "wrong": "[未通过]", "not done": "[待完成]"}

#: A message in English and in Chinese, e.g. a hint or the label of a test case.
Pair = tuple[str, str]


def exercise_number(exercise: str) -> str:
    """The number the page shows for an exercise id: ``"ce-ex2"`` -> ``"1.2"`` (chapter.exercise).

    Each chapter titles its exercises ``Exercise (N.K)`` with this number and
    keeps the id (the ``:label:`` and the cells' ``medkit.exercise`` metadata,
    which grading reads) unchanged.

    Examples
    --------
    >>> exercise_number("ce-ex2"), exercise_number("mm-ex4")
    ('1.2', '6.4')
    >>> exercise_number("t-ex1")  # an id outside the book keeps its name
    't-ex1'
    """
    prefix, sep, k = exercise.rpartition("-ex")
    if sep and prefix in CHAPTER_OF_PREFIX and k.isdigit():
        return f"{CHAPTER_OF_PREFIX[prefix]}.{int(k)}"
    return exercise


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a self-check: ``status`` is ``"correct"``, ``"wrong"`` or ``"not done"``.

    The check prints the verdict once, as one line starting with a text marker
    (``[ok]``, ``[not yet]``, ``[to do]``; in Chinese ``[通过]``, ``[未通过]``,
    ``[待完成]``); in a notebook the returned object then shows nothing more, so
    each self-check cell prints exactly one line. ``message`` and ``line`` are in
    ``lang``, the language in effect when the check ran; ``status`` and
    ``exercise`` never depend on it.

    Examples
    --------
    >>> CheckResult("ce-ex1", "wrong", "数值不对。", lang="zh").line
    '[未通过] 练习 1.1：数值不对。'
    """

    exercise: str
    status: str
    message: str
    lang: str = "en"

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    @property
    def line(self) -> str:
        """The one line printed for this verdict, e.g. ``[ok] Exercise 1.1: ...``."""
        number = exercise_number(self.exercise)
        if self.lang == "zh":
            return f"{MARKERS_ZH[self.status]} 练习 {number}：{self.message}"
        return f"{MARKERS[self.status]} Exercise {number}: {self.message}"

    def _ipython_display_(self) -> None:
        """Already printed by the check: show nothing more in a notebook."""

    def __str__(self) -> str:
        return self.line


def _verdict(exercise: str, status: str, en: str, zh: str) -> CheckResult:
    """Print and return the verdict in the language in effect now; ``en`` and ``zh`` say the same thing."""
    lang = get_language()
    result = CheckResult(exercise, status, pick(en, zh, lang), lang)
    print(result.line)
    return result


def _not_done(exercise: str) -> CheckResult:
    return _verdict(exercise, "not done",
                    "not done yet; replace the `...` or the NotImplementedError with your answer.",
                    "尚未作答：请把 `...` 或 NotImplementedError 换成你的答案。")


def is_unanswered(answer: Any) -> bool:
    """True for the placeholders a student version starts with (``...`` or ``None``)."""
    return answer is Ellipsis or answer is None


def call_student(exercise: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, CheckResult | None]:
    """Call a student's function; turn a stub or a crash into a verdict instead of an exception."""
    if is_unanswered(func):
        return None, _not_done(exercise)
    if not callable(func):
        return None, _verdict(exercise, "wrong", f"expected a function, got {type(func).__name__}.",
                              f"这里需要一个函数，得到的却是 {type(func).__name__}。")
    try:
        return func(*args, **kwargs), None
    except NotImplementedError:
        return None, _not_done(exercise)
    except Exception as exc:  # noqa: BLE001  (a student's bug is feedback, not a crash)
        return None, _verdict(exercise, "wrong", f"your function raised {type(exc).__name__}: {exc}",
                              f"你的函数抛出了 {type(exc).__name__}：{exc}")


def _as_float(exercise: str, answer: Any) -> tuple[float | None, CheckResult | None]:
    if is_unanswered(answer):
        return None, _not_done(exercise)
    try:
        value = float(np.asarray(answer, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return None, _verdict(exercise, "wrong", f"expected one number, got {type(answer).__name__} {answer!r:.60}.",
                              f"这里需要一个数，得到的却是 {type(answer).__name__} {answer!r:.60}。")
    if not math.isfinite(value):
        return None, _verdict(exercise, "wrong", f"your answer is {value}; a loss here is a finite number.",
                              f"你的答案是 {value}；这里的损失是一个有限的数。")
    return value, None


def _close(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# ---------------------------------------------------------------- chapter 1: cross-entropy
CE_EX1 = {"y": 0, "p": 0.8}  # ce-ex1: a patient without pneumonia given probability p of pneumonia


def check_ce_value(answer: Any) -> CheckResult:
    """Exercise ce-ex1: the binary cross-entropy of one prediction p = 0.8 when the true label is 0.

    Examples
    --------
    >>> check_ce_value(...).status
    [to do] Exercise 1.1: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    >>> from medkit.language import using_language
    >>> with using_language("zh"):
    ...     check_ce_value(-0.5).status
    [未通过] 练习 1.1：交叉熵损失永远不会是负数：检查一下负号。
    'wrong'
    """
    ex = "ce-ex1"
    value, verdict = _as_float(ex, answer)
    if verdict is not None:
        return verdict
    p = CE_EX1["p"]
    correct = -math.log(1 - p) if CE_EX1["y"] == 0 else -math.log(p)
    if _close(value, correct):
        return _verdict(ex, "correct", "that is the loss for a confident wrong prediction.",
                        "这正是一个高置信度错误预测的损失。")
    if _close(value, -math.log(p if CE_EX1["y"] == 0 else 1 - p)):
        return _verdict(ex, "wrong",
                        "that is the loss as if the label were 1: which probability does the model give to class 0?",
                        "这是把标签当作 1 时的损失：模型给类别 0 的概率是多少？")
    if _close(value, correct / math.log(10)) or _close(value, correct / math.log(2)):
        return _verdict(ex, "wrong", "right idea, wrong logarithm: cross-entropy in this book uses the natural log.",
                        "思路对了，但对数用错了：本书的交叉熵使用自然对数。")
    if value < 0:
        return _verdict(ex, "wrong", "a cross-entropy loss is never negative: check the minus sign.",
                        "交叉熵损失永远不会是负数：检查一下负号。")
    return _verdict(ex, "wrong", "not the right value; write the formula for y = 0 and substitute p.",
                    "数值不对；写出 y = 0 时的公式，再代入 p。")


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
        return _verdict(ex, "wrong", f"return one number (the mean over the batch), not {np.shape(got)}.",
                        f"请返回一个数（整个批量上的平均值），而不是形状为 {np.shape(got)} 的结果。")
    want = binary_cross_entropy(y, p)
    if not _close(got_value, want, rel=1e-6):
        per_sample = binary_cross_entropy(y, p, reduction="none")
        if _close(got_value, float(per_sample.sum())):
            return _verdict(ex, "wrong", "you return the sum over the batch: divide by the number of samples.",
                            "你返回的是整个批量上的总和：还要除以样本数。")
        return _verdict(ex, "wrong", "on a batch of five predictions your mean loss differs from the reference.",
                        "在一个含五个预测的批量上，你的平均损失与参考值不同。")
    extreme, verdict = call_student(ex, func, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    if verdict is not None:
        return verdict
    if not np.all(np.isfinite(np.asarray(extreme, dtype=float))):
        return _verdict(ex, "wrong",
                        "the values are right, but p = 0 or p = 1 gives inf or nan: clip p away from 0 and 1.",
                        "数值是对的，但 p = 0 或 p = 1 时得到 inf 或 nan：把 p 裁剪到远离 0 和 1 的范围内。")
    return _verdict(ex, "correct", "matches the reference on a batch and stays finite at p = 0 and p = 1.",
                    "在一个批量上与参考值一致，并且在 p = 0 和 p = 1 时保持有限。")


def _as_vector(exercise: str, answer: Any, size: int, what: Pair) -> tuple[np.ndarray | None, CheckResult | None]:
    """A list/array of ``size`` finite numbers, or a verdict saying what is off (``what``: the numbers, en and zh)."""
    what, what_zh = what
    if is_unanswered(answer):
        return None, _not_done(exercise)
    try:
        vec = np.asarray(answer, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None, _verdict(exercise, "wrong", f"expected {size} numbers ({what}), got {type(answer).__name__}.",
                              f"这里需要 {size} 个数（{what_zh}），得到的却是 {type(answer).__name__}。")
    if vec.size != size:
        return None, _verdict(exercise, "wrong", f"expected {size} numbers ({what}), got {vec.size}.",
                              f"这里需要 {size} 个数（{what_zh}），你给出了 {vec.size} 个。")
    if not np.all(np.isfinite(vec)):
        return None, _verdict(exercise, "wrong", "your answer contains inf or nan.", "你的答案中含有 inf 或 nan。")
    return vec, None


def _allclose(a: Any, b: Any, tol: float = 1e-6) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=1e-9))


# ---------------------------------------------------------------- chapter 2: gradient descent
GD_EX1_THETA = (0.0, 1.0)  # the point at which gd-ex1 asks for the gradient ...
GD_EX1_X = (1.0, 2.0)  # ... on the article's data
GD_EX1_Y = (2.0, 4.0)


def check_gd_gradient(answer: Any) -> CheckResult:
    """Exercise gd-ex1: the gradient of L = 1/(2n) sum (y_hat - y)^2 at theta = (0, 1) on x = (1, 2), y = (2, 4).

    Examples
    --------
    >>> check_gd_gradient(None).status
    [to do] Exercise 2.1: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit.optim import mse_gradient

    ex = "gd-ex1"
    vec, verdict = _as_vector(ex, answer, 2, ("dL/dtheta_0 and dL/dtheta_1", "dL/dtheta_0 和 dL/dtheta_1"))
    if verdict is not None:
        return verdict
    x, y = np.array(GD_EX1_X), np.array(GD_EX1_Y)
    want = mse_gradient(GD_EX1_THETA, x, y)
    residual = y - (GD_EX1_THETA[0] + GD_EX1_THETA[1] * x)  # y - y_hat, the article's "gradient"
    if _allclose(vec, want):
        return _verdict(ex, "correct", "both partial derivatives match; a step against this vector lowers the loss.",
                        "两个偏导数都对；沿这个向量的反方向走一步，损失就会下降。")
    if _allclose(vec, -want):
        return _verdict(ex, "wrong", "right size, wrong sign: differentiate (y_hat - y)^2, not (y - y_hat) alone.",
                        "大小对了，符号错了：要对 (y_hat - y)^2 求导，而不是只看 (y - y_hat)。")
    if _allclose(vec, 2 * want) or _allclose(vec, -2 * want):
        return _verdict(ex, "wrong",
                        "off by a factor of 2: remember the 1/n of the mean and the 1/2 in front of the loss.",
                        "差了 2 倍：别忘了平均值中的 1/n，以及损失前面的 1/2。")
    if _allclose(vec, residual) or _allclose(vec, -residual):
        return _verdict(ex, "wrong", "those are per-sample residuals, not a gradient: each partial derivative "
                                     "averages over both samples, and dL/dtheta_1 is weighted by x.",
                        "这些是每个样本各自的残差，不是梯度：每个偏导数都要在两个样本上取平均，"
                        "而且 dL/dtheta_1 还要以 x 加权。")
    if _close(float(vec[0]), float(want[0])):
        return _verdict(ex, "wrong",
                        "dL/dtheta_0 is right; dL/dtheta_1 is not (the chain rule brings in a factor x_i).",
                        "dL/dtheta_0 对了；dL/dtheta_1 不对（链式法则会带来一个因子 x_i）。")
    return _verdict(ex, "wrong",
                    "not the gradient: write y_hat_i, then dL/dtheta_j = (1/n) sum (y_hat_i - y_i) * "
                    "dy_hat_i/dtheta_j.",
                    "这不是梯度：先写出 y_hat_i，再求 dL/dtheta_j = (1/n) sum (y_hat_i - y_i) * "
                    "dy_hat_i/dtheta_j。")


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
    vec, verdict = _as_vector(ex, got, 2, ("the final theta_0 and theta_1", "最终的 theta_0 和 theta_1"))
    if verdict is not None:
        return verdict
    want = gradient_descent(x, y, lr=lr, epochs=n_steps, theta0=theta0).theta
    if _allclose(vec, want, 1e-6):
        one, verdict = call_student(ex, func, np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([1.0, 2.0]), 0.1, 1)
        if verdict is not None:
            return verdict
        if one is not None and _allclose(np.asarray(one, dtype=float).reshape(-1), [0.9, 1.85]):
            return _verdict(ex, "correct", "matches the reference after 25 steps and after a single step.",
                            "在 25 步之后和仅走一步之后都与参考值一致。")
        return _verdict(ex, "wrong", "right on one data set but not on the article's (one step from theta = (1, 2)).",
                        "在一个数据集上是对的，但在原文的数据上不对（从 theta = (1, 2) 出发走一步）。")
    if _allclose(vec, theta0):
        return _verdict(ex, "wrong", "theta did not move: do you update and return the new theta?",
                        "theta 没有变化：你是否更新了 theta，并返回了新的 theta？")
    if mse_loss(vec, x, y) > mse_loss(theta0, x, y):
        return _verdict(ex, "wrong", "the loss went up: you are stepping along the gradient instead of against it.",
                        "损失上升了：你是沿着梯度的方向走，而不是沿梯度的反方向走。")
    for k in (n_steps - 1, n_steps + 1):
        if _allclose(vec, gradient_descent(x, y, lr=lr, epochs=k, theta0=theta0).theta):
            return _verdict(ex, "wrong", f"off by one: you made {k} updates instead of n_steps.",
                            f"差了一步：你做了 {k} 次更新，而不是 n_steps 次。")
    return _verdict(ex, "wrong", "the loss goes down but theta differs from the reference: check the 1/n and that "
                                 "every sample is used in every step.",
                    "损失在下降，但 theta 与参考值不同：检查 1/n，并确认每一步都用到了每个样本。")


# ---------------------------------------------------------------- chapter 3: fusion
FUSION_EX1 = {"n": 32, "widths": (512, 256, 128)}  # fusion-ex1: batch size and image, text, audio widths


def check_concat_shape(answer: Any) -> CheckResult:
    """Exercise fusion-ex1: the shape of the concatenation of (32, 512), (32, 256) and (32, 128) batches.

    Examples
    --------
    >>> check_concat_shape(...).status
    [to do] Exercise 3.1: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "fusion-ex1"
    if is_unanswered(answer):
        return _not_done(ex)
    try:
        shape = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", "give the shape as a tuple of integers, e.g. (rows, columns).",
                        "请以整数元组的形式给出形状，例如 (行数, 列数)。")
    widths, n = tuple(FUSION_EX1["widths"]), FUSION_EX1["n"]
    if shape == (n, sum(widths)):
        return _verdict(ex, "correct", "one row per patient, the three widths side by side.",
                        "每名患者一行，三个宽度首尾相接。")
    if len(shape) == 1:
        return _verdict(ex, "wrong", "a batch keeps its first axis: the result has one row per patient.",
                        "批量保留它的第一个轴：结果中每名患者占一行。")
    if len(shape) != 2:
        return _verdict(ex, "wrong", f"the result is a 2-D batch; you gave {len(shape)} axes.",
                        f"结果是一个 2 维的批量；你给出了 {len(shape)} 个轴。")
    if shape[0] != n:
        return _verdict(ex, "wrong",
                        "the number of rows is off: concatenation along the feature axis keeps the patients.",
                        "行数不对：沿特征轴拼接会保留所有患者。")
    if shape[1] in widths:
        return _verdict(ex, "wrong",
                        "that width is one modality's (or what average/sum would give): concatenation keeps them all.",
                        "这个宽度只是一个模态的宽度（或者是平均/求和给出的宽度）：拼接会保留全部宽度。")
    return _verdict(ex, "wrong", "the number of rows is right; the width is not.", "行数对了；宽度不对。")


def check_average_fusion(func: Callable[..., Any]) -> CheckResult:
    """Exercise fusion-ex2: ``average_features(features)`` averages a list of equal-width vectors or batches
    and raises ``ValueError`` on unequal widths. Checked against :func:`medkit.fusion.average_fusion`."""
    from medkit.fusion import average_fusion

    ex = "fusion-ex2"
    rng = np.random.default_rng(3)
    cases = {
        ("three vectors", "三个向量"): [rng.normal(size=4) for _ in range(3)],
        ("two batches of 5 patients", "两个各含 5 名患者的批量"): [rng.normal(size=(5, 3)) for _ in range(2)],
        ("four modalities", "四个模态"): [rng.normal(size=(2, 6)) for _ in range(4)],
    }
    for (label, label_zh), feats in cases.items():
        got, verdict = call_student(ex, func, [f.copy() for f in feats])
        if verdict is not None:
            return verdict
        want = average_fusion(feats)
        got_arr = np.asarray(got, dtype=float) if got is not None else None
        if got_arr is None or got_arr.shape != want.shape:
            shape = None if got_arr is None else got_arr.shape
            return _verdict(ex, "wrong", f"on {label} the result has shape {shape}, expected {want.shape}: "
                                         "average across modalities, not across patients or features.",
                            f"在{label_zh}上，结果的形状为 {shape}，应为 {want.shape}：要在各模态之间取平均，"
                            "而不是在患者或特征之间。")
        if not _allclose(got_arr, want):
            if _allclose(got_arr, want * len(feats)):
                return _verdict(ex, "wrong", f"on {label} you return the sum: divide by the number of modalities.",
                                f"在{label_zh}上你返回的是总和：还要除以模态的个数。")
            return _verdict(ex, "wrong", f"on {label} the values differ from the element-wise mean.",
                            f"在{label_zh}上，数值与逐元素平均不同。")
    try:
        func([np.ones(3), np.ones(2)])
    except NotImplementedError:
        return _not_done(ex)
    except ValueError as exc:
        if "3" in str(exc) and "2" in str(exc):
            return _verdict(ex, "correct",
                            "averages vectors and batches and refuses unequal widths with a clear message.",
                            "能对向量和批量取平均，并以清楚的错误信息拒绝宽度不同的输入。")
        return _verdict(ex, "wrong", f"values are right and unequal widths raise ValueError, but the message ({exc}) "
                                     "does not name the widths 3 and 2: say what is wrong.",
                        f"数值是对的，宽度不同时也会抛出 ValueError，但错误信息（{exc}）没有写明宽度 3 和 2："
                        "要说清楚哪里不对。")
    except Exception as exc:  # noqa: BLE001 - the student's error type is the feedback
        return _verdict(ex, "wrong",
                        f"unequal widths raise {type(exc).__name__}; raise a ValueError that names the widths.",
                        f"宽度不同时抛出的是 {type(exc).__name__}；应抛出写明各个宽度的 ValueError。")
    return _verdict(ex, "wrong", "values are right, but widths 3 and 2 were accepted: raise a ValueError instead.",
                    "数值是对的，但宽度为 3 和 2 的输入被接受了：应改为抛出 ValueError。")


# ---------------------------------------------------------------- chapter 4: metrics
METRICS_EX1_COUNTS = {"tp": 45, "fn": 5, "fp": 90, "tn": 860}  # a screening test on 1000 patients


def check_screening_metrics(answer: Any) -> CheckResult:
    """Exercise metrics-ex1: sensitivity, specificity, PPV and NPV of the screening table ``METRICS_EX1_COUNTS``.

    ``answer`` is a dict with keys ``"sensitivity"``, ``"specificity"``, ``"ppv"``, ``"npv"``.

    Examples
    --------
    >>> check_screening_metrics(None).status
    [to do] Exercise 4.1: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "metrics-ex1"
    if is_unanswered(answer):
        return _not_done(ex)
    if not isinstance(answer, dict):
        return _verdict(ex, "wrong", "give a dict: {'sensitivity': ..., 'specificity': ..., 'ppv': ..., 'npv': ...}.",
                        "请给出一个字典：{'sensitivity': ..., 'specificity': ..., 'ppv': ..., 'npv': ...}。")
    c = METRICS_EX1_COUNTS
    want = {
        "sensitivity": c["tp"] / (c["tp"] + c["fn"]),
        "specificity": c["tn"] / (c["tn"] + c["fp"]),
        "ppv": c["tp"] / (c["tp"] + c["fp"]),
        "npv": c["tn"] / (c["tn"] + c["fn"]),
    }
    missing = [k for k in want if k not in answer]
    if missing:
        return _verdict(ex, "wrong", f"missing key(s): {missing}.", f"缺少键：{missing}。")
    if any(is_unanswered(answer[k]) for k in want):
        return _not_done(ex)
    problems: list[Pair] = []
    for key, value in want.items():
        got, verdict = _as_float(ex, answer[key]) if not isinstance(answer[key], str) else (None, None)
        if got is None:
            return verdict if verdict is not None else _verdict(ex, "wrong", f"{key} must be a number.",
                                                                f"{key} 必须是一个数。")
        if got > 1.0 + 1e-9 and _close(got / 100, value, rel=1e-3):
            problems.append((f"{key} looks like a percentage: give a fraction between 0 and 1",
                             f"{key} 看起来是百分数：请给出 0 到 1 之间的小数"))
        elif not _close(got, value, rel=1e-4):
            swapped = [k for k, v in want.items() if k != key and _close(got, v, rel=1e-4)]
            hint, hint_zh = ((f" (that value is the {swapped[0]})", f"（这个值是 {swapped[0]}）") if swapped
                             else ("", ""))
            problems.append((f"{key} is off{hint}", f"{key} 不对{hint_zh}"))
    if not problems:
        return _verdict(ex, "correct",
                        "all four match. Note how low the PPV is although sensitivity and specificity are high.",
                        "四个都对。注意：尽管灵敏度和特异度都很高，PPV 却很低。")
    return _verdict(ex, "wrong", "; ".join(en for en, _ in problems) + ".", "；".join(zh for _, zh in problems) + "。")


def check_auroc_by_ranking(func: Callable[..., Any]) -> CheckResult:
    """Exercise metrics-ex2: ``auroc_by_ranking(y_true, y_score)``, the probability that a random positive
    scores higher than a random negative (ties count 1/2). Checked against :func:`medkit.metrics.roc_auc`."""
    from medkit.metrics import roc_auc

    ex = "metrics-ex2"
    rng = np.random.default_rng(11)
    cases = {
        ("a random case without ties", "一个没有并列分数的随机例子"): (rng.integers(0, 2, 30), rng.normal(size=30)),
        ("a case with tied scores", "一个有并列分数的例子"): (np.array([0, 1, 0, 1, 1, 0, 0, 1]),
                                                              np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.1, 0.9, 0.3])),
        ("a perfectly wrong ranking", "一个完全颠倒的排序"): (np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])),
    }
    for (label, label_zh), (y, s) in cases.items():
        got, verdict = call_student(ex, func, y.copy(), s.copy())
        if verdict is not None:
            return verdict
        value, verdict = _as_float(ex, got)
        if verdict is not None:
            return verdict
        want = roc_auc(y, s)
        if not _close(value, want, rel=1e-9, abs_=1e-9):
            if _close(value, 1 - want):
                return _verdict(ex, "wrong",
                                f"on {label} you get 1 - AUROC: count pairs where the *positive* scores higher.",
                                f"在{label_zh}上你得到的是 1 - AUROC：要数的是*阳性*样本分数更高的样本对。")
            if label == "a case with tied scores":
                return _verdict(ex, "wrong", "right without ties, off with tied scores: a tied pair counts one half.",
                                "没有并列时是对的，有并列分数时不对：分数相同的样本对计为一半。")
            return _verdict(ex, "wrong",
                            f"on {label} your value differs from the reference; divide by n_pos * n_neg pairs.",
                            f"在{label_zh}上你的值与参考值不同；要除以 n_pos * n_neg 个样本对。")
    return _verdict(ex, "correct", "agrees with the area under the ROC curve, ties included.",
                    "与 ROC 曲线下面积一致，有并列分数时也一样。")


# ---- chapter 5
def check_encode_tokens(func: Callable[..., Any]) -> CheckResult:
    """Exercise mod-ex1: ``encode(tokens, vocabulary, length)`` -> list of ``length`` ints (0 pads, 1 is OOV).

    Examples
    --------
    >>> check_encode_tokens(None).status
    [to do] Exercise 5.1: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mod-ex1"
    vocabulary = {"no": 2, "crackles": 3, "fever": 4}
    cases = [
        (["no", "crackles"], 4, [2, 3, 0, 0], ("a short note (padding)", "一份较短的记录（填充）")),
        (["no", "wheeze"], 3, [2, 1, 0], ("a word missing from the vocabulary", "一个不在词表中的词")),
        (["fever", "no", "crackles", "no"], 2, [4, 2],
         ("a note longer than length (truncation)", "一份比 length 更长的记录（截断）")),
        ([], 2, [0, 0], ("an empty note", "一份空记录")),
    ]
    for tokens, length, want, (label, label_zh) in cases:
        got, verdict = call_student(ex, func, list(tokens), dict(vocabulary), length)
        if verdict is not None:
            return verdict
        try:
            got_list = [int(v) for v in np.asarray(got).reshape(-1)]
        except (TypeError, ValueError):
            return _verdict(ex, "wrong", f"return a list (or array) of integers, not {type(got).__name__}.",
                            f"请返回整数列表（或数组），而不是 {type(got).__name__}。")
        if len(got_list) != length:
            return _verdict(ex, "wrong",
                            f"on {label} you return {len(got_list)} ids; every note must give exactly `length`.",
                            f"在{label_zh}上你返回了 {len(got_list)} 个 ID；每份记录都必须恰好给出 `length` 个。")
        if got_list != want:
            if label.startswith("a word missing"):
                return _verdict(ex, "wrong", "an unknown word must become the OOV index 1, not be dropped or raise.",
                                "未知词必须变成 OOV 索引 1，既不能被丢掉，也不能抛出异常。")
            if label.startswith("a note longer"):
                return _verdict(ex, "wrong", "keep the *first* `length` tokens (truncate at the end).",
                                "保留*前* `length` 个词元（截掉末尾多出的部分）。")
            return _verdict(ex, "wrong", f"on {label} your ids differ: look up each token, then pad with 0 at the end.",
                            f"在{label_zh}上你的 ID 不对：先查出每个词元的 ID，再在末尾用 0 填充。")
    return _verdict(ex, "correct", "pads, truncates and maps unknown words to OOV like medkit.data.encode_texts.",
                    "能像 medkit.data.encode_texts 一样填充、截断，并把未知词映射为 OOV。")


def _check_true_false_cases(exercise: str, func: Callable[..., Any], cases: list[tuple[str, str, bool]],
                            hint: Callable[[str, str, bool], Pair]) -> CheckResult | None:
    """Call ``func(text, finding)`` on each case; the first wrong, non-boolean or failed answer's verdict, else None.

    ``hint(text, finding, want)`` gives the message for a wrong answer, in English and in Chinese.
    """
    for text, finding, want in cases:
        got, verdict = call_student(exercise, func, text, finding)
        if verdict is not None:
            return verdict
        if not isinstance(got, (bool, np.bool_)):
            return _verdict(exercise, "wrong", f"return True or False, not {type(got).__name__}.",
                            f"请返回 True 或 False，而不是 {type(got).__name__}。")
        if bool(got) != want:
            return _verdict(exercise, "wrong", *hint(text, finding, want))
    return None


def check_is_negated(func: Callable[..., Any]) -> CheckResult:
    """Exercise mod-ex2: ``is_negated(sentence, finding)`` -> True when a negation cue precedes the finding.

    Examples
    --------
    >>> check_is_negated(...).status
    [to do] Exercise 5.2: not done yet; replace the `...` or the NotImplementedError with your answer.
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
    def hint(sentence: str, finding: str, want: bool) -> Pair:
        why, why_zh = (("a cue *after* the finding does not negate it", "发现词*之后*的提示词不会否定它")
                       if not want and "no" in sentence.lower()
                       else ("look for the cues before the finding, case-insensitively",
                             "要在发现词之前查找提示词，并且不区分大小写"))
        return (f"wrong on {sentence!r} (finding {finding!r}): {why}.",
                f"在 {sentence!r}（发现词 {finding!r}）上判断错误：{why_zh}。")

    verdict = _check_true_false_cases(ex, func, cases, hint)
    if verdict is not None:
        return verdict
    return _verdict(ex, "correct", "your rule handles cues before the finding, case and cues that come after it.",
                    "你的规则能处理发现词之前的提示词、大小写，以及出现在发现词之后的提示词。")


# ---------------------------------------------------------------- multiple choice (conceptual questions)
def _check_choice(exercise: str, answer: Any, correct: str, hints: dict[str, Pair], why: Pair) -> CheckResult:
    """A one-letter answer: ``correct`` passes with ``why``; a wrong letter gets its hint from ``hints``.

    ``why`` and each hint are ``(English, Chinese)`` pairs.
    """
    if is_unanswered(answer):
        return _not_done(exercise)
    letters = sorted(set(hints) | {correct})
    choices = ", ".join(repr(x) for x in letters)
    if not isinstance(answer, str) or answer.strip().lower() not in letters:
        return _verdict(exercise, "wrong", f"answer with one of the letters {choices}.",
                        f"请用以下字母之一作答：{choices}。")
    letter = answer.strip().lower()
    if letter == correct:
        return _verdict(exercise, "correct", *why)
    return _verdict(exercise, "wrong", *hints[letter])


# ---- chapter 1, more exercises
CE_EX3_PREDICTION = (0.9, 0.1)  # the article's prediction in section 4.1
CE_EX4 = {"n": 10, "a": 0.6, "b_right": 0.99, "b_wrong": 0.01}  # the two models of ce-ex4


def check_ce_article_formula(value: Any, slip: Any) -> CheckResult:
    """Exercise ce-ex3: the value of the article's formula ``-0.9 ln 0.9 - 0.1 ln 0.1`` and what went wrong.

    ``value`` is the number; ``slip`` a letter: "a" label and prediction swapped,
    "b" the prediction written in place of the label, "c" a base-10 logarithm.

    Examples
    --------
    >>> check_ce_article_formula(..., ...).status
    [to do] Exercise 1.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "ce-ex3"
    got, verdict = _as_float(ex, value)
    if verdict is not None:
        return verdict
    p = CE_EX3_PREDICTION
    want = -sum(q * math.log(q) for q in p)
    if not _close(got, want):
        if _close(got, -math.log(p[1])):
            return _verdict(ex, "wrong",
                            "that is the correct loss; the exercise asks for the value of the article's formula.",
                            "这是正确的损失；本练习要的是原文公式的值。")
        if _close(got, 0.105, rel=0.05):
            return _verdict(ex, "wrong", "that is the number the article prints, not what its formula evaluates to.",
                            "这是原文印出的数，而不是它的公式算出的值。")
        if _close(got, -sum(q * math.log10(q) for q in p)):
            return _verdict(ex, "wrong", "use the natural logarithm, as the chapter does.",
                            "请像本章一样使用自然对数。")
        return _verdict(ex, "wrong",
                        "evaluate the formula term by term: each term is minus a prediction times its log.",
                        "逐项计算这个公式：每一项都是负的预测值乘以它的对数。")
    return _check_choice(ex, slip, "b", {
        "a": ("a true swap puts the label inside the logarithm: -0.9 ln 0 - 0.1 ln 1, "
              "which is infinite, not this value.",
              "真正的对调会把标签放进对数里：-0.9 ln 0 - 0.1 ln 1，其值为无穷大，而不是这个值。"),
        "c": ("the value you computed uses the natural log, and the formula is still wrong with any base.",
              "你算出的值用的是自然对数，而且无论用什么底数，这个公式都是错的。"),
    }, ("the formula has the prediction in both places, so it measures the prediction's own uncertainty "
        "(its entropy), whatever the label.",
        "公式在两处都用了预测值，因此它衡量的是预测本身的不确定性（它的熵），与标签无关。"))


def check_ce_two_models(answer: Any) -> CheckResult:
    """Exercise ce-ex4: which of two models (``CE_EX4``) has the lower mean cross-entropy, "A" or "B"?

    Examples
    --------
    >>> check_ce_two_models(None).status
    [to do] Exercise 1.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "ce-ex4"
    if is_unanswered(answer):
        return _not_done(ex)
    c = CE_EX4
    loss_a = -math.log(c["a"])
    loss_b = -((c["n"] - 1) * math.log(c["b_right"]) + math.log(c["b_wrong"])) / c["n"]
    correct = "B" if loss_b < loss_a else "A"
    if not isinstance(answer, str) or answer.strip().upper() not in ("A", "B"):
        return _verdict(ex, "wrong", "answer \"A\" or \"B\".", "请回答 \"A\" 或 \"B\"。")
    if answer.strip().upper() == correct:
        return _verdict(ex, "correct", "one confident mistake costs a lot, but it is averaged with nine nearly free "
                                       "answers; the other model pays a moderate price on every patient. Note that "
                                       "at threshold 0.5 the model with the lower loss is the *less* accurate one.",
                        "一次高置信度的错误代价很大，但它与九个几乎没有代价的回答一起取平均；另一个模型则在每名患者"
                        "身上都付出中等的代价。注意：在阈值 0.5 下，损失更低的模型反而是*较不*准确的那个。")
    return _verdict(ex, "wrong", "compute both means: -ln of the probability given to the true class, averaged "
                                 "over the ten patients.",
                    "把两个平均值都算出来：对给真实类别的概率取 -ln，再在十名患者上取平均。")


# ---- chapter 2, more exercises
def check_gd_mean_convention(answer: Any) -> CheckResult:
    """Exercise gd-ex3: one step of the article's example under L = (1/n) sum (y_hat - y)^2.

    Data: x = (1, 2), y = (2, 4), theta = (1, 2), alpha = 0.1 (the article's).

    Examples
    --------
    >>> check_gd_mean_convention(...).status
    [to do] Exercise 2.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit.optim import gd_step, mse_gradient

    ex = "gd-ex3"
    vec, verdict = _as_vector(ex, answer, 2, ("the updated theta_0 and theta_1", "更新后的 theta_0 和 theta_1"))
    if verdict is not None:
        return verdict
    x, y, theta, lr = np.array([1.0, 2.0]), np.array([2.0, 4.0]), np.array([1.0, 2.0]), 0.1
    half = gd_step(theta, mse_gradient(theta, x, y), lr)  # L = 1/(2n) sum
    want = gd_step(theta, 2 * mse_gradient(theta, x, y), lr)  # L = 1/n sum: twice the gradient
    if _allclose(vec, want):
        return _verdict(ex, "correct", "twice the gradient of the 1/(2n) convention, so twice the step; neither "
                                       "convention gives the article's printed update.",
                        "梯度是 1/(2n) 约定下的两倍，所以步长也是两倍；两种约定都得不出原文印出的更新结果。")
    if _allclose(vec, half):
        return _verdict(ex, "wrong", "that is the step under L = 1/(2n) sum (the chapter's); without the 1/2 "
                                     "the derivative of the square keeps its factor 2.",
                        "这是 L = 1/(2n) sum 约定（本章的约定）下的一步；没有 1/2 时，平方项的导数会保留因子 2。")
    if _allclose(vec, [0.9, 1.9]):
        return _verdict(ex, "wrong", "that is the article's printed update, which no convention gives.",
                        "这是原文印出的更新结果，任何一种约定都得不出它。")
    if _allclose(vec, theta + (want - theta) * -1):
        return _verdict(ex, "wrong", "you stepped along the gradient: the update subtracts alpha times the gradient.",
                        "你是沿着梯度的方向走的：更新应当减去 alpha 乘以梯度。")
    return _verdict(ex, "wrong",
                    "compute the gradient (2/n) sum (y_hat_i - y_i) * dy_hat_i/dtheta_j, then theta - alpha "
                    "* gradient.",
                    "先计算梯度 (2/n) sum (y_hat_i - y_i) * dy_hat_i/dtheta_j，再计算 theta - alpha "
                    "* 梯度。")


def check_gd_diverging(answer: Any) -> CheckResult:
    """Exercise gd-ex4 (conceptual): what to change when the loss oscillates with growing amplitude.

    Examples
    --------
    >>> check_gd_diverging(None).status
    [to do] Exercise 2.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    return _check_choice("gd-ex4", answer, "a", {
        "b": ("more steps of a diverging run diverge further: each step multiplies the error by more than 1.",
              "发散的训练多走几步只会发散得更厉害：每一步都把误差乘以一个大于 1 的数。"),
        "c": ("a full batch removes noise, but a step that is too large overshoots on the exact gradient too.",
              "全批量能消除噪声，但步长太大时，即使梯度精确也会越过最低点。"),
        "d": ("the intercept is not the cause: look at what multiplies the error at every step.",
              "截距不是原因：看看每一步是什么在乘以误差。"),
    }, ("the error along the steepest direction is multiplied by |1 - alpha * lambda_max| each step; "
        "below alpha = 2 / lambda_max that factor is below 1.",
        "沿最陡方向的误差每一步都乘以 |1 - alpha * lambda_max|；当 alpha 低于 2 / lambda_max 时，"
        "这个因子小于 1。"))


# ---- chapter 3, more exercises
def check_order_free_fusions(answer: Any) -> CheckResult:
    """Exercise fusion-ex3 (conceptual): the fusion operations whose result ignores the order of the modalities.

    ``answer`` is a set of names from {"concatenation", "average", "sum"}.

    Examples
    --------
    >>> check_order_free_fusions(...).status
    [to do] Exercise 3.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "fusion-ex3"
    if is_unanswered(answer):
        return _not_done(ex)
    names = {"concatenation", "average", "sum"}
    try:
        got = {str(a).strip().lower() for a in answer}
    except TypeError:
        return _verdict(ex, "wrong", "give a set of names, e.g. {\"sum\"}.", "请给出一个名称集合，例如 {\"sum\"}。")
    if not got <= names:
        return _verdict(ex, "wrong", f"use only the names {sorted(names)}; got {sorted(got - names)}.",
                        f"只能使用这些名称：{sorted(names)}；你给出了 {sorted(got - names)}。")
    if got == {"average", "sum"}:
        return _verdict(ex, "correct", "addition does not care about order; which is why these two forget which "
                                       "modality said what.",
                        "加法与顺序无关；也正因如此，这两种操作会忘记哪个模态说了什么。")
    if "concatenation" in got:
        return _verdict(ex, "wrong", "concatenation puts the modalities in positions: a different order gives a "
                                     "different vector (try it on the article's three vectors).",
                        "拼接把各模态放在各自的位置上：换一种顺序就得到不同的向量（用原文的三个向量试一试）。")
    return _verdict(ex, "wrong", "one order-free operation is missing: try swapping two modalities for each.",
                    "少了一种与顺序无关的操作：对每种操作都试着交换两个模态。")


def check_gated_sum(func: Callable[..., Any]) -> CheckResult:
    """Exercise fusion-ex4: ``gated_sum(features, gate_logits)`` = sum_m softmax(gate_logits)[:, m] * features[m].

    ``features`` is a list of ``M`` arrays ``(N, d)``, ``gate_logits`` an ``(N, M)``
    array; the result is ``(N, d)``. Checked against ``scipy.special.softmax``.

    Examples
    --------
    >>> check_gated_sum(None).status
    [to do] Exercise 3.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from scipy.special import softmax

    ex = "fusion-ex4"
    rng = np.random.default_rng(5)
    feats = [rng.normal(size=(4, 3)) for _ in range(3)]
    logits = rng.normal(size=(4, 3)) * 3
    gates = softmax(logits, axis=1)
    want = sum(gates[:, [m]] * feats[m] for m in range(3))
    got, verdict = call_student(ex, func, [f.copy() for f in feats], logits.copy())
    if verdict is not None:
        return verdict
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", f"return a numeric array, not {type(got).__name__}.",
                        f"请返回一个数值数组，而不是 {type(got).__name__}。")
    if got.shape != want.shape:
        return _verdict(ex, "wrong", f"for 4 patients and width 3 the result must be (4, 3); got {got.shape}.",
                        f"对 4 名患者、宽度 3，结果的形状必须是 (4, 3)；你得到的是 {got.shape}。")
    if _allclose(got, want):
        equal, verdict = call_student(ex, func, [f.copy() for f in feats], np.zeros((4, 3)))
        if verdict is None and _allclose(np.asarray(equal, dtype=float), np.mean(feats, axis=0)):
            return _verdict(ex, "correct", "per-patient weights that sum to one; equal logits give the plain average.",
                            "每名患者的权重之和为 1；对数几率相等时就是普通的平均。")
        return _verdict(ex, "wrong", "right on one case, but equal gate logits must give the plain average.",
                        "在一个例子上是对的，但门控对数几率相等时必须给出普通的平均。")
    if _allclose(got, sum(softmax(logits, axis=0)[:, [m]] * feats[m] for m in range(3))):
        return _verdict(ex, "wrong",
                        "the softmax runs over the modalities of each patient (axis 1), not over patients.",
                        "softmax 要在每名患者的各个模态上做（axis 1），而不是在患者之间做。")
    if _allclose(got, sum(logits[:, [m]] * feats[m] for m in range(3))):
        return _verdict(ex, "wrong", "turn the logits into weights with a softmax first.",
                        "先用 softmax 把对数几率变成权重。")
    return _verdict(ex, "wrong", "the values differ: weight modality m of patient i by softmax(gate_logits[i])[m].",
                    "数值不对：患者 i 的模态 m 的权重应为 softmax(gate_logits[i])[m]。")


# ---- chapter 4, more exercises
def check_article_metrics_fix(answer: Any) -> CheckResult:
    """Exercise metrics-ex3: accuracy, precision and F1 of the article's four-patient table, corrected.

    Examples
    --------
    >>> check_article_metrics_fix(None).status
    [to do] Exercise 4.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit.metrics import binary_metrics

    ex = "metrics-ex3"
    if is_unanswered(answer):
        return _not_done(ex)
    if not isinstance(answer, dict) or not {"accuracy", "precision", "f1"} <= set(answer):
        return _verdict(ex, "wrong", "give a dict with the keys 'accuracy', 'precision' and 'f1'.",
                        "请给出一个字典，键为 'accuracy'、'precision' 和 'f1'。")
    want = binary_metrics([0, 1, 0, 1], [0, 0, 1, 1])
    printed = {"accuracy": 0.75, "precision": 0.33, "f1": 0.385}
    problems: list[Pair] = []
    for key in ("accuracy", "precision", "f1"):
        got, verdict = _as_float(ex, answer[key])
        if verdict is not None:
            return verdict
        if _close(got, printed[key], rel=0.02):
            problems.append((f"{key} is the article's printed value", f"{key} 是原文印出的值"))
        elif not _close(got, want[key], rel=1e-6):
            problems.append((f"{key} is off (count TP, FP, FN and TN row by row first)",
                             f"{key} 不对（先逐行数出 TP、FP、FN 和 TN）"))
    if problems:
        return _verdict(ex, "wrong", "; ".join(en for en, _ in problems) + ".",
                        "；".join(zh for _, zh in problems) + "。")
    return _verdict(ex, "correct", "each of the four cells holds one patient, so every ratio has equal parts.",
                    "混淆矩阵的四个格子各有一名患者，所以每个比值都由相等的两部分构成。")


def check_wilson_interval(func: Callable[..., Any]) -> CheckResult:
    """Exercise metrics-ex4: ``wilson_interval(k, n)`` -> ``(low, high)``, the 95% Wilson score interval.

    Checked against :func:`medkit.metrics.proportion_ci` (itself tested against
    ``scipy.stats.binomtest``).

    Examples
    --------
    >>> check_wilson_interval(...).status
    [to do] Exercise 4.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit.metrics import proportion_ci

    ex = "metrics-ex4"
    z = 1.959963984540054
    for k, n in ((18, 19), (3, 10), (0, 12), (40, 40), (55, 120)):
        got, verdict = call_student(ex, func, k, n)
        if verdict is not None:
            return verdict
        vec, verdict = _as_vector(ex, got, 2, ("the lower and upper limit", "下限和上限"))
        if verdict is not None:
            return verdict
        want = proportion_ci(k, n, method="wilson")
        if _allclose(vec, [want.low, want.high], 1e-6):
            continue
        p = k / n
        wald = [p - z * math.sqrt(p * (1 - p) / n), p + z * math.sqrt(p * (1 - p) / n)]
        exact = proportion_ci(k, n, method="clopper-pearson")
        if _allclose(vec, wald, 1e-6) or _allclose(vec, np.clip(wald, 0, 1), 1e-6):
            return _verdict(ex, "wrong", f"for k={k}, n={n} that is the Wald interval p ± z·sqrt(p(1-p)/n); "
                                         "Wilson's is centred on (p + z²/2n)/(1 + z²/n).",
                            f"对 k={k}, n={n}，这是 Wald 区间 p ± z·sqrt(p(1-p)/n)；"
                            "Wilson 区间的中心在 (p + z²/2n)/(1 + z²/n)。")
        if _allclose(vec, [exact.low, exact.high], 1e-6):
            return _verdict(ex, "wrong", "that is the Clopper-Pearson (exact) interval, not Wilson's.",
                            "这是 Clopper-Pearson（精确）区间，不是 Wilson 区间。")
        return _verdict(ex, "wrong", f"for k={k}, n={n} the limits differ from Wilson's interval at 95% (z ≈ 1.96).",
                        f"对 k={k}, n={n}，你的上下限与 95% 的 Wilson 区间（z ≈ 1.96）不一致。")
    return _verdict(ex, "correct", "matches the Wilson interval, at the ends (k = 0, k = n) too.",
                    "与 Wilson 区间一致，在两端（k = 0、k = n）也一样。")


def check_specificity_width(answer: Any) -> CheckResult:
    """Exercise metrics-ex5 (conceptual): which count sets the width of a specificity interval.

    Examples
    --------
    >>> check_specificity_width(None).status
    [to do] Exercise 4.5: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    return _check_choice("metrics-ex5", answer, "c", {
        "a": ("specificity is a ratio over part of the patients only: which part is its denominator?",
              "特异度只是部分患者中的一个比例：它的分母是哪一部分患者？"),
        "b": ("the positives never enter the specificity TN / (TN + FP).",
              "阳性病例根本不出现在特异度 TN / (TN + FP) 中。"),
        "d": ("true for sensitivity in a rare-disease cohort, but specificity's denominator "
              "is the same class every time.",
              "对罕见病队列中的灵敏度来说是这样，但特异度的分母每次都是同一类。"),
    }, ("specificity is TN / (TN + FP), a proportion of the negatives: only their number sets its precision.",
        "特异度是 TN / (TN + FP)，即阴性病例中的一个比例：只有阴性病例的人数决定它的估计精度。"))


# ---- chapter 5, more exercises
def check_flag_affirmed(func: Callable[..., Any], negation_auroc: Any = None,
                        texts: Any = None, labels: Any = None) -> CheckResult:
    """Exercise mod-ex3: ``flag_affirmed(note, finding)`` and the AUROC of its flags on the cohort.

    ``flag_affirmed`` returns True when at least one sentence of ``note`` mentions
    ``finding`` without a negation before it. ``negation_auroc`` must equal the
    AUROC of these flags for "crackles" over ``texts`` against ``labels``
    (recomputed here with the student's function).

    Examples
    --------
    >>> check_flag_affirmed(None).status
    [to do] Exercise 5.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mod-ex3"
    cases = [
        ("No crackles. Coarse crackles at the left base.", "crackles", True),
        ("Denies cough. No crackles heard.", "crackles", False),
        ("Fever for two days.", "crackles", False),
        ("Chest clear, no crackles or wheeze. Crackles on the right after coughing.", "crackles", True),
        ("Negative for consolidation.", "consolidation", False),
    ]
    verdict = _check_true_false_cases(
        ex, func, cases, lambda note, finding, want: (f"wrong on {note!r}: split the note into sentences and "
                                                      "look at each mention of the finding on its own.",
                                                      f"在 {note!r} 上判断错误：把记录拆分成句子，"
                                                      "逐一单独查看每一处提到该发现的地方。"))
    if verdict is not None:
        return verdict
    if texts is None or labels is None:
        return _verdict(ex, "correct", "your rule works sentence by sentence.", "你的规则是逐句判断的。")
    from sklearn.metrics import roc_auc_score

    value, verdict = _as_float(ex, negation_auroc)
    if verdict is not None:
        return verdict
    flags = [bool(func(t, "crackles")) for t in texts]
    want_auroc = float(roc_auc_score(np.asarray(labels), np.asarray(flags, dtype=float)))
    if not _close(value, want_auroc, rel=1e-9, abs_=1e-9):
        return _verdict(ex, "wrong", "`negation_auroc` is not the AUROC of your flags for \"crackles\" on every "
                                     "note of the cohort (flags as 0/1 scores, labels as truth).",
                        "`negation_auroc` 不是你的标记针对 \"crackles\" 在队列每份记录上的 AUROC"
                        "（标记作为 0/1 分数，标签作为真值）。")
    return _verdict(ex, "correct", "the rule works sentence by sentence, and the AUROC is that of its flags.",
                    "规则逐句判断，AUROC 也正是它的标记的 AUROC。")


def check_align_by_id(func: Callable[..., Any]) -> CheckResult:
    """Exercise mod-ex4: ``align_by_id(images, texts)`` -> image paths in the order of ``texts['patient_id']``.

    ``images`` and ``texts`` are DataFrames with a ``patient_id`` column (and
    ``path`` / ``content``); an id present in one but not the other raises
    ``ValueError`` naming it.

    Examples
    --------
    >>> check_align_by_id(...).status
    [to do] Exercise 5.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    import pandas as pd

    ex = "mod-ex4"
    texts = pd.DataFrame({"patient_id": ["P003", "P001", "P002"], "content": ["c", "a", "b"], "label": [1, 0, 1]})
    images = pd.DataFrame({"patient_id": ["P001", "P002", "P003"], "path": ["i1.png", "i2.png", "i3.png"]})
    got, verdict = call_student(ex, func, images.copy(), texts.copy())
    if verdict is not None:
        return verdict
    try:
        got_list = [str(v) for v in list(got)]
    except TypeError:
        return _verdict(ex, "wrong", f"return a list of paths, not {type(got).__name__}.",
                        f"请返回路径列表，而不是 {type(got).__name__}。")
    if got_list == ["i1.png", "i2.png", "i3.png"]:
        return _verdict(ex, "wrong", "that is the row order of images.csv, the article's mistake: patient P003's "
                                     "note would be paired with P001's image.",
                        "这是 images.csv 的行顺序，也就是原文的错误：患者 P003 的记录会与 P001 的图像配成一对。")
    if got_list != ["i3.png", "i1.png", "i2.png"]:
        return _verdict(ex, "wrong", "the paths must follow the order of the notes' patient_id column.",
                        "路径必须按照记录的 patient_id 列的顺序排列。")
    short = images.iloc[:2].copy()
    try:
        func(short, texts.copy())
    except NotImplementedError:
        return _not_done(ex)
    except ValueError as exc:
        if "P003" in str(exc):
            return _verdict(ex, "correct", "rows are matched by patient, whatever the order of the files.",
                            "无论文件中各行的顺序如何，各行都按患者对齐。")
        return _verdict(ex, "wrong", f"a missing image raises ValueError, but the message ({exc}) does not name P003.",
                        f"缺少图像时会抛出 ValueError，但错误信息（{exc}）没有指明 P003。")
    except Exception as exc:  # noqa: BLE001 - the student's error type is the feedback
        return _verdict(ex, "wrong", f"a missing image raises {type(exc).__name__}; raise a ValueError naming the id.",
                        f"缺少图像时抛出的是 {type(exc).__name__}；应抛出指明该患者 ID 的 ValueError。")
    return _verdict(ex, "wrong", "a patient without an image was accepted silently: raise a ValueError naming the id.",
                    "一名没有图像的患者被悄无声息地接受了：应抛出指明该患者 ID 的 ValueError。")


def check_vocabulary_from_train(answer: Any) -> CheckResult:
    """Exercise mod-ex5 (conceptual): why the vocabulary is built from the training notes only.

    Examples
    --------
    >>> check_vocabulary_from_train(None).status
    [to do] Exercise 5.5: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    return _check_choice("mod-ex5", answer, "b", {
        "a": ("size and speed are not the reason: a vocabulary over all notes would be only slightly larger.",
              "大小和速度不是原因：用全部记录构建的词表只会稍大一点。"),
        "c": ("the test notes here do contain a few words the training notes lack (the OOV rate is above 0).",
              "这里的测试记录确实含有几个训练记录中没有的词（OOV 率大于 0）。"),
        "d": ("Keras accepts any vocabulary; the reason is about what a model may know before it meets a patient.",
              "Keras 接受任何词表；原因在于模型在见到一名患者之前可以知道些什么。"),
    }, ("the test split stands for new patients, whose words the model could not have seen.",
        "测试集代表新患者，模型不可能事先见过他们的用词。"))


# ---- chapter 6
def check_masked_late_average(func: Callable[..., Any]) -> CheckResult:
    """Exercise mm-ex1: ``masked_late_average(probs, present)`` -> per-patient mean of the present modalities.

    ``probs`` and ``present`` are ``(N, M)`` arrays (probabilities; 1 = modality
    available, 0 = missing); the result is ``(N,)``. Checked against
    :class:`medkit.models.LateFusion` arithmetic on hand-made cases.

    Examples
    --------
    >>> check_masked_late_average(...).status
    [to do] Exercise 6.1: not done yet; replace the `...` or the NotImplementedError with your answer.
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
        return _verdict(ex, "wrong", f"return a numeric array, not {type(got).__name__}.",
                        f"请返回一个数值数组，而不是 {type(got).__name__}。")
    if got.shape != (3,):
        return _verdict(ex, "wrong", f"return one probability per patient, shape (3,) here; got shape {got.shape}.",
                        f"每名患者返回一个概率，这里的形状应为 (3,)；你得到的形状是 {got.shape}。")
    if np.allclose(got, (probs * present).mean(axis=1)):
        return _verdict(ex, "wrong", "you divide by all modalities: a missing one must not count in the denominator.",
                        "你除以的是全部模态的个数：缺失的模态不能计入分母。")
    if np.allclose(got, probs.mean(axis=1)):
        return _verdict(ex, "wrong", "the missing modalities still count: use `present` to leave them out.",
                        "缺失的模态仍被算在内：用 `present` 把它们排除在外。")
    if not np.allclose(got, want):
        bad = int(np.argmax(~np.isclose(got, want)))
        return _verdict(ex, "wrong", f"patient {bad} (present = {present[bad].tolist()}) is off.",
                        f"患者 {bad}（present = {present[bad].tolist()}）的结果不对。")
    return _verdict(ex, "correct", "a missing modality is left out of the average, not counted as 0.",
                    "缺失的模态不参与平均，而不是被当作 0。")


def check_modality_dropout_mask(func: Callable[..., Any]) -> CheckResult:
    """Exercise mm-ex2: ``modality_dropout_mask(n, m, rate, seed)`` -> an ``(n, m)`` 0/1 mask.

    Each entry is 0 with probability about ``rate``, no row is all zeros (a
    patient keeps at least one modality), ``rate=0`` keeps everything and the
    same seed gives the same mask.

    Examples
    --------
    >>> check_modality_dropout_mask(None).status
    [to do] Exercise 6.2: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "mm-ex2"
    got, verdict = call_student(ex, func, 4000, 3, 0.3, 0)
    if verdict is not None:
        return verdict
    try:
        mask = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", f"return a numeric array, not {type(got).__name__}.",
                        f"请返回一个数值数组，而不是 {type(got).__name__}。")
    if mask.shape != (4000, 3):
        return _verdict(ex, "wrong", f"for n=4000, m=3 the mask must have shape (4000, 3); got {mask.shape}.",
                        f"当 n=4000, m=3 时，掩码的形状必须是 (4000, 3)；你得到的是 {mask.shape}。")
    if not np.isin(mask, (0.0, 1.0)).all():
        return _verdict(ex, "wrong", "the mask must hold only 0 (dropped) and 1 (kept): no rescaling here.",
                        "掩码只能包含 0（丢弃）和 1（保留）：这里不做缩放。")
    if (mask.sum(axis=1) == 0).any():
        return _verdict(ex, "wrong", "some patients lose every modality: make sure each row keeps at least one.",
                        "有些患者失去了全部模态：要确保每一行至少保留一个模态。")
    dropped = 1 - mask.mean()
    if not 0.2 < dropped < 0.36:
        return _verdict(ex, "wrong", f"with rate=0.3 you drop {dropped:.0%} of the entries; expected roughly 30%.",
                        f"rate=0.3 时你丢弃了 {dropped:.0%} 的元素；应约为 30%。")
    again, verdict = call_student(ex, func, 4000, 3, 0.3, 0)
    if verdict is not None:
        return verdict
    if not np.array_equal(np.asarray(again, dtype=float), mask):
        return _verdict(ex, "wrong", "two calls with the same seed give different masks: seed your generator.",
                        "用相同的种子调用两次，得到的掩码却不同：请为随机数生成器设定种子。")
    none, verdict = call_student(ex, func, 10, 3, 0.0, 1)
    if verdict is not None:
        return verdict
    if not np.all(np.asarray(none, dtype=float) == 1):
        return _verdict(ex, "wrong", "rate=0 must keep every modality.", "rate=0 时必须保留全部模态。")
    return _verdict(ex, "correct", "right shape, about the right rate, reproducible, and nobody loses everything.",
                    "形状正确，丢弃比例大致正确，结果可复现，而且没有患者失去全部模态。")


def check_oov_rate(func: Callable[..., Any]) -> CheckResult:
    """Exercise dp-ex1: ``oov_rate(note, vocabulary)`` -> share of the note's tokens not in the vocabulary.

    Tokens are :func:`medkit.data.tokenize`'s (lower-cased words, numbers, ``%``);
    an empty note has no rate (``nan``). Chapter 7 uses this number to warn when
    a note is written in words the model has never seen.

    Examples
    --------
    >>> check_oov_rate(...).status
    [to do] Exercise 7.1: not done yet; replace the `...` or the NotImplementedError with your answer.
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
                                         "(use medkit.data.tokenize) and do not count punctuation.",
                            "'No fever.' 中的词全都在词表里：把词元转成小写（用 medkit.data.tokenize），"
                            "并且不要把标点计算在内。")
        if not _close(value, want):
            if note.startswith("Nil") and _close(value, 3 / 6):
                return _verdict(ex, "wrong", "count every token of the note, including those in the vocabulary.",
                                "要计入临床记录中的每个词元，包括词表中已有的词元。")
            return _verdict(ex, "wrong", f"note {note!r} gives {value:.3f}; count tokens with medkit.data.tokenize "
                                         "and divide the unknown ones by all of them.",
                            f"临床记录 {note!r} 得到 {value:.3f}；用 medkit.data.tokenize 切分词元，"
                            "再用未知词元的个数除以全部词元的个数。")
    got, verdict = call_student(ex, func, "...", vocabulary)
    if verdict is not None:
        return verdict
    try:
        empty = float(got)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", "a note without tokens must give nan (no rate), not an error or "
                                     f"{type(got).__name__}.",
                        f"没有词元的临床记录必须给出 nan（没有比例可言），而不是报错或 {type(got).__name__}。")
    if not math.isnan(empty):
        return _verdict(ex, "wrong", "a note without any token has no OOV rate: return nan, not a number.",
                        "没有任何词元的临床记录没有 OOV 率：请返回 nan，而不是一个数。")
    return _verdict(ex, "correct", "the share of unknown tokens, and nan for a note with none.",
                    "给出了未知词元所占的比例，对没有词元的临床记录给出 nan。")


def check_ks_statistic(func: Callable[..., Any]) -> CheckResult:
    """Exercise dp-ex2: ``ks_statistic(a, b)`` -> the two-sample Kolmogorov-Smirnov statistic D.

    D is the largest vertical distance between the two empirical cumulative
    distribution functions; checked against ``scipy.stats.ks_2samp`` on samples
    with ties, different sizes and a shift.

    Examples
    --------
    >>> check_ks_statistic(None).status
    [to do] Exercise 7.2: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from scipy.stats import ks_2samp

    ex = "dp-ex2"
    rng = np.random.default_rng(7)
    cases = [(rng.normal(size=30), rng.normal(size=30) + 10,
              ("two samples that do not overlap at all (D = 1)", "在两个完全不重叠的样本上（D = 1）结果不对")),
             (rng.normal(size=40), rng.normal(0.5, 1.0, size=40),
              ("two samples of the same size", "在两个大小相同的样本上结果不对")),
             (np.array([1.0, 2, 2, 3, 3, 3]), np.array([2.0, 3, 3, 4, 4, 5]),
              ("samples with tied values: evaluate both CDFs at every observed value, counting all observations "
               "<= that value (np.searchsorted with side='right')",
               "在有并列值的样本上结果不对：要在每个观测值处计算两个 CDF，统计所有 <= 该值的观测"
               "（np.searchsorted 配合 side='right'）")),
             (rng.normal(size=50), rng.normal(0.8, 1.0, size=80),
              ("samples of different sizes: divide each count by its own sample's size",
               "在大小不同的样本上结果不对：每个计数要除以它所在样本自己的大小"))]
    for a, b, (hint, hint_zh) in cases:
        got, verdict = call_student(ex, func, a.copy(), b.copy())
        if verdict is not None:
            return verdict
        value, verdict = _as_float(ex, got)
        if verdict is not None:
            return verdict
        want = float(ks_2samp(a, b).statistic)
        if not _close(value, want, rel=1e-9, abs_=1e-12):
            if not 0.0 <= value <= 1.0:
                return _verdict(ex, "wrong", f"D is a difference of two probabilities: it lies in [0, 1]; got {value}.",
                                f"D 是两个概率之差：它位于 [0, 1] 之内；你得到的是 {value}。")
            return _verdict(ex, "wrong", f"wrong on {hint}.", f"{hint_zh}。")
    return _verdict(ex, "correct", "D matches scipy.stats.ks_2samp, ties and unequal sizes included.",
                    "D 与 scipy.stats.ks_2samp 一致，有并列值和样本大小不等时也一样。")


def check_shift_reading(answer: Any) -> CheckResult:
    """Exercise dp-ex3 (conceptual): why a shift can leave AUROC unchanged and still move the decisions.

    ``answer`` is the letter of the statement chosen ("a", "b" or "c"). A wrong
    letter gets the reason that statement does not hold, not the right letter.

    Examples
    --------
    >>> check_shift_reading(...).status
    [to do] Exercise 7.3: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "dp-ex3"
    if is_unanswered(answer):
        return _not_done(ex)
    if not isinstance(answer, str) or answer.strip().lower() not in ("a", "b", "c"):
        return _verdict(ex, "wrong", f"answer with one letter, 'a', 'b' or 'c'; got {answer!r}.",
                        f"请用一个字母作答：'a'、'b' 或 'c'；你给出的是 {answer!r}。")
    letter = answer.strip().lower()
    if letter == "b":
        return _verdict(ex, "wrong", "both numbers were computed on the same new patients, from site A's and site "
                                     "B's files: the split is not what differs.",
                        "两个数都是在同一批新患者上、分别由站点 A 和站点 B 的文件计算的：不同之处并不在于数据划分。")
    if letter == "c":
        return _verdict(ex, "wrong", "the bundle keeps the threshold chosen at export (preprocessing.json); "
                                     "nothing recomputes it at a new site, which has no labels to do it with.",
                        "模型包保留导出时选定的阈值（preprocessing.json）；到了新站点，没有任何步骤会重新计算它，"
                        "新站点也没有可用来计算它的标签。")
    return _verdict(ex, "correct", "AUROC only sees the order of the probabilities; a threshold sees their values.",
                    "AUROC 只看概率的排序；阈值看的是概率的数值。")


def check_domain_auroc(func: Callable[..., Any]) -> CheckResult:
    """Exercise dp-ex4: ``domain_auroc(reference, new, seed)`` -> cross-validated AUROC of a domain classifier.

    Checked on samples from one distribution (the AUROC must stay near 0.5: a
    classifier scored on the rows it was fitted on would not) and on shifted
    samples (near 1), and for the same value on a second call with the same seed.

    Examples
    --------
    >>> check_domain_auroc(None).status
    [to do] Exercise 7.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    ex = "dp-ex4"
    rng = np.random.default_rng(11)
    same_a, same_b = rng.normal(size=(60, 20)), rng.normal(size=(60, 20))
    shifted = rng.normal(size=(60, 20)) + np.linspace(0, 1.5, 20)
    got, verdict = call_student(ex, func, same_a, same_b, 0)
    if verdict is not None:
        return verdict
    value, verdict = _as_float(ex, got)
    if verdict is not None:
        return verdict
    if not 0.0 <= value <= 1.0:
        return _verdict(ex, "wrong", f"an AUROC lies in [0, 1]; got {value}.",
                        f"AUROC 位于 [0, 1] 之内；你得到的是 {value}。")
    if value > 0.75:
        return _verdict(ex, "wrong", f"two samples of the same distribution give {value:.2f}: the classifier is "
                                     "probably scored on the rows it was fitted on. Score each row with a model "
                                     "fitted without it (cross_val_predict).",
                        f"来自同一分布的两个样本得到 {value:.2f}：分类器很可能是在它拟合过的行上打分的。"
                        "请用没有见过该行的模型为每一行打分（cross_val_predict）。")
    if value < 0.25:
        return _verdict(ex, "wrong", f"two samples of the same distribution give {value:.2f}: are the scores "
                                     "those of the 'new' class (label 1 for the new rows)?",
                        f"来自同一分布的两个样本得到 {value:.2f}：这些分数是 'new' 这一类的吗（新数据的行标为 1）？")
    got, verdict = call_student(ex, func, same_a, shifted, 0)
    if verdict is not None:
        return verdict
    value_shift, verdict = _as_float(ex, got)
    if verdict is not None:
        return verdict
    if value_shift < 0.85:
        return _verdict(ex, "wrong", f"clearly shifted samples give only {value_shift:.2f}: label the new rows 1, "
                                     "the reference rows 0, and compute the AUROC of the out-of-fold scores.",
                        f"明显偏移的样本只得到 {value_shift:.2f}：把新数据的行标为 1、参考数据的行标为 0，"
                        "再计算折外（out-of-fold）分数的 AUROC。")
    again, verdict = call_student(ex, func, same_a, same_b, 0)
    if verdict is not None:
        return verdict
    if not _close(float(again), value, rel=1e-9, abs_=1e-12):
        return _verdict(ex, "wrong", "two calls with the same seed differ: pass the seed to the fold splitter.",
                        "用相同的种子调用两次，结果却不同：把种子传给划分各折的分割器。")
    return _verdict(ex, "correct", "near 0.5 when nothing moved, near 1 when the samples differ, reproducible.",
                    "没有偏移时接近 0.5，样本不同时接近 1，并且可复现。")


# ---------------------------------------------------------------- chapter 6, more exercises
def check_one_se_reason(answer: Any) -> CheckResult:
    """Exercise mm-ex3 (conceptual): why chapter 6 chooses the fusion with the one-standard-error rule.

    ``answer`` is the letter of the statement chosen ("a", "b" or "c").

    Examples
    --------
    >>> check_one_se_reason("b").status  # doctest: +ELLIPSIS
    [ok] Exercise 6.3: among near-ties the best validation score is mostly luck; ...
    'correct'
    """
    return _check_choice(
        "mm-ex3", answer, "b",
        hints={"a": ("no variant is always best on the test split: the seed plot shows the order moving "
                     "between seeds.",
                     "没有哪个变体在测试集上总是最好的：种子图显示，各变体的排序随种子而变。"),
               "c": ("the rule never looks at the test split; choosing to make the test AUROC larger would be "
                     "selection on the test set.",
                     "这条规则从不查看测试集；为了让测试 AUROC 更大而做选择，就是在测试集上做选择。")},
        why=("among near-ties the best validation score is mostly luck; the simplest variant within the noise "
             "is the choice that other seeds and machines repeat.",
             "在几乎打平的候选中，最高的验证分数主要是运气；噪声范围内最简单的变体，才是换用其他种子和机器时"
             "也会重复做出的选择。"))


def check_paired_auroc_difference(func: Callable[..., Any]) -> CheckResult:
    """Exercise mm-ex4: ``paired_auroc_difference(y, p_a, p_b, n_boot, seed)`` -> ``(difference, low, high)``.

    The oracle is :func:`medkit.metrics.paired_bootstrap` with
    :func:`medkit.metrics.percentile_ci` on the same resamples
    (``np.random.default_rng(seed).integers(0, n, size=(n_boot, n))``).

    Examples
    --------
    >>> check_paired_auroc_difference(None).status
    [to do] Exercise 6.4: not done yet; replace the `...` or the NotImplementedError with your answer.
    'not done'
    """
    from medkit import metrics as _metrics

    ex = "mm-ex4"
    rng = np.random.default_rng(7)
    y = np.array([0, 1] * 30)
    p_a = y + rng.normal(0, 1.0, y.size)
    p_b = p_a + rng.normal(0, 0.8, y.size)
    got, verdict = call_student(ex, func, y, p_a, p_b, 300, 1)
    if verdict is not None:
        return verdict
    try:
        difference, low, high = (float(v) for v in got)
    except (TypeError, ValueError):
        return _verdict(ex, "wrong", "return three numbers: (difference, low, high).",
                        "请返回三个数：(difference, low, high)。")
    est, boot = _metrics.paired_bootstrap(_metrics.roc_auc, y, {"a": p_a, "b": p_b}, n_boot=300, seed=1)
    want = _metrics.percentile_ci(boot["a"] - boot["b"], est["a"] - est["b"])
    if not math.isclose(difference, want.estimate, abs_tol=1e-9):
        return _verdict(ex, "wrong", "the difference is AUROC(p_a) - AUROC(p_b) on all patients, before any "
                                     "resampling.",
                        "差值是在全部患者上、未做任何重抽样时的 AUROC(p_a) - AUROC(p_b)。")
    if not (math.isclose(low, want.low, abs_tol=1e-9) and math.isclose(high, want.high, abs_tol=1e-9)):
        return _verdict(ex, "wrong", "the interval differs: draw all resamples at once with "
                                     "rng.integers(0, n, size=(n_boot, n)), score *both* models on each row "
                                     "of patients, and take the 2.5th and 97.5th percentiles of the differences.",
                        "区间不对：用 rng.integers(0, n, size=(n_boot, n)) 一次抽取全部重抽样样本，"
                        "在每一行患者上为*两个*模型打分，再取差值的第 2.5 和第 97.5 百分位数。")
    return _verdict(ex, "correct", "a paired interval: both models scored on the same resampled patients.",
                    "这是配对区间：两个模型在同一批重抽样患者上打分。")
