"""medkit.optim: analytic gradients against TensorFlow autodiff and finite differences; the descent loops."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tensorflow as tf

from medkit import optim

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, logistic=False):
    n = draw(st.integers(1, 8))
    d = draw(st.integers(1, 3))
    X = draw(arrays(np.float64, (n, d), elements=finite))
    if logistic:
        y = draw(arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    else:
        y = draw(arrays(np.float64, n, elements=finite))
    theta = draw(arrays(np.float64, d + 1, elements=finite))
    return theta, X, y


def tape_gradient(theta, X, y, logistic):
    t = tf.Variable(theta, dtype=tf.float64)
    Xt, yt = tf.constant(X, tf.float64), tf.constant(y, tf.float64)
    with tf.GradientTape() as tape:
        z = t[0] + tf.linalg.matvec(Xt, t[1:])
        if logistic:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yt, logits=z))
        else:
            loss = 0.5 * tf.reduce_mean(tf.square(z - yt))
    return tape.gradient(loss, t).numpy(), float(loss)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_mse_gradient_matches_gradient_tape(problem):
    theta, X, y = problem
    want, loss = tape_gradient(theta, X, y, logistic=False)
    np.testing.assert_allclose(optim.mse_gradient(theta, X, y), want, atol=1e-6, rtol=1e-9)
    assert optim.mse_loss(theta, X, y) == pytest.approx(loss, rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(problems(logistic=True))
def test_logistic_gradient_matches_gradient_tape(problem):
    theta, X, y = problem
    want, loss = tape_gradient(theta, X, y, logistic=True)
    np.testing.assert_allclose(optim.logistic_gradient(theta, X, y), want, atol=1e-6, rtol=1e-9)
    assert optim.logistic_loss(theta, X, y) == pytest.approx(loss, rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(problems(), st.booleans())
def test_gradients_match_finite_differences(problem, logistic):
    theta, X, y = problem
    if logistic:
        y = (y > 0).astype(float)
        loss, grad = optim.logistic_loss, optim.logistic_gradient
    else:
        loss, grad = optim.mse_loss, optim.mse_gradient
    numeric = optim.numerical_gradient(lambda t: loss(t, X, y), theta, eps=1e-5)
    np.testing.assert_allclose(grad(theta, X, y), numeric, atol=1e-6)


def test_article_example():
    x, y, theta = [1.0, 2.0], [2.0, 4.0], [1.0, 2.0]
    grad = optim.mse_gradient(theta, x, y)
    np.testing.assert_allclose(grad, [1.0, 1.5])
    np.testing.assert_allclose(optim.gd_step(theta, grad, 0.1), [0.9, 1.85])
    assert optim.mse_loss(theta, x, y) == pytest.approx(0.5)
    assert optim.mse_loss([0.9, 1.85], x, y) < optim.mse_loss(theta, x, y)
    # the article's printed update is not a gradient step on this loss
    assert not np.allclose(optim.gd_step(theta, grad, 0.1), [0.9, 1.9])


def test_batch_descent_is_repeated_full_steps():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), rng.normal(size=20)
    hist = optim.gradient_descent(X, y, lr=0.2, epochs=5)
    theta = np.zeros(3)
    for _ in range(5):
        theta = theta - 0.2 * optim.mse_gradient(theta, X, y)
    np.testing.assert_allclose(hist.theta, theta)
    assert hist.thetas.shape == (6, 3) and hist.losses.shape == (6,)
    assert hist.epoch_index == [1, 2, 3, 4, 5]
    assert hist.samples_seen.tolist() == [0, 20, 40, 60, 80, 100]
    assert np.all(np.diff(hist.losses) < 0)


def test_batch_converges_to_least_squares():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = 1.0 + X @ [2.0, -1.0] + rng.normal(scale=0.1, size=50)
    exact = np.linalg.lstsq(optim.design_matrix(X), y, rcond=None)[0]
    np.testing.assert_allclose(optim.gradient_descent(X, y, lr=0.5, epochs=300).theta, exact, atol=1e-6)


@pytest.mark.parametrize("batch_size, per_epoch", [(1, 10), (3, 4), (10, 1), (None, 1), (64, 1)])
def test_update_counts_per_epoch(batch_size, per_epoch):
    X, y = np.arange(10.0), np.arange(10.0) * 0.5
    hist = optim.gradient_descent(X, y, lr=0.01, epochs=2, batch_size=batch_size, seed=3)
    assert len(hist.losses) == 1 + 2 * per_epoch
    assert hist.samples_seen[-1] == 20


def test_stochastic_runs_are_seeded():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 2)), (rng.random(30) > 0.5).astype(int)
    a = optim.gradient_descent(X, y, "logistic", lr=0.1, epochs=3, batch_size=4, seed=5)
    b = optim.gradient_descent(X, y, "logistic", lr=0.1, epochs=3, batch_size=4, seed=5)
    c = optim.gradient_descent(X, y, "logistic", lr=0.1, epochs=3, batch_size=4, seed=6)
    np.testing.assert_array_equal(a.thetas, b.thetas)
    assert not np.allclose(a.theta, c.theta)
    assert a.losses[-1] < a.losses[0]


def test_divergence_is_detected_and_stops():
    X = np.linspace(-1, 1, 20)
    hist = optim.gradient_descent(X, 2 * X, lr=50.0, epochs=500)
    assert hist.diverged
    assert len(hist.losses) < 501


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "poisson"}, "model must be"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"theta0": [0.0, 0.0, 0.0]}, "theta must have 1 \\+ n_features = 2"),
])
def test_gradient_descent_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.gradient_descent([1.0, 2.0], [1.0, 2.0], **kwargs)


def test_input_validation_messages():
    with pytest.raises(ValueError, match="X has 2 samples but y has 3"):
        optim.mse_loss([0.0, 0.0], [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="0/1 labels"):
        optim.gradient_descent([1.0, 2.0], [0.5, 1.0], model="logistic")
    with pytest.raises(ValueError, match="nan or inf"):
        optim.mse_gradient([0.0, 0.0], [np.nan, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="learning rate must be positive"):
        optim.gd_step([1.0], [1.0], lr=-1)


def test_logistic_loss_is_stable_for_large_logits():
    assert np.isfinite(optim.logistic_loss([0.0, 1.0], [[800.0], [-800.0]], [0, 1]))
    assert optim.logistic_loss([0.0, 1.0], [[800.0], [-800.0]], [0, 1]) == pytest.approx(800.0)
    np.testing.assert_allclose(optim.logistic_predict([0.0, 1.0], [[800.0], [-800.0]]), [1.0, 0.0])
