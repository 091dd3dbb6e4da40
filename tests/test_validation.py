"""medkit.validation: the one place for input checks, and the taught modules' errors that come from it.

Each check is tested on values just inside and just outside what it accepts; the module-level tests
check that a bad argument to a taught function is refused with a message naming that argument.
"""
from __future__ import annotations

import numpy as np
import pytest

from medkit import losses, metrics, optim, validation


# ---------------------------------------------------------------- labels, scores, features
def test_as_labels_accepts_booleans_columns_and_float_zeros_and_ones():
    np.testing.assert_array_equal(validation.as_labels([True, False, True]), [1, 0, 1])
    np.testing.assert_array_equal(validation.as_labels(np.array([[0.0], [1.0]])), [0, 1])
    assert validation.as_labels([0, 1]).dtype == np.int64


@pytest.mark.parametrize("bad, match", [
    ([0, 1, 2], "y_true must hold only 0 and 1; found 2 at index 2"),
    ([0, 0.5], "found 0.5 at index 1"),
    (["no", "yes"], "y_true must hold 0/1 labels"),
    ([], "y_true is empty"),
    (np.zeros((2, 2)), r"1-D array of 0/1 labels; got shape \(2, 2\)"),
])
def test_as_labels_names_the_argument_and_the_first_bad_value(bad, match):
    with pytest.raises(ValueError, match=match):
        validation.as_labels(bad, "y_true")


def test_as_scores_refuses_nan_inf_and_matrices():
    np.testing.assert_array_equal(validation.as_scores([[0.5], [2.0]]), [0.5, 2.0])
    with pytest.raises(ValueError, match="y_score contains nan or inf"):
        validation.as_scores([0.1, np.inf])
    with pytest.raises(ValueError, match=r"y_score must be a 1-D array of scores; got shape \(2, 2\)"):
        validation.as_scores(np.ones((2, 2)))


def test_as_features_makes_a_vector_one_feature():
    assert validation.as_features([1.0, 2.0, 3.0]).shape == (3, 1)
    assert validation.as_features(np.ones((3, 2))).shape == (3, 2)
    with pytest.raises(ValueError, match=r"X must be \(n,\) or \(n, d\) with n >= 1; got shape \(0,\)"):
        validation.as_features([])
    with pytest.raises(ValueError, match="X contains nan or inf"):
        validation.as_features([1.0, np.nan])


def test_label_array_is_float32_and_names_the_split():
    y = validation.label_array({"label": np.array([[0], [1], [1]])}, "train")
    assert y.dtype == np.float32 and y.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"train has no 'label' array; keys are \['image'\]"):
        validation.label_array({"image": np.zeros(3)}, "train")
    with pytest.raises(ValueError, match=r"val\['label'\] must hold only 0 and 1; found 3 at index 0"):
        validation.label_array({"label": np.array([3, 0])}, "val")


# ---------------------------------------------------------------- probabilities and shapes
def test_unit_interval_reports_count_and_first_index():
    validation.check_unit_interval(np.array([0.0, 0.5, 1.0]), "p")  # both ends are allowed
    with pytest.raises(ValueError, match=r"p must be probabilities in \[0, 1\]; 2 value\(s\) are outside, "
                                         r"first at index \(0, 1\): -0.1\. Try this\."):
        validation.check_unit_interval(np.array([[0.2, -0.1], [1.5, 0.3]]), "p", "Try this.")


def test_rows_sum_to_one_within_the_tolerance():
    validation.check_rows_sum_to_one(np.array([[0.5, 0.5 + 1e-6]]), "p", tolerance=1e-4)
    with pytest.raises(ValueError, match=r"each row of p must sum to 1; 1 row\(s\) do not, first at row \(1,\)"):
        validation.check_rows_sum_to_one(np.array([[0.5, 0.5], [0.5, 0.6]]), "p")


def test_same_shape_and_same_length_name_both_arguments():
    validation.check_same_shape(np.zeros(3), np.ones(3), "a", "b")
    with pytest.raises(ValueError, match=r"a and b must have the same shape; got a \(3,\) and b \(2,\)"):
        validation.check_same_shape(np.zeros(3), np.ones(2), "a", "b")
    validation.check_same_length([1, 2], np.zeros((2, 5)), "X", "y")
    with pytest.raises(ValueError, match=r"same length; got 2 and 3 \(X has 2 samples but y has 3\)"):
        validation.check_same_length([1, 2], [1, 2, 3], "X", "y")


