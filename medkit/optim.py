"""Gradient descent for linear and logistic regression, in numpy (chapter 2).

Parameters are one vector ``theta = (theta_0, theta_1, ..., theta_d)``: the
intercept first, then one weight per feature, so the model is
``theta_0 + X @ theta[1:]``.

Losses (means over the n samples, so the step size does not depend on n)
    linear:   ``L = 1/(2n) * sum (y_hat - y)^2``, gradient ``1/n * A.T @ (y_hat - y)``
    logistic: ``L = mean binary cross-entropy of sigmoid(z)``, gradient ``1/n * A.T @ (sigmoid(z) - y)``
where ``A = [1, X]`` is the design matrix with a column of ones. The ``1/2``
in the squared error only makes the gradient tidy (the 2 of the square cancels).

:func:`gradient_descent` runs batch (``batch_size=None``), stochastic
(``batch_size=1``) or mini-batch (``batch_size=k``) descent and returns a
:class:`History` of every parameter vector and the full-data loss after each
update. :func:`numerical_gradient` (central differences) is the check that
the analytic gradients are right.

Examples
--------
>>> mse_gradient([1.0, 2.0], [1.0, 2.0], [2.0, 4.0]).tolist()
[1.0, 1.5]
>>> gd_step([1.0, 2.0], [1.0, 1.5], lr=0.1).tolist()
[0.9, 1.85]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medkit.losses import binary_cross_entropy, sigmoid
from medkit.validation import (as_features, as_labels, check_choice, check_positive, check_positive_int,
                               check_same_length, check_same_shape)

__all__ = [
    "design_matrix", "linear_predict", "mse_loss", "mse_gradient", "logistic_predict", "logistic_loss",
    "logistic_gradient", "gd_step", "numerical_gradient", "History", "gradient_descent",
]

Model = Literal["linear", "logistic"]


def _check(theta: ArrayLike, X: ArrayLike, y: ArrayLike | None = None
           ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    x = as_features(X)
    t = np.asarray(theta, dtype=np.float64).reshape(-1)
    if t.size != x.shape[1] + 1:
        raise ValueError(f"theta must have 1 + n_features = {x.shape[1] + 1} entries (intercept first); got {t.size}.")
    if y is None:
        return t, x, None
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    check_same_length(x, yy, "X", "y")
    return t, x, yy


def _linear(t: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``theta_0 + X @ theta[1:]`` on checked inputs."""
    return t[0] + x @ t[1:]


def design_matrix(X: ArrayLike) -> NDArray[np.float64]:
    """``[1, X]``: a column of ones (for the intercept) before the features.

    Taught in chapter 2, section *Real data: body-mass index and diabetes progression*
    (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    X : array_like
        Features ``(n,)`` (one feature) or ``(n, d)``.

    Returns
    -------
    ndarray of float64, shape (n, 1 + d)
        The column of ones, then the features.

    Examples
    --------
    >>> design_matrix([1.0, 2.0]).tolist()
    [[1.0, 1.0], [1.0, 2.0]]
    """
    x = as_features(X)
    return np.hstack([np.ones((x.shape[0], 1)), x])


def linear_predict(theta: ArrayLike, X: ArrayLike) -> NDArray[np.float64]:
    """Linear-regression predictions ``theta_0 + X @ theta[1:]``.

    Taught in chapter 2, section *The source article's worked example* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta, X : array_like
        Parameters ``(1 + d,)`` (intercept first) and features ``(n,)`` or ``(n, d)``.

    Returns
    -------
    ndarray of float64, shape (n,)
        One prediction per sample.

    Examples
    --------
    >>> linear_predict([1.0, 2.0], [1.0, 2.0]).tolist()
    [3.0, 5.0]
    """
    t, x, _ = _check(theta, X)
    return _linear(t, x)


def mse_loss(theta: ArrayLike, X: ArrayLike, y: ArrayLike) -> float:
    """Half mean squared error ``1/(2n) * sum (y_hat - y)^2``.

    Taught in chapter 2, sections *The loss and its gradient* and *The source
    article's worked example* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta, X : array_like
        Parameters ``(1 + d,)`` (intercept first) and features ``(n,)`` or ``(n, d)``.
    y : array_like
        Targets ``(n,)``.

    Returns
    -------
    float
        The loss at ``theta``.

    Examples
    --------
    >>> mse_loss([1.0, 2.0], [1.0, 2.0], [2.0, 4.0])
    0.5
    """
    t, x, yy = _check(theta, X, y)
    r = _linear(t, x) - yy
    return float(0.5 * np.mean(r ** 2))


