"""medkit.losses against Keras (an independent implementation) and TensorFlow's autodiff."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import keras
import tensorflow as tf

from medkit import losses

EXTREME = [0.0, 1.0, 1e-12, 1 - 1e-12, 0.5]
probability = st.one_of(st.sampled_from(EXTREME), st.floats(0.0, 1.0))


def keras_bce(y, p, from_logits):
    fn = keras.losses.BinaryCrossentropy(from_logits=from_logits, dtype="float64")
    return float(fn(np.atleast_2d(y), np.atleast_2d(p)))


def keras_cce(y, p, from_logits):
    fn = keras.losses.CategoricalCrossentropy(from_logits=from_logits, dtype="float64")
    return float(fn(np.atleast_2d(y), np.atleast_2d(p)))


@st.composite
def binary_batches(draw, logits=False):
    n = draw(st.integers(1, 12))
    y = draw(arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    if logits:
        p = draw(arrays(np.float64, n, elements=st.floats(-60, 60)))
    else:
        p = draw(arrays(np.float64, n, elements=probability))
    return y, p


@st.composite
def categorical_batches(draw, logits=False):
    n = draw(st.integers(1, 8))
    k = draw(st.integers(2, 5))
    classes = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    y = np.eye(k)[classes]
    z = draw(arrays(np.float64, (n, k), elements=st.floats(-30, 30)))
    if logits:
        return y, z
    p = losses.softmax(z)
    if draw(st.booleans()):  # a row with an exact 0 and 1 in it
        p[0] = np.eye(k)[draw(st.integers(0, k - 1))]
    return y, p


@settings(max_examples=60, deadline=None)
@given(binary_batches())
def test_binary_on_probabilities_matches_keras(batch):
    y, p = batch
    assert losses.binary_cross_entropy(y, p) == pytest.approx(keras_bce(y, p, False), rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(binary_batches(logits=True))
def test_binary_on_logits_matches_keras(batch):
    y, z = batch
    assert losses.binary_cross_entropy(y, z, from_logits=True) == pytest.approx(
        keras_bce(y, z, True), rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(categorical_batches())
def test_categorical_on_probabilities_matches_keras(batch):
    y, p = batch
    assert losses.categorical_cross_entropy(y, p) == pytest.approx(keras_cce(y, p, False), rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(categorical_batches(logits=True))
def test_categorical_on_logits_matches_keras(batch):
    y, z = batch
    assert losses.categorical_cross_entropy(y, z, from_logits=True) == pytest.approx(
        keras_cce(y, z, True), rel=1e-6, abs=1e-6)


def test_article_example_is_minus_log_of_true_class_probability():
    assert losses.categorical_cross_entropy([0, 1], [0.9, 0.1]) == pytest.approx(2.302585092994046, abs=1e-12)
    assert keras_cce([0, 1], [0.9, 0.1], False) == pytest.approx(2.302585092994046, abs=1e-9)


def test_extreme_probabilities_are_clipped_to_a_finite_loss():
    # by hand: a certain wrong answer costs -ln(eps) with eps = 1e-7, Keras' clipping constant
    assert losses.binary_cross_entropy([1.0, 0.0], [0.0, 1.0]) == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert losses.categorical_cross_entropy([[0, 1]], [[1.0, 0.0]]) == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert losses.binary_cross_entropy([1.0, 0.0], [1.0, 0.0]) == pytest.approx(-np.log1p(-1e-7), rel=1e-6)
    assert losses.categorical_cross_entropy([[1, 0]], [[1.0, 0.0]]) == pytest.approx(-np.log1p(-1e-7), rel=1e-6)
    assert losses.binary_cross_entropy([1.0], [0.0], eps=1e-3) == pytest.approx(-np.log(1e-3))
    assert losses.binary_cross_entropy([0.0], [800.0], from_logits=True) == pytest.approx(800.0)


def test_sigmoid_and_softmax_match_scipy_at_any_logit():
    """Oracle: scipy.special. No overflow for huge logits, and a 1-D input is one row."""
    from scipy.special import expit
    from scipy.special import log_softmax as sp_log_softmax
    from scipy.special import softmax as sp_softmax

    z = np.array([-800.0, -30.0, -1.0, 0.0, 1e-9, 0.5, 30.0, 800.0])
    wide = np.array([[1000.0, -1000.0, 0.0], [3.0, 1.0, 2.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_allclose(losses.sigmoid(z), expit(z), rtol=1e-12, atol=0)
        np.testing.assert_allclose(losses.log_softmax(wide), sp_log_softmax(wide, axis=-1), rtol=1e-12)
        np.testing.assert_allclose(losses.log_softmax(wide[0]), sp_log_softmax(wide[0]), rtol=1e-12)
        np.testing.assert_allclose(losses.softmax(wide[1]), sp_softmax(wide[1]), rtol=1e-12)
        np.testing.assert_allclose(losses.softmax(wide, axis=0), sp_softmax(wide, axis=0), rtol=1e-12)
        # the article's formula on huge logits: -log softmax = 2000 for the true class, exact
        assert losses.categorical_cross_entropy([[0, 1, 0]], wide[:1], from_logits=True) == pytest.approx(2000.0)


def test_one_sample_and_higher_rank_inputs():
    """A 1-D row is one sample; (batch, time, classes) averages over batch x time rows, like Keras."""
    z = np.array([2.0, -1.0])
    by_hand = np.log(np.exp(2.0) + np.exp(-1.0)) + 1.0  # logsumexp(z) - z_true
    assert losses.categorical_cross_entropy([0, 1], z, from_logits=True) == pytest.approx(by_hand, rel=1e-12)
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(losses.categorical_cross_entropy_grad([0, 1], z, from_logits=True), p - [0, 1])
    np.testing.assert_allclose(losses.categorical_cross_entropy_grad([0, 1], p), [0.0, -1.0 / p[1]])
    rng = np.random.default_rng(0)
    y3 = np.eye(4)[rng.integers(0, 4, size=(2, 3))]
    z3 = rng.normal(size=(2, 3, 4))
    flat = (y3.reshape(6, 4), z3.reshape(6, 4))
    assert losses.categorical_cross_entropy(y3, z3, from_logits=True) == pytest.approx(
        losses.categorical_cross_entropy(*flat, from_logits=True), rel=1e-12)
    assert losses.categorical_cross_entropy(y3, z3, from_logits=True) == pytest.approx(
        keras_cce(y3.reshape(6, 4), z3.reshape(6, 4), True), rel=1e-6)
    for from_logits, pred in ((True, z3), (False, losses.softmax(z3))):
        grad = losses.categorical_cross_entropy_grad(y3, pred, from_logits=from_logits)
        flat_grad = losses.categorical_cross_entropy_grad(y3.reshape(6, 4), pred.reshape(6, 4), from_logits=from_logits)
        np.testing.assert_allclose(grad, flat_grad.reshape(2, 3, 4), rtol=1e-12)


def test_gradients_are_zero_where_the_clip_is_active():
    """By hand: at p = 0 or 1 the clipped loss is flat, so the gradient is 0 (and nothing divides by 0)."""
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        np.testing.assert_array_equal(losses.binary_cross_entropy_grad([1, 0, 1, 0], [0.0, 1.0, 1.0, 0.0]), 0.0)
        grad = losses.binary_cross_entropy_grad([1, 0, 1], [0.0, 1.0, 0.5])
        np.testing.assert_allclose(grad, [0.0, 0.0, (0.5 - 1) / (0.25 * 3)])
        np.testing.assert_array_equal(losses.categorical_cross_entropy_grad([[0, 1, 0]], [[0.0, 1.0, 0.0]]), 0.0)
        np.testing.assert_allclose(losses.categorical_cross_entropy_grad([[1, 0, 0], [0, 0, 1]],
                                                                         [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
                                   [[-1 / (0.5 * 2), 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_reductions():
    y, p = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.2, 0.4])
    per = losses.binary_cross_entropy(y, p, reduction="none")
    assert per.shape == (3,)
    assert losses.binary_cross_entropy(y, p, reduction="sum") == pytest.approx(per.sum())
    assert losses.binary_cross_entropy(y, p) == pytest.approx(per.mean())
    with pytest.raises(ValueError, match="reduction"):
        losses.binary_cross_entropy(y, p, reduction="max")


@settings(max_examples=30, deadline=None)
@given(binary_batches(logits=True))
def test_binary_logit_gradient_matches_gradient_tape(batch):
    y, z = batch
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(y), logits=zt))
    want = tape.gradient(loss, zt).numpy()
    np.testing.assert_allclose(losses.binary_cross_entropy_grad(y, z, from_logits=True), want, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(binary_batches())
def test_binary_probability_gradient_matches_gradient_tape(batch):
    y, p = batch
    p = np.clip(p, 1e-3, 1 - 1e-3)  # inside the clip range, where the gradient is defined
    pt = tf.Variable(p)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(y * tf.math.log(pt) + (1 - y) * tf.math.log(1 - pt))
    want = tape.gradient(loss, pt).numpy()
    np.testing.assert_allclose(losses.binary_cross_entropy_grad(y, p), want, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(categorical_batches(logits=True))
def test_categorical_logit_gradient_matches_gradient_tape(batch):
    y, z = batch
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=zt))
    want = tape.gradient(loss, zt).numpy()
    np.testing.assert_allclose(losses.categorical_cross_entropy_grad(y, z, from_logits=True), want, atol=1e-9)


def test_categorical_probability_gradient_matches_finite_differences():
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    grad = losses.categorical_cross_entropy_grad(y, p)
    h = 1e-6
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        # the loss itself insists on rows summing to 1, so differentiate the raw formula
        f = lambda q: float(-(y * np.log(q)).sum(axis=-1).mean())  # noqa: E731
        assert grad[idx] == pytest.approx((f(up) - f(down)) / (2 * h), abs=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: losses.binary_cross_entropy([1, 0], [0.5]), "same shape"),
        (lambda: losses.binary_cross_entropy([1, 0], [0.5, 1.2]), r"\[0, 1\].*index \(1,\)"),
        (lambda: losses.binary_cross_entropy([1, 0], [0.5, -0.1]), "from_logits=True"),
        (lambda: losses.binary_cross_entropy([2, 0], [0.5, 0.5]), "y_true must be probabilities"),
        (lambda: losses.binary_cross_entropy([], []), "empty"),
        (lambda: losses.binary_cross_entropy([1.0], [np.nan]), "nan"),
        (lambda: losses.binary_cross_entropy([1.0, 0.0], [0.5, np.nan]), "y_pred contains nan"),
        (lambda: losses.binary_cross_entropy([1.0, np.inf], [0.5, 0.5]), "y_true contains nan or inf"),
        (lambda: losses.categorical_cross_entropy([[0, 1]], [[0.5, 0.6]]), "sum to 1.*sum = 1.1"),
        (lambda: losses.categorical_cross_entropy([[0, 1], [1, 1]], [[0.5, 0.5], [0.5, 0.5]]), "y_true must sum to 1"),
        (lambda: losses.categorical_cross_entropy([[0, 1]], [[0.5, 0.5, 0.0]]), "same shape"),
        (lambda: losses.categorical_cross_entropy(1, 1), "scalar"),
        (lambda: losses.binary_cross_entropy_grad([1], [1.5]), r"\[0, 1\]"),
        (lambda: losses.categorical_cross_entropy_grad([[0, 1]], [[0.2, 0.2]]), "sum to 1"),
    ],
)
def test_bad_input_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
