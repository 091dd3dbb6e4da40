"""Training and honest evaluation of the capstone models (chapter 6).

* :func:`set_seed` — one seed for Python, numpy, TensorFlow and Keras, plus
  TensorFlow's op determinism: two runs on one machine give identical weights.
* :func:`make_tf_dataset` — a ``tf.data`` pipeline per split (cache, seeded
  shuffle for training, batch, prefetch) yielding ``({modality: x}, label)``.
* :func:`class_weights` — "balanced" weights ``n / (2 n_c)``.
* :func:`fit` — builds a model from a :class:`~medkit.models.ModelConfig`
  (inside a ``tf.distribute`` strategy's scope when ``strategy="mirrored"``),
  trains it with class weights and early stopping on the *validation* AUROC
  (restoring the best weights), and prints one line per model.
* :func:`choose_threshold` and :func:`evaluate` — AUROC, AUPRC, F1,
  sensitivity, specificity and Brier score with bootstrap 95% CIs via
  :func:`medkit.metrics.summary_with_ci`. The decision threshold for F1,
  sensitivity and specificity is chosen on the **validation** split
  (Youden's J) and then applied unchanged to the test split.

Examples
--------
>>> import numpy as np
>>> from medkit.models import ModelConfig
>>> rng = np.random.default_rng(0)
>>> def split(n):
...     y = rng.integers(0, 2, n)
...     return {"audio": (rng.normal(size=(n, 4, 4, 1)) + y[:, None, None, None]).astype("float32"), "label": y}
>>> train, val = split(64), split(32)
>>> result = fit(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=4), train, val,
...              epochs=2, batch_size=16, seed=0, verbose=0)
>>> sorted(result.history)[:2]
['auprc', 'auroc']
>>> table = evaluate(result.model, val, val_data=val, n_boot=20)
>>> list(table.columns)
['estimate', 'ci_low', 'ci_high']
"""
from __future__ import annotations

import dataclasses
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from medkit import metrics as _metrics
from medkit.data import make_tf_dataset
from medkit.models import (ModelConfig, build_head, build_multimodal, compile_model, embedding_model, forward,
                           predict_missing, transfer_branch_weights)
from medkit.validation import check_choice, check_keys, check_positive_int, label_array

__all__ = [
    "set_seed", "get_strategy", "class_weights", "make_tf_dataset", "TrainResult", "ModelPool", "fit",
    "embed", "predict",
    "choose_threshold", "evaluate", "evaluate_probabilities", "METRIC_NAMES",
]

METRIC_NAMES: tuple[str, ...] = ("auroc", "auprc", "f1", "sensitivity", "specificity", "brier")


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy, TensorFlow and Keras; optionally make TensorFlow ops deterministic.

    ``tf.config.experimental.enable_op_determinism`` makes kernels that would
    otherwise race (reductions on several threads) give the same bits every
    run, at a small cost in speed. Bits still depend on the CPU (oneDNN, AVX-512):
    compare runs across machines with a tolerance.

    Taught in chapter 7, section *From notebook to use* (``notebooks/07_deployment.ipynb``) (its
    first cell); :func:`fit` calls it for every model of chapter 6.

    Parameters
    ----------
    seed : int
        Non-negative.
    deterministic : bool
        Also turn on TensorFlow's op determinism.

    Returns
    -------
    None
        The generators are seeded in place.

    Examples
    --------
    >>> set_seed(0)
    >>> import keras
    >>> a = float(keras.random.uniform(()))
    >>> set_seed(0)
    >>> a == float(keras.random.uniform(()))
    True
    """
    import keras
    import tensorflow as tf

    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    os.environ["PYTHONHASHSEED"] = str(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed))
    keras.utils.set_random_seed(int(seed))  # also seeds Python, numpy and TensorFlow
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def get_strategy(strategy: str | Any = "default") -> Any:
    """``"default"`` (one device), ``"mirrored"`` (all GPUs, else all logical CPUs) or a ``tf.distribute.Strategy``.

    ``MirroredStrategy`` keeps one copy of the model per device, splits every
    batch between them and sums the gradients before each update, so training
    is the same computation as on one device with the same global batch.
    On a machine without GPUs it mirrors over the logical CPU devices (two of
    them in the tests: ``tf.config.set_logical_device_configuration`` before
    TensorFlow starts).

    Taught in chapter 6, section *Scaling out* (``notebooks/06_multimodal_model.ipynb``) (and the
    *Scaling out* page).

    Parameters
    ----------
    strategy : str or tf.distribute.Strategy
        ``"default"``, ``"mirrored"`` or a strategy (returned as is).

    Returns
    -------
    tf.distribute.Strategy
        Its ``scope()`` is where :func:`fit` builds the model.

    Examples
    --------
    >>> type(get_strategy("default")).__name__
    '_DefaultDistributionStrategy'
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"strategy={strategy!r}: use 'default', 'mirrored' or a tf.distribute.Strategy.")