def test_equal_widths_and_keys():
    validation.check_equal_widths([4, 4, 4], "sum_fusion", "concat_fusion")
    with pytest.raises(ValueError, match=r"got widths \[4, 2\].*or use concat_fusion"):
        validation.check_equal_widths([4, 2], "sum_fusion", "concat_fusion")
    validation.check_keys({"image": 1, "text": 2}, ["text"])
    with pytest.raises(ValueError, match=r"inputs lacks \['audio'\], which model 'm' needs; it has \['image'\]: "
                                         r"pass zeros\."):
        validation.check_keys({"image": 1}, ["image", "audio"], "inputs", needed_by="model 'm'", hint="pass zeros")


# ---------------------------------------------------------------- options and numbers
def test_choice_lists_the_choices():
    validation.check_choice("sum", ("mean", "sum"), "reduction")
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum'; got 'max'"):
        validation.check_choice("max", ("mean", "sum"), "reduction")


@pytest.mark.parametrize("value, ok", [(1e-9, True), (3, True), (np.float32(0.1), True), (0.0, False),
                                       (-1, False), (float("nan"), False), (True, False), ("0.1", False)])
def test_positive(value, ok):
    if ok:
        validation.check_positive(value, "lr")
    else:
        with pytest.raises(ValueError, match="lr must be positive"):
            validation.check_positive(value, "lr")


@pytest.mark.parametrize("value, allow_none, ok", [(1, False, True), (np.int64(7), False, True), (None, True, True),
                                                   (0, False, False), (2.0, False, False), (True, False, False),
                                                   (None, False, False)])
def test_positive_int(value, allow_none, ok):
    if ok:
        validation.check_positive_int(value, "epochs", allow_none=allow_none)
    else:
        with pytest.raises(ValueError, match="epochs must be (None or )?a positive integer"):
            validation.check_positive_int(value, "epochs", allow_none=allow_none)


@pytest.mark.parametrize("value, ok", [(0.0, True), (0.999, True), (1.0, False), (-0.01, False)])
def test_fraction_is_half_open(value, ok):
    if ok:
        validation.check_fraction(value, "dropout")
    else:
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            validation.check_fraction(value, "dropout")


@pytest.mark.parametrize("alpha, ok", [(0.05, True), (0.999, True), (0.0, False), (1.0, False)])
def test_alpha_is_open(alpha, ok):
    if ok:
        validation.check_alpha(alpha)
    else:
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            validation.check_alpha(alpha)


# ---------------------------------------------------------------- the taught modules use these checks
@pytest.mark.parametrize("call, match", [
    (lambda: losses.binary_cross_entropy([1, 0], [0.5, 1.2]), r"y_pred must be probabilities in \[0, 1\].*from_logits"),
    (lambda: losses.binary_cross_entropy([1, 0], [0.5]), "y_true and y_pred must have the same shape"),
    (lambda: losses.binary_cross_entropy([1], [0.5], reduction="max"), "reduction must be one of 'mean', 'sum'"),
    (lambda: metrics.roc_auc([0, 1], [0.2, 0.3, 0.4]), r"y_true and y_score must have the same length; got 2 and 3"),
    (lambda: metrics.brier_score([0, 1], [0.2, 1.3]), r"y_prob must be probabilities in \[0, 1\].*sigmoid"),
    (lambda: metrics.bootstrap_ci(metrics.roc_auc, [0, 1], [0.1, 0.9], n_boot=0), "n_boot must be a positive integer"),
    (lambda: metrics.proportion_ci(3, 10, alpha=0), r"alpha must be in \(0, 1\)"),
    (lambda: optim.mse_loss([0.0, 1.0], [1.0, 2.0], [1.0]), r"X has 2 samples but y has 1"),
    (lambda: optim.gd_step([1.0], [1.0], lr=0), "the learning rate must be positive"),
    (lambda: optim.gradient_descent([1.0, 2.0], [0, 1], model="probit"), "model must be one of 'linear', 'logistic'"),
    (lambda: optim.gradient_descent([1.0, 2.0], [0, 2], model="logistic"), "found 2.0 at index 1"),
])
def test_taught_functions_refuse_bad_input_through_the_shared_checks(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_no_taught_module_keeps_a_private_copy_of_the_shared_checks():
    """The helpers merged into medkit.validation are gone from the modules that had them."""
    import importlib

    merged = {"losses": ["_check_unit_interval", "_check_rows_sum_to_one"],
              "metrics": ["_labels", "_scores", "_same_length"],
              "optim": ["_features"],
              "fusion": ["_require_equal_widths"],
              "data": ["_check_split_name"],
              "train": ["_labels"]}
    for module, names in merged.items():
        mod = importlib.import_module(f"medkit.{module}")
        left = [n for n in names if hasattr(mod, n)]
        assert not left, f"medkit.{module} still defines {left}"