def mse_gradient(theta: ArrayLike, X: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Gradient of :func:`mse_loss`: ``1/n * A.T @ (y_hat - y)`` (prediction minus target).

    ``A`` is :func:`design_matrix` of ``X``.

    Taught in chapter 2, section *The loss and its gradient* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta, X : array_like
        Parameters ``(1 + d,)`` (intercept first) and features ``(n,)`` or ``(n, d)``.
    y : array_like
        Targets ``(n,)``, compared with the predictions ``A @ theta``.

    Returns
    -------
    ndarray of float64, shape (1 + d,)
        One partial derivative per parameter.

    Examples
    --------
    >>> mse_gradient([1.0, 2.0], [1.0, 2.0], [2.0, 4.0]).tolist()
    [1.0, 1.5]
    """
    t, x, yy = _check(theta, X, y)
    a = design_matrix(x)
    return a.T @ (a @ t - yy) / x.shape[0]


def logistic_predict(theta: ArrayLike, X: ArrayLike) -> NDArray[np.float64]:
    """Predicted probabilities ``sigmoid(theta_0 + X @ theta[1:])``.

    Taught in chapter 2, section *Batch, stochastic and mini-batch* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta, X : array_like
        The logistic model's parameters (intercept first) and the features ``(n,)`` or ``(n, d)``.

    Returns
    -------
    ndarray of float64, shape (n,)
        The probability of class 1 for each sample.

    Examples
    --------
    >>> logistic_predict([0.0, 1.0], [0.0]).tolist()
    [0.5]
    """
    t, x, _ = _check(theta, X)
    return sigmoid(_linear(t, x))


def logistic_loss(theta: ArrayLike, X: ArrayLike, y: ArrayLike) -> float:
    """Mean binary cross-entropy of chapter 1 on the logits ``theta_0 + X @ theta[1:]``.

    It is :func:`medkit.losses.binary_cross_entropy` with ``from_logits=True``,
    exact for any logit.

    Taught in chapter 2, section *Batch, stochastic and mini-batch* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta, X : array_like
        Parameters ``(1 + d,)`` (intercept first) and features ``(n,)`` or ``(n, d)``.
    y : array_like
        0/1 labels ``(n,)``.

    Returns
    -------
    float
        The loss at ``theta``, in nats.

    Examples
    --------
    >>> round(logistic_loss([0.0, 0.0], [[1.0], [2.0]], [0, 1]), 6)
    0.693147
    """
    t, x, yy = _check(theta, X, y)
    return float(binary_cross_entropy(yy, _linear(t, x), from_logits=True))


def logistic_gradient(theta: ArrayLike, X: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Gradient of :func:`logistic_loss`: ``1/n * A.T @ (sigmoid(z) - y)``.

    ``A`` is :func:`design_matrix` of ``X``; the same form as :func:`mse_gradient`
    with the sigmoid applied to the prediction.

    Taught in chapter 2, section *Batch, stochastic and mini-batch* (``notebooks/02_gradient_descent.ipynb``),
    where every update of the logistic model follows it.

    Parameters
    ----------
    theta, X : array_like
        Parameters ``(1 + d,)`` (intercept first) and features ``(n,)`` or ``(n, d)``.
    y : array_like
        0/1 labels ``(n,)``, subtracted from the predicted probabilities.

    Returns
    -------
    ndarray of float64, shape (1 + d,)
        One partial derivative per parameter, the intercept's first.

    Examples
    --------
    >>> logistic_gradient([0.0, 0.0], [[1.0], [2.0]], [0, 1]).tolist()
    [0.0, -0.25]
    """
    t, x, yy = _check(theta, X, y)
    a = design_matrix(x)
    return a.T @ (sigmoid(a @ t) - yy) / x.shape[0]


def gd_step(theta: ArrayLike, grad: ArrayLike, lr: float) -> NDArray[np.float64]:
    """One gradient-descent update ``theta - lr * grad`` (a step *against* the gradient).

    :func:`gradient_descent` takes every one of its steps with this function.

    Taught in chapter 2, section *The source article's worked example* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    theta : array_like
        Current parameters.
    grad : array_like
        Gradient of the loss at ``theta``, same shape.
    lr : float
        Learning rate (step size), positive.

    Returns
    -------
    ndarray of float64
        The updated parameters.

    Examples
    --------
    >>> gd_step([1.0, 2.0], [1.0, 1.5], lr=0.1).tolist()
    [0.9, 1.85]
    """
    t = np.asarray(theta, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    check_same_shape(t, g, "theta", "grad")
    check_positive(lr, "the learning rate")
    return t - lr * g


def numerical_gradient(f: Callable[[NDArray[np.float64]], float], theta: ArrayLike, eps: float = 1e-6
                       ) -> NDArray[np.float64]:
    """Central finite differences ``(f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps)``.

    The error is O(eps^2), so it checks an analytic gradient to about 1e-8.

    Taught in chapter 2, section *The source article's worked example* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    f : callable
        ``f(theta) -> float``.
    theta : array_like
        Where to differentiate.
    eps : float
        Half the width of the difference.

    Returns
    -------
    ndarray of float64
        The estimated gradient, one entry per parameter.

    Examples
    --------
    >>> numerical_gradient(lambda t: float(t @ t), [1.0, -2.0]).round(6).tolist()
    [2.0, -4.0]
    """
    t = np.asarray(theta, dtype=np.float64).reshape(-1)
    grad = np.empty_like(t)
    for i in range(t.size):
        e = np.zeros_like(t)
        e[i] = eps
        grad[i] = (f(t + e) - f(t - e)) / (2 * eps)
    return grad


@dataclass
class History:
    """What :func:`gradient_descent` did.

    Taught in chapter 2, section *Choosing the learning rate* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    thetas, losses, epoch_index, samples_seen, diverged
        As the attributes below (built by :func:`gradient_descent`).

    Attributes
    ----------
    thetas : ndarray, (n_updates + 1, p)
        The parameters before the first update and after each update.
    losses : ndarray, (n_updates + 1,)
        The loss on the *whole* training set at each of those points.
    epoch_index : list of int
        Index into ``thetas``/``losses`` at the end of each epoch.
    samples_seen : ndarray, (n_updates + 1,)
        How many per-sample gradients had been computed (the cost axis).
    diverged : bool
        True when the loss became inf/nan or grew past 1e12 and the run stopped.

    Examples
    --------
    >>> h = gradient_descent([1.0, 2.0], [2.0, 4.0], lr=0.1, epochs=2)
    >>> h.thetas.shape, h.epoch_losses.round(4).tolist()
    ((3, 2), [5.0, 2.1825, 0.9649])
    """

    thetas: NDArray[np.float64]
    losses: NDArray[np.float64]
    epoch_index: list[int] = field(default_factory=list)
    samples_seen: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    diverged: bool = False

    @property
    def theta(self) -> NDArray[np.float64]:
        """The final parameters."""
        return self.thetas[-1]

    @property
    def epoch_losses(self) -> NDArray[np.float64]:
        """Full-data loss at the start (index 0) and at the end of each epoch."""
        return self.losses[[0, *self.epoch_index]]


def gradient_descent(X: ArrayLike, y: ArrayLike, model: Model = "linear", lr: float = 0.1, epochs: int = 100,
                     batch_size: int | None = None, theta0: ArrayLike | None = None, seed: int = 0,
                     shuffle: bool = True) -> History:
    """Batch, stochastic or mini-batch gradient descent.

    Every update is :func:`gd_step` with the gradient of the chosen model's
    loss (:func:`mse_gradient` or :func:`logistic_gradient`) on a batch.

    Taught in chapter 2, sections *Choosing the learning rate* and *Batch,
    stochastic and mini-batch* (``notebooks/02_gradient_descent.ipynb``).

    Parameters
    ----------
    X, y : array_like
        Features ``(n,)`` or ``(n, d)`` and targets ``(n,)`` (0/1 for logistic).
    model : {"linear", "logistic"}
        Squared error with 1/2, or binary cross-entropy.
    lr : float
        Learning rate (step size).
    epochs : int
        Passes over the data.
    batch_size : int, optional
        ``None``: all samples per update (batch GD, one update per epoch);
        ``1``: stochastic GD (n updates per epoch); ``k``: mini-batches of k
        (the last batch of an epoch may be smaller).
    theta0 : array_like, optional
        Starting parameters; zeros by default.
    seed : int
        Seed of the shuffling (stochastic and mini-batch only).
    shuffle : bool
        Visit the samples in a new random order every epoch.

    Returns
    -------
    History
        The parameters and full-data loss after every update.

    Examples
    --------
    >>> h = gradient_descent([1.0, 2.0], [2.0, 4.0], lr=0.1, epochs=1, theta0=[1.0, 2.0])
    >>> h.theta.tolist()
    [0.9, 1.85]
    """
    check_choice(model, ("linear", "logistic"), "model")
    check_positive(lr, "lr")
    check_positive_int(epochs, "epochs")
    x = as_features(X)
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    check_same_length(x, yy, "X", "y")
    if model == "logistic":
        as_labels(yy, "y (0/1 labels for model='logistic')")
    check_positive_int(batch_size, "batch_size", allow_none=True)
    bs = n if batch_size is None else min(int(batch_size), n)
    theta = np.zeros(x.shape[1] + 1) if theta0 is None else np.asarray(theta0, dtype=np.float64).reshape(-1).copy()
    loss_fn, grad_fn = (mse_loss, mse_gradient) if model == "linear" else (logistic_loss, logistic_gradient)
    loss0 = loss_fn(theta, x, yy)  # also validates theta's length
    rng = np.random.default_rng(seed)

    thetas, losses, seen, epoch_index = [theta.copy()], [loss0], [0], []
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(epochs)):
            order = rng.permutation(n) if (shuffle and bs < n) else np.arange(n)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                theta = gd_step(theta, grad_fn(theta, x[idx], yy[idx]), lr)
                loss = loss_fn(theta, x, yy)
                thetas.append(theta.copy())
                losses.append(loss)
                seen.append(seen[-1] + idx.size)
                if not np.isfinite(loss) or loss > 1e12:
                    diverged = True
                    break
            epoch_index.append(len(losses) - 1)
            if diverged:
                break
    return History(np.array(thetas), np.array(losses), epoch_index, np.array(seen, dtype=np.int64), diverged)