def class_weights(labels: Sequence[int] | np.ndarray) -> dict[int, float]:
    """Balanced class weights ``n / (2 n_c)``: each class contributes half of the loss.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    labels : array_like
        0/1 training labels (both classes present).

    Returns
    -------
    dict of int to float
        ``{0: w0, 1: w1}``.

    Examples
    --------
    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
    """
    y = np.asarray(labels).reshape(-1)
    counts = [int((y == c).sum()) for c in (0, 1)]
    if min(counts) == 0:
        raise ValueError(f"class_weights needs both classes; got counts {counts} for labels 0 and 1.")
    return {c: len(y) / (2.0 * counts[c]) for c in (0, 1)}


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model, config, history, best_epoch, best_val_auroc, seconds, samples_per_s, strategy, extra, weights
        As the attributes (filled in by :func:`fit`).

    Attributes
    ----------
    model : keras.Model
        The trained model, with the weights of the best validation epoch.
    config : ModelConfig
        Its configuration.
    history : dict of list of float
        Per-epoch ``loss``, ``auroc``, ``auprc`` and their ``val_`` versions.
    best_epoch : int
        1-based epoch whose weights were kept.
    best_val_auroc : float
        Keras's (binned) validation AUROC at that epoch.
    seconds : float
        Wall-clock training time.
    samples_per_s : float
        Training throughput (samples seen / seconds).

    Examples
    --------
    >>> from medkit.models import build_multimodal
    >>> cfg = ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2)
    >>> model = build_multimodal(cfg)
    >>> run = TrainResult(model, cfg, {"loss": [0.7]}, 1, 0.5, 1.0, 64.0, weights=model.get_weights())
    >>> run.name, run.n_trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    ('audio', True)
    """

    model: Any
    config: ModelConfig
    history: dict[str, list[float]]
    best_epoch: int
    best_val_auroc: float
    seconds: float
    samples_per_s: float
    strategy: str = "default"
    extra: dict[str, Any] = field(default_factory=dict)
    weights: list[Any] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def n_trainable(self) -> int:
        """Number of trainable parameters (the frozen branches of a two-stage model do not count)."""
        return int(sum(np.prod(w.shape) for w in self.model.trainable_weights))

    def restored_model(self) -> Any:
        """A new model holding this run's trained weights (a pooled ``model`` may since hold another run's).

        Returns
        -------
        keras.Model
            A new model with this run's trained weights.

        Examples
        --------
        >>> from medkit.models import build_multimodal
        >>> cfg = ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2)
        >>> model = build_multimodal(cfg)
        >>> run = TrainResult(model, cfg, {}, 1, 0.5, 1.0, 64.0, weights=model.get_weights())
        >>> restored = run.restored_model()
        >>> all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), model.get_weights(), strict=True))
        True
        """
        if self.weights is None:
            raise ValueError(f"run {self.name!r} kept no weights.")
        model = build_head(self.config) if self.extra.get("head_only") else build_multimodal(self.config)
        model.set_weights(self.weights)
        return model


class ModelPool:
    """Compiled models kept for reuse, so that training on several seeds traces each graph once.

    Building a Keras model is cheap; its first training step is not: TensorFlow
    traces the training, validation and prediction graphs, which for the
    capstone's models takes longer than the training itself (the profile in
    chapter 6's benchmark). :func:`fit` with ``pool=`` asks the pool for a
    compiled model of the same architecture, then gives it the *fresh*
    initial state a new model built under the new seed would have (every
    variable, including the random-number generators of dropout and
    augmentation, and a zeroed optimizer state), and trains it. The numbers
    are those of a fresh model; only the tracing is saved.

    A pooled model is overwritten by the next :func:`fit` of the same
    architecture: take its predictions first, or keep ``TrainResult.weights``.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    None

    Examples
    --------
    >>> pool = ModelPool()
    >>> len(pool)
    0
    """

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._models)

    def take(self, key: str, fresh: Any, config: ModelConfig) -> Any:
        """The compiled model for ``key``, reset to the state of ``fresh`` (an uncompiled new model).

        Parameters
        ----------
        key : str
            The architecture (:func:`fit` builds it from the configuration without its seed).
        fresh : keras.Model
            A new, uncompiled model of that architecture.
        config : ModelConfig
            Gives the learning rate.

        Returns
        -------
        keras.Model
            Compiled, in ``fresh``'s initial state.

        Examples
        --------
        >>> from medkit.models import build_multimodal
        >>> cfg = ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2)
        >>> pool = ModelPool()
        >>> first = pool.take("audio", build_multimodal(cfg), cfg)
        >>> pool.take("audio", build_multimodal(cfg.replace(seed=1)), cfg) is first, len(pool)
        (True, 1)
        """
        model = self._models.get(key)
        if model is None:
            self._models[key] = model = compile_model(fresh, config)
            return model
        # Paths differ (Keras numbers its random generators), so match by order and shape.
        if [tuple(v.shape) for v in model.variables] != [tuple(v.shape) for v in fresh.variables]:
            raise ValueError(f"pooled model {key!r} and the new model have different variables.")
        for target, source in zip(model.variables, fresh.variables, strict=True):
            target.assign(source)
        for variable in model.optimizer.variables:
            if variable.path.endswith("learning_rate"):
                variable.assign(config.learning_rate)
            else:
                variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        return model


def fit(config: ModelConfig, train: Mapping[str, Any], val: Mapping[str, Any], *, epochs: int = 20,
        batch_size: int = 32, seed: int = 0, patience: int = 5, class_weight: str | dict | None = "balanced",
        strategy: str | Any = "default", deterministic: bool = True, verbose: int = 1,
        init_from: Mapping[str, Any] | None = None, freeze_branches: bool = True,
        pool: ModelPool | None = None, head_only: bool = False, min_epochs: int = 0) -> TrainResult:
    """Build, compile and train one model; early stopping on validation AUROC (best weights restored).

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    config : ModelConfig
        The model to build (:func:`medkit.models.build_multimodal`).
    train, val : mapping
        Per-patient arrays of the two splits (``features.split("train")``).
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Global batch size. Under ``"mirrored"`` each of the ``R`` replicas sees
        ``batch_size / R`` samples per step; the update is the same.
    seed : int
        Seeds everything (:func:`set_seed`) and the shuffling.
    patience : int
        Epochs without a better validation AUROC before stopping.
    class_weight : "balanced", dict or None
        Loss weights per class (``"balanced"``: :func:`class_weights` of the training labels).
    strategy : str or tf.distribute.Strategy
        ``"default"`` or ``"mirrored"`` (:func:`get_strategy`).
    deterministic : bool
        Turn on TensorFlow op determinism.
    verbose : int
        0 silent, 1 one line per model, 2 also one line per epoch.
    init_from : mapping of str to keras.Model, optional
        Trained models to copy branch weights from (``{"image": image_model,
        ...}``, :func:`medkit.models.transfer_branch_weights`): two-stage training.
    freeze_branches : bool
        With ``init_from``, keep the copied branches frozen (train only the
        fusion and the head).
    pool : ModelPool, optional
        Reuse a compiled model of the same architecture (traced once) instead
        of building a new one; the result is the same as with a new model.
    min_epochs : int
        Early stopping ignores the first ``min_epochs`` epochs (Keras's
        ``start_from_epoch``): a small branch whose validation AUROC is high by
        chance after one epoch would otherwise keep those barely trained weights.
    head_only : bool
        Train only the fusion and head (:func:`medkit.models.build_head`) on
        precomputed embeddings: ``train`` and ``val`` hold ``{modality:
        (N, embed_dim)}`` from :func:`embed` instead of raw inputs.

    Returns
    -------
    TrainResult
        The trained model (best epoch's weights), its history and timings.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 48)
    >>> x = (rng.normal(size=(48, 4, 4, 1)) + y[:, None, None, None]).astype("float32")
    >>> run = fit(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=4), {"audio": x, "label": y},
    ...           {"audio": x, "label": y}, epochs=2, batch_size=16, verbose=0)
    >>> len(run.history["loss"]), run.best_epoch in (1, 2)
    (2, True)
    """
    import keras

    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}.")
    check_positive_int(epochs, "epochs")
    y_train = label_array(train, "train")
    label_array(val, "val")
    if head_only and init_from:
        raise ValueError("head_only trains on precomputed embeddings: there are no branches to init_from.")
    set_seed(seed, deterministic=deterministic)
    strat = get_strategy(strategy)
    with strat.scope():
        model = build_head(config) if head_only else build_multimodal(config)
        if init_from:
            transfer_branch_weights(model, init_from, freeze=freeze_branches)
        if pool is None:
            model = compile_model(model, config)
        else:
            frozen = sorted(layer.name for layer in model.layers if not layer.trainable)
            key = repr((dataclasses.replace(config, seed=0), head_only, frozen,
                        strategy if isinstance(strategy, str) else id(strat)))
            model = pool.take(key, model, config)
    modalities = list(config.modalities)
    train_ds = make_tf_dataset(train, modalities, batch_size, shuffle=True, seed=seed, repeat=True)
    steps_per_epoch = -(-len(y_train) // batch_size)
    val_ds = make_tf_dataset(val, modalities, batch_size)
    if class_weight == "balanced":
        class_weight = class_weights(y_train)

    stopper = keras.callbacks.EarlyStopping(monitor="val_auroc", mode="max", patience=patience,
                                            restore_best_weights=True, start_from_epoch=min_epochs)
    callbacks: list[Any] = [stopper]
    if verbose >= 2:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(
            f"  {config.name:>12} epoch {epoch + 1:3d}  loss {logs['loss']:.4f}  "
            f"val_loss {logs['val_loss']:.4f}  val_auroc {logs['val_auroc']:.4f}", flush=True)))
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        class_weight=class_weight,
                        callbacks=callbacks, shuffle=False, verbose=0)  # the dataset shuffles itself
    seconds = time.perf_counter() - start
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    epochs_run = len(hist["loss"])
    val_auc = hist["val_auroc"]
    # the epoch EarlyStopping restored: the first maximum from min_epochs on (or the last epoch,
    # if training ended before min_epochs)
    best = (min_epochs + int(np.argmax(val_auc[min_epochs:]))) if len(val_auc) > min_epochs else len(val_auc) - 1
    result = TrainResult(model=model, config=config, history=hist, best_epoch=best + 1,
                         best_val_auroc=float(val_auc[best]), seconds=seconds,
                         samples_per_s=len(y_train) * epochs_run / max(seconds, 1e-9),
                         strategy=strategy if isinstance(strategy, str) else type(strat).__name__,
                         weights=model.get_weights(), extra={"head_only": head_only})
    if verbose >= 1:
        print(f"{config.name:>14}: {epochs_run:3d} epochs, best {best + 1:3d}  val AUROC {val_auc[best]:.3f}  "
              f"({seconds:.1f} s, {result.samples_per_s:.0f} samples/s)", flush=True)
    return result


_EMBEDDERS: dict[tuple[Any, str], Any] = {}


def embed(branches: Mapping[str, Any], data: Mapping[str, Any], batch_size: int = 256) -> dict[str, np.ndarray]:
    """Each trained branch's embedding of one split, plus its labels: the input of a head-only :func:`fit`.

    The embeddings are computed in inference mode (no dropout, no augmentation),
    once; training the fusion head on them instead of on the raw inputs
    through frozen branches gives up the branches' dropout and the image
    augmentation during the second stage, and saves recomputing the branches
    at every step (chapter 6 measures both).

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    branches : mapping of str to keras.Model
        ``{"image": image_model, ...}``: trained unimodal models.
    data : mapping
        Arrays of one split (``features.split("val")``).

    Returns
    -------
    dict
        ``{modality: (N, embed_dim) float32, "label": (N,)}``.

    Examples
    --------
    >>> from medkit.models import build_multimodal
    >>> branch = build_multimodal(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=3))
    >>> out = embed({"audio": branch}, {"audio": np.ones((5, 4, 4, 1), "float32"), "label": np.ones(5)})
    >>> out["audio"].shape, out["label"].shape
    ((5, 3), (5,))
    """
    check_keys(data, branches, "data")
    out: dict[str, np.ndarray] = {}
    for modality, model in branches.items():
        key = (model, modality)
        if key not in _EMBEDDERS:  # a pooled branch keeps its embedder, and so its traced graph
            _EMBEDDERS[key] = embedding_model(model, modality)
        embedder = _EMBEDDERS[key]
        out[modality] = np.asarray(forward(embedder, np.asarray(data[modality]), batch_size), dtype="float32")
    if "label" in data:
        out["label"] = np.asarray(data["label"])
    return out


def predict(model: Any, data: Mapping[str, Any], batch_size: int = 256, missing: Sequence[str] = ()
            ) -> np.ndarray:
    """Predicted probabilities ``(N,)``, float64, for the arrays of one split.

    Only the model's modalities are fed; ``missing`` ones are treated as absent.
    This is :func:`medkit.models.predict_missing` (which does the work) with
    the split's other arrays, such as ``label``, left out.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`medkit.models.build_multimodal` or :func:`medkit.models.build_head`.
    data : mapping
        Arrays of one split (``features.split("test")``), or embeddings for a head.
    batch_size : int
        Patients per forward pass.
    missing : sequence of str
        Modalities to leave out (:func:`medkit.models.modality_mask`); ``()``: none.

    Returns
    -------
    ndarray of float64, shape (N,)
        One probability per patient.

    Examples
    --------
    >>> from medkit.models import build_multimodal
    >>> model = build_multimodal(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2))
    >>> predict(model, {"audio": np.zeros((3, 4, 4, 1), "float32"), "label": np.zeros(3)}).shape
    (3,)
    """
    return np.asarray(predict_missing(model, data, missing, batch_size), dtype="float64")


def choose_threshold(y_val: Sequence[int] | np.ndarray, p_val: Sequence[float] | np.ndarray,
                     method: str = "youden") -> float:
    """The decision threshold, chosen on the validation split.

    ``"youden"`` maximises sensitivity + specificity - 1
    (:func:`medkit.metrics.youden_threshold`); ``"0.5"`` is the naive default.
    Choosing it on the test split would make the test metrics optimistic.

    Taught in chapter 6, section *The chosen model's errors*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    y_val : array_like
        Validation labels (0/1).
    p_val : array_like
        Validation probabilities.
    method : str
        ``"youden"`` or ``"0.5"``.

    Returns
    -------
    float
        The threshold for F1, sensitivity and specificity.

    Examples
    --------
    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8
    """
    check_choice(method, ("youden", "0.5"), "method")
    if method == "youden":
        return float(_metrics.youden_threshold(y_val, p_val)[0])
    return 0.5


def evaluate_probabilities(y_true: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, threshold: float,
                           n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The six metrics with bootstrap 95% CIs for given labels and probabilities.

    Returns a DataFrame indexed by metric (``auroc``, ``auprc``, ``f1``,
    ``sensitivity``, ``specificity``, ``brier``) with columns ``estimate``,
    ``ci_low``, ``ci_high``; ``.attrs["threshold"]`` holds the threshold used.

    Taught in chapter 6, section *The chosen model's errors*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    y_true : array_like
        Labels (0/1).
    p : array_like
        Probabilities.
    threshold : float
        Decision threshold of F1, sensitivity and specificity.
    n_boot, seed : int
        Bootstrap resamples and their seed (:func:`medkit.metrics.summary_with_ci`).

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``estimate``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> t = evaluate_probabilities([0, 0, 1, 1, 0, 1], [.1, .3, .7, .8, .6, .4], threshold=0.5, n_boot=50)
    >>> round(float(t.loc["auroc", "estimate"]), 4), t.attrs["threshold"]
    (0.8889, 0.5)
    """
    summary = _metrics.summary_with_ci(y_true, p, threshold=threshold, n_boot=n_boot, seed=seed)
    table = pd.DataFrame({name: {"estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}
                          for name, ci in summary.items()}).T.loc[list(METRIC_NAMES)]
    table.attrs["threshold"] = float(threshold)
    return table


def evaluate(model: Any, data: Mapping[str, Any], *, val_data: Mapping[str, Any] | None = None,
             threshold: float | None = None, n_boot: int = 1000, seed: int = 0,
             missing: Sequence[str] = ()) -> pd.DataFrame:
    """Evaluate a model on one split: six metrics with bootstrap 95% CIs.

    Taught in chapter 6, section *The chosen model's errors*
    (``notebooks/06_multimodal_model.ipynb``) (there on stored probabilities, with
    :func:`evaluate_probabilities`).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`medkit.models.build_multimodal`.
    data : mapping
        Arrays of the split to evaluate (normally ``test``).
    val_data : mapping, optional
        The validation split: the threshold for F1, sensitivity and
        specificity is chosen there with Youden's J (:func:`choose_threshold`).
    threshold : float, optional
        A fixed threshold instead (e.g. one chosen earlier on validation).
        Exactly one of ``val_data`` and ``threshold`` is required.
    n_boot, seed : int
        Bootstrap resamples of patients and their seed.
    missing : sequence of str
        Modalities to treat as absent (:func:`medkit.models.predict_missing`);
        the validation threshold is then chosen with them absent too.

    Returns
    -------
    pandas.DataFrame
        Index ``auroc, auprc, f1, sensitivity, specificity, brier``; columns
        ``estimate, ci_low, ci_high``; ``.attrs["threshold"]`` and
        ``.attrs["threshold_rule"]`` say which threshold was used and how.

    Examples
    --------
    >>> from medkit.models import build_multimodal
    >>> model = build_multimodal(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2))
    >>> split = {"audio": np.random.default_rng(0).normal(size=(12, 4, 4, 1)).astype("float32"),
    ...          "label": np.array([0, 1] * 6)}
    >>> table = evaluate(model, split, threshold=0.5, n_boot=20)
    >>> table.index.tolist(), table.attrs["threshold_rule"]
    (['auroc', 'auprc', 'f1', 'sensitivity', 'specificity', 'brier'], 'given')
    """
    if (val_data is None) == (threshold is None):
        raise ValueError("pass exactly one of val_data (threshold chosen there by Youden's J) or threshold.")
    y = label_array(data, "data")

    def probs(split: Mapping[str, Any]) -> np.ndarray:
        return predict(model, split, missing=missing)

    if val_data is not None:
        threshold = choose_threshold(label_array(val_data, "val_data"), probs(val_data))
        rule = "Youden's J on the validation split"
    else:
        rule = "given"
    table = evaluate_probabilities(y, probs(data), float(threshold), n_boot=n_boot, seed=seed)
    table.attrs["threshold_rule"] = rule
    return table
