"""Feature fusion: combining per-modality feature vectors (chapter 3, capstone).

Two families with the same names and the same arithmetic:

numpy functions (teaching, chapter 3)
    :func:`concat_fusion`, :func:`average_fusion`, :func:`sum_fusion` and
    :func:`weighted_fusion` take a list of per-modality features, each a
    vector ``(d_i,)`` or a batch ``(N, d_i)``; a list of vectors gives a vector,
    a list of batches gives a batch. Average and sum need equal widths and raise
    a ``ValueError`` naming the widths otherwise; ``projection_dim=k`` first maps
    every modality to width ``k`` with a fixed, seeded random linear projection
    (:func:`random_projections`, :func:`project`), so unequal widths can be
    averaged.

Keras layers (the capstone's models; stable names)
    ``ConcatFusion``, ``AverageFusion``, ``SumFusion`` and ``GatedFusion`` are
    ``keras.layers.Layer`` subclasses called on a list of ``(batch, d_i)``
    tensors. With ``projection_dim=k`` each modality first goes through its own
    ``Dense(k)`` (learned). ``GatedFusion`` learns one weight per modality *per
    sample*: ``gates = softmax(Dense(M)(concat(inputs)))`` (shape ``(batch, M)``,
    rows sum to 1) and returns ``sum_m gates[:, m] * h_m``; with
    ``return_gates=True`` it returns ``(fused, gates)``, and
    :meth:`GatedFusion.compute_gates` gives the gates for given inputs (also on
    symbolic tensors, to build a sub-model that exposes them). The gate kernel
    starts at zero, so an untrained ``GatedFusion`` is an average.
    All four are registered as serializable (package ``"medkit"``) and have a
    ``get_config``, so models that use them save and load as ``.keras`` files.

Importing this module imports Keras (about 3 s), so that the layers are
registered before ``keras.saving.load_model`` needs them.

Exposing the gates of a trained model (``model`` contains a ``GatedFusion``
named ``"fusion"``)::

    layer = model.get_layer("fusion")
    gate_model = keras.Model(model.inputs, layer.compute_gates(layer.input))
    gates = gate_model.predict(x)          # (N, M), rows sum to 1

Examples
--------
>>> concat_fusion([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).tolist()
[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
>>> average_fusion([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).tolist()
[4.0, 5.0, 6.0]
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
from keras import ops
from numpy.typing import ArrayLike, NDArray

from medkit.validation import check_equal_widths, check_finite, check_positive_int

__all__ = [
    "concat_fusion", "average_fusion", "sum_fusion", "weighted_fusion",
    "random_projections", "project",
    "ConcatFusion", "AverageFusion", "SumFusion", "GatedFusion",
]


# ---------------------------------------------------------------- numpy


def _as_modalities(features: Sequence[ArrayLike]) -> tuple[list[NDArray[np.float64]], bool]:
    """Validate a list of per-modality features; return them as 2-D arrays and whether the input was 1-D."""
    if isinstance(features, np.ndarray) and features.ndim <= 1:
        raise ValueError("features must be a list of per-modality arrays, e.g. [image_vec, text_vec]; "
                         f"got a single array of shape {features.shape}.")
    try:
        arrays = [np.asarray(f, dtype=np.float64) for f in features]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"features must be a list of numeric arrays: {exc}") from exc
    if len(arrays) == 0:
        raise ValueError("features is empty: fusion needs at least one modality.")
    ndims = {a.ndim for a in arrays}
    if not ndims <= {1, 2} or len(ndims) != 1:
        shapes = [a.shape for a in arrays]
        raise ValueError("each modality must be a vector (d,) or a batch (N, d), all of the same kind; "
                         f"got shapes {shapes}.")
    single = ndims == {1}
    arrays = [a[None, :] if single else a for a in arrays]
    batch_sizes = [a.shape[0] for a in arrays]
    if len(set(batch_sizes)) != 1:
        raise ValueError(f"all modalities must have the same number of samples; got batch sizes {batch_sizes}.")
    for i, a in enumerate(arrays):
        if a.shape[1] == 0:
            raise ValueError(f"modality {i} has width 0.")
        check_finite(a, f"modality {i}")
    return arrays, single


def random_projections(widths: Sequence[int], projection_dim: int, seed: int = 0) -> list[NDArray[np.float64]]:
    """One fixed random matrix ``(d_i, projection_dim)`` per modality, entries N(0, 1/d_i).

    The 1/d_i variance keeps the projected features on the scale of the inputs
    whatever their width (a random projection in the Johnson-Lindenstrauss sense).

    Taught in chapter 3, section *What average and sum lose* (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    widths : sequence of int
        Width of each modality.
    projection_dim : int
        The common width.
    seed : int
        Seed of the matrices.

    Returns
    -------
    list of ndarray
        ``(d_i, projection_dim)`` per modality, in order.

    Examples
    --------
    >>> [w.shape for w in random_projections([3, 5], 4, seed=0)]
    [(3, 4), (5, 4)]
    """
    check_positive_int(projection_dim, "projection_dim")
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 1.0 / np.sqrt(d), size=(int(d), int(projection_dim))) for d in widths]


def project(features: Sequence[ArrayLike], matrices: Sequence[ArrayLike]) -> list[NDArray[np.float64]]:
    """Multiply each modality by its projection matrix (``x_i @ W_i``), keeping vector/batch form.

    Taught in chapter 3, section *What average and sum lose* (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    features : list of array_like
        One entry per modality.
    matrices : list of array_like
        ``(d_i, k)`` per modality (e.g. :func:`random_projections`).

    Returns
    -------
    list of ndarray
        ``(k,)`` or ``(N, k)`` per modality.

    Examples
    --------
    >>> project([[1.0, 2.0]], [np.eye(2)])[0].tolist()
    [1.0, 2.0]
    """
    arrays, single = _as_modalities(features)
    if len(matrices) != len(arrays):
        raise ValueError(f"got {len(arrays)} modalities but {len(matrices)} projection matrices.")
    out = []
    for i, (a, w) in enumerate(zip(arrays, matrices, strict=True)):
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 2 or w.shape[0] != a.shape[1]:
            raise ValueError(f"projection matrix {i} has shape {w.shape}; modality {i} has width {a.shape[1]}, "
                             f"so it needs shape ({a.shape[1]}, k).")
        p = a @ w
        out.append(p[0] if single else p)
    return out


def _prepared(features: Sequence[ArrayLike], projection_dim: int | None, seed: int
              ) -> tuple[list[NDArray[np.float64]], bool]:
    arrays, single = _as_modalities(features)
    if projection_dim is not None:
        mats = random_projections([a.shape[1] for a in arrays], projection_dim, seed)
        arrays = [a @ w for a, w in zip(arrays, mats, strict=True)]
    return arrays, single


def concat_fusion(features: Sequence[ArrayLike], projection_dim: int | None = None, seed: int = 0
                  ) -> NDArray[np.float64]:
    """Concatenate per-modality features along the feature axis.

    Keeps every number and which modality it came from (its position); the
    width is the sum of the widths (times the number of modalities with
    ``projection_dim``).

    Taught in chapter 3, sections *The source article's example* and *Batches* (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    features : list of array_like
        One entry per modality, each ``(d_i,)`` or each ``(N, d_i)``; the widths may differ.
    projection_dim, seed : int, optional
        Width to project every modality to first, and the projections' seed (:func:`random_projections`).

    Returns
    -------
    ndarray
        ``(sum d_i,)`` for vectors, ``(N, sum d_i)`` for batches.

    Examples
    --------
    >>> concat_fusion([[1, 2], [3]]).tolist()
    [1.0, 2.0, 3.0]
    >>> concat_fusion([np.zeros((4, 2)), np.ones((4, 3))]).shape
    (4, 5)
    """
    arrays, single = _prepared(features, projection_dim, seed)
    out = np.concatenate(arrays, axis=1)
    return out[0] if single else out


def sum_fusion(features: Sequence[ArrayLike], projection_dim: int | None = None, seed: int = 0
               ) -> NDArray[np.float64]:
    """Element-wise sum of per-modality features (equal widths required).

    Taught in chapter 3, section *What average and sum lose* (``notebooks/03_fusion.ipynb``): the
    error below is the one the chapter triggers on purpose.

    Parameters
    ----------
    features : list of array_like
        One entry per modality, each ``(d_i,)`` or each ``(N, d_i)``; one common width.
    projection_dim, seed : int, optional
        Width to project every modality to first, and the projections' seed (:func:`random_projections`).

    Returns
    -------
    ndarray
        The sums, ``(d,)`` for vectors and ``(N, d)`` for batches.

    Examples
    --------
    >>> sum_fusion([[1, 2, 3], [4, 5, 6]]).tolist()
    [5.0, 7.0, 9.0]
    >>> sum_fusion([[1, 2], [3]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: sum_fusion needs all modalities to have the same width; got widths [2, 1]. Pass projection_dim=k ...
    """
    arrays, single = _prepared(features, projection_dim, seed)
    check_equal_widths([a.shape[-1] for a in arrays], "sum_fusion", "concat_fusion")
    out = np.sum(np.stack(arrays, axis=0), axis=0)
    return out[0] if single else out


def average_fusion(features: Sequence[ArrayLike], projection_dim: int | None = None, seed: int = 0
                   ) -> NDArray[np.float64]:
    """Element-wise mean of per-modality features (equal widths required).

    Taught in chapter 3, sections *The source article's example* and *What average and sum lose*
    (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    features : list of array_like
        One entry per modality, each ``(d_i,)`` or each ``(N, d_i)``, all ``d`` wide.
    projection_dim, seed : int, optional
        Width to project every modality to first, and the projections' seed (:func:`random_projections`).

    Returns
    -------
    ndarray
        The means: a vector for vectors, a batch for batches, of the common width ``d``.

    Examples
    --------
    >>> average_fusion([[1, 2, 3], [4, 5, 6]]).tolist()
    [2.5, 3.5, 4.5]
    >>> average_fusion([np.zeros((2, 3)), np.ones((2, 5))], projection_dim=4).shape
    (2, 4)
    """
    arrays, single = _prepared(features, projection_dim, seed)
    check_equal_widths([a.shape[-1] for a in arrays], "average_fusion", "concat_fusion")
    out = np.mean(np.stack(arrays, axis=0), axis=0)
    return out[0] if single else out


def weighted_fusion(features: Sequence[ArrayLike], weights: ArrayLike) -> NDArray[np.float64]:
    """Weighted sum ``sum_m w_m x_m`` with one weight per modality, or one per sample and modality.

    This is what :class:`GatedFusion` computes once its gates are known
    (``weights`` of shape ``(N, M)``); equal weights ``1/M`` give the average.

    Taught in chapter 3, section *Learned gates* (``notebooks/03_fusion.ipynb``).

    Parameters
    ----------
    features : list of array_like
        One entry per modality, all of the same width.
    weights : array_like
        ``(M,)`` or ``(N, M)``.

    Returns
    -------
    ndarray
        ``(d,)`` for vectors, ``(N, d)`` for batches.

    Examples
    --------
    >>> weighted_fusion([[1.0, 2.0], [3.0, 4.0]], [0.25, 0.75]).tolist()
    [2.5, 3.5]
    """
    arrays, single = _as_modalities(features)
    check_equal_widths([a.shape[-1] for a in arrays], "weighted_fusion", "concat_fusion")
    w = np.asarray(weights, dtype=np.float64)
    m, n = len(arrays), arrays[0].shape[0]
    if w.shape == (m,):
        w = np.broadcast_to(w, (n, m))
    if w.shape != (n, m):
        raise ValueError(f"weights must have shape ({m},) or ({n}, {m}) for {m} modalities and {n} samples; "
                         f"got {w.shape}.")
    out = np.einsum("nm,mnd->nd", w, np.stack(arrays, axis=0))
    return out[0] if single else out


# ---------------------------------------------------------------- Keras layers


def _widths(input_shape: Any, name: str) -> list[int]:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
        raise ValueError(f"{name} must be called on a list of (batch, d_i) tensors; got input shape {input_shape}.")
    widths = []
    for i, shape in enumerate(input_shape):
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(f"{name}: input {i} has shape {tuple(shape)}; each input must be (batch, d) with d known.")
        widths.append(int(shape[-1]))
    return widths


class _Fusion(keras.layers.Layer):
    """Shared machinery: optional per-modality Dense projection to ``projection_dim``."""

    def __init__(self, projection_dim: int | None = None, activation: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        check_positive_int(projection_dim, "projection_dim", allow_none=True)
        self.projection_dim = projection_dim
        self.activation = activation
        self.projections: list[Any] = []

    def _build_projections(self, widths: list[int]) -> None:
        if self.projection_dim is None:
            return
        self.projections = []
        for i, d in enumerate(widths):
            dense = keras.layers.Dense(self.projection_dim, activation=self.activation, name=f"project_{i}")
            dense.build((None, d))
            self.projections.append(dense)

    def build(self, input_shape: Any) -> None:
        self.input_widths = _widths(input_shape, type(self).__name__)
        self._build_projections(self.input_widths)
        self._check_widths(self.input_widths)
        self.built = True

    def _check_widths(self, widths: list[int]) -> None:
        pass

    def _projected(self, inputs: Sequence[Any], presence: Any = None) -> list[Any]:
        """The (projected) modalities; with ``presence`` ``(batch, M)``, absent ones are exactly 0.

        Zeroing *after* the projection matters: a zeroed embedding would still
        pass the projection's bias on to the fusion.
        """
        if len(inputs) != len(self.input_widths):
            raise ValueError(f"{type(self).__name__} was built for {len(self.input_widths)} modalities; "
                             f"got {len(inputs)}.")
        out = [p(x) for p, x in zip(self.projections, inputs, strict=True)] if self.projections else list(inputs)
        if presence is not None:
            presence = ops.cast(presence, out[0].dtype)
            out = [h * presence[:, i:i + 1] for i, h in enumerate(out)]
        return out

    def _require_equal(self, widths: list[int]) -> None:
        if self.projection_dim is None:
            check_equal_widths(widths, type(self).__name__, "ConcatFusion")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(projection_dim=self.projection_dim, activation=self.activation)
        return config


@keras.saving.register_keras_serializable(package="medkit")
class ConcatFusion(_Fusion):
    """Concatenate (optionally projected) modalities: output width ``sum d_i`` or ``M * projection_dim``.

    ``presence`` ``(batch, M)`` (1 = present) zero-fills absent modalities: a
    concatenation has a slot per modality, so an absent one cannot be left out,
    only filled with zeros.

    Taught in chapter 3, section *The same operations as Keras layers* (``notebooks/03_fusion.ipynb``); the
    ``concat`` fusion of chapter 6 (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    projection_dim, activation : optional
        Width and activation of an optional ``Dense`` per modality (output ``M * projection_dim`` wide).
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> x = [np.ones((1, 2), "float32"), np.zeros((1, 1), "float32")]
    >>> np.asarray(ConcatFusion()(x)).tolist()
    [[1.0, 1.0, 0.0]]
    """

    def call(self, inputs: Sequence[Any], presence: Any = None) -> Any:
        return ops.concatenate(self._projected(inputs, presence), axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        widths = _widths(input_shape, "ConcatFusion")
        width = len(widths) * self.projection_dim if self.projection_dim is not None else sum(widths)
        return (input_shape[0][0], width)


@keras.saving.register_keras_serializable(package="medkit")
class SumFusion(_Fusion):
    """Element-wise sum of modalities of equal width (or projected to ``projection_dim``).

    ``presence`` ``(batch, M)`` (1 = present) leaves absent modalities out of
    the sum (their projection, bias included, contributes nothing).

    Taught in chapter 3, section *The same operations as Keras layers* (``notebooks/03_fusion.ipynb``); the
    ``sum`` fusion of chapter 6 (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    projection_dim, activation : optional
        Width and activation of a ``Dense`` per modality; needed when the widths differ.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> x = [np.full((1, 2), 1.0, "float32"), np.full((1, 2), 3.0, "float32")]
    >>> np.asarray(SumFusion()(x)).tolist()
    [[4.0, 4.0]]
    """

    def _check_widths(self, widths: list[int]) -> None:
        self._require_equal(widths)

    def call(self, inputs: Sequence[Any], presence: Any = None) -> Any:
        return ops.sum(ops.stack(self._projected(inputs, presence), axis=0), axis=0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        widths = _widths(input_shape, type(self).__name__)
        self._require_equal(widths)
        return (input_shape[0][0], self.projection_dim or widths[0])


@keras.saving.register_keras_serializable(package="medkit")
class AverageFusion(SumFusion):
    """Element-wise mean of modalities of equal width (or projected to ``projection_dim``).

    ``presence`` ``(batch, M)`` (1 = present) averages over the present
    modalities only: the mean of two embeddings, not a sum of two divided by three.

    Taught in chapter 3, section *The same operations as Keras layers* (``notebooks/03_fusion.ipynb``); the
    ``average`` fusion of chapter 6 (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    projection_dim, activation : optional
        Width and activation of a ``Dense`` per modality, applied before averaging.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> layer = AverageFusion()
    >>> x = [np.full((1, 2), 1.0, "float32"), np.full((1, 2), 3.0, "float32")]
    >>> np.asarray(layer(x)).tolist(), np.asarray(layer(x, presence=np.array([[1.0, 0.0]]))).tolist()
    ([[2.0, 2.0]], [[1.0, 1.0]])
    """

    def call(self, inputs: Sequence[Any], presence: Any = None) -> Any:
        total = ops.sum(ops.stack(self._projected(inputs, presence), axis=0), axis=0)
        if presence is None:
            return total / len(inputs)
        count = ops.sum(ops.cast(presence, total.dtype), axis=1, keepdims=True)
        return total / ops.maximum(count, 1.0)


@keras.saving.register_keras_serializable(package="medkit")
class GatedFusion(_Fusion):
    """Learned, per-sample weighting of modalities: ``sum_m softmax(Dense(M)(concat x))_m * h_m``.

    The gate kernel starts at zero, so an untrained layer is an average.

    Taught in chapter 3, section *Learned gates* (``notebooks/03_fusion.ipynb``); the ``gated`` fusion of
    chapter 6 (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    projection_dim : int, optional
        Common width the modalities are projected to (``Dense``); required
        when the input widths differ.
    activation : str, optional
        Activation of the projections.
    return_gates : bool
        Return ``(fused, gates)`` instead of ``fused``; ``gates`` is
        ``(batch, M)`` and its rows sum to 1.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Examples
    --------
    >>> layer = GatedFusion(return_gates=True)
    >>> fused, gates = layer([np.full((1, 2), 1.0, "float32"), np.full((1, 2), 3.0, "float32")])
    >>> np.asarray(fused).tolist(), np.asarray(gates).tolist()
    ([[2.0, 2.0]], [[0.5, 0.5]])
    """

    def __init__(self, projection_dim: int | None = None, activation: str | None = None,
                 return_gates: bool = False, **kwargs: Any):
        super().__init__(projection_dim=projection_dim, activation=activation, **kwargs)
        self.return_gates = bool(return_gates)

    def _check_widths(self, widths: list[int]) -> None:
        self._require_equal(widths)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        # Zero kernel and bias: the untrained layer is a plain average; training moves the gates.
        self.gate = keras.layers.Dense(len(self.input_widths), kernel_initializer="zeros", name="gate")
        self.gate.build((None, sum(self.input_widths)))

    def compute_gates(self, inputs: Sequence[Any], presence: Any = None) -> Any:
        """Gate values ``(batch, M)`` for the given (unprojected) inputs; works on symbolic tensors too.

        With ``presence`` ``(batch, M)``, the softmax runs over the present
        modalities only: an absent modality gets gate 0, the others share 1.

        Parameters
        ----------
        inputs : list of tensors
            ``(batch, d_i)`` per modality.
        presence : tensor, optional
            ``(batch, M)``, 1 for a present modality.

        Returns
        -------
        tensor
            ``(batch, M)``, rows summing to 1.

        Examples
        --------
        >>> layer = GatedFusion()
        >>> x = [np.ones((1, 2), "float32"), np.ones((1, 2), "float32"), np.ones((1, 2), "float32")]
        >>> _ = layer(x)
        >>> np.asarray(layer.compute_gates(x, presence=np.array([[1.0, 0.0, 1.0]]))).tolist()
        [[0.5, 0.0, 0.5]]
        """
        logits = self.gate(ops.concatenate(list(inputs), axis=-1))
        if presence is not None:
            logits = ops.where(ops.cast(presence, "bool"), logits, ops.full_like(logits, -1e9))
        return ops.softmax(logits, axis=-1)

    def call(self, inputs: Sequence[Any], presence: Any = None) -> Any:
        gates = self.compute_gates(inputs, presence)
        stacked = ops.stack(self._projected(inputs, presence), axis=1)  # (batch, M, d)
        fused = ops.sum(stacked * ops.expand_dims(gates, -1), axis=1)
        return (fused, gates) if self.return_gates else fused

    def compute_output_shape(self, input_shape: Any) -> Any:
        widths = _widths(input_shape, "GatedFusion")
        self._require_equal(widths)
        fused = (input_shape[0][0], self.projection_dim or widths[0])
        return (fused, (input_shape[0][0], len(widths))) if self.return_gates else fused

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(return_gates=self.return_gates)
        return config
