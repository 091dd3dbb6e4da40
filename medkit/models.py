"""Keras models of the capstone (chapter 6): three branches, five fusions, modality dropout.

One flat functional model per configuration. Each modality has a *branch*
that turns its input into an embedding of width ``ModelConfig.embed_dim``:

image
    a small CNN on ``(S, S, 1)`` images, preceded by augmentation layers
    (``RandomRotation``, ``RandomContrast``) that Keras only applies when
    ``training=True`` (``fit``), never in ``predict``/``evaluate``. There is no
    horizontal flip: a chest image has a fixed laterality (the heart is on the
    patient's left), and a flipped one is not a plausible patient.
text
    keras-hub ``TokenAndPositionEmbedding`` + ``TransformerEncoder`` + masked
    mean pooling over the non-padding tokens (``text_encoder="transformer"``),
    or the source article's ``Embedding`` + recurrent layer
    (``text_encoder="rnn"``, ``rnn_cell="gru"`` or ``"lstm"``).
audio
    a small CNN over the MFCC "image" ``(n_mfcc, T, 1)``, standardised per
    MFCC coefficient (the coefficients live on very different scales).

The embeddings then go through a :class:`ModalityMask` layer (modality
dropout while training; zeroing a missing modality at inference) and are
fused (``ModelConfig.fusion``):

============ ==================================================================
``concat``   :class:`medkit.fusion.ConcatFusion` (widths add up)
``average``  :class:`medkit.fusion.AverageFusion`, each modality projected to ``fusion_dim``
``sum``      :class:`medkit.fusion.SumFusion`, each modality projected to ``fusion_dim``
``gated``    :class:`medkit.fusion.GatedFusion` (learned per-sample softmax gates)
``late``     each branch gets its own classifier; :class:`LateFusion` combines
             the unimodal *probabilities* (``late_combination="average"``) or
             their logits with learned softmax weights (``"learned"``)
============ ==================================================================

followed (except for ``late``) by a small head ``Dropout → Dense → Dense(1)`` (layer
``"logit"``) ``→ sigmoid`` (layer ``"probability"``). A model with a single modality is a
unimodal baseline: no fusion layer.

:func:`build_head` builds the same fusion and head on top of precomputed
embeddings (inputs ``(batch, embed_dim)`` per modality) with the same layer
names, and :func:`assemble` puts trained branches and a trained head together
into one model from raw inputs: that is how chapter 6 trains the second stage
cheaply (:func:`medkit.train.embed`).

Every model takes a dict of inputs named ``"image"``, ``"text"``, ``"audio"``
(only those in ``config.modalities``) and outputs one probability per patient.

Missing modalities
------------------
:func:`predict_missing` predicts as if some modalities were absent, for the
whole batch: it sets the :class:`ModalityMask`'s ``present`` weights to 0 for
them and predicts. What "absent" means depends on the fusion: ``average``,
``sum`` and ``gated`` leave the modality out (mean over the present ones, no
projection bias, gates renormalised over the present ones), ``late`` leaves it
out of the average of probabilities, and ``concat`` can only fill its slot with
zeros. The input arrays of a missing modality are still fed (any content; they
are ignored), so the same ``tf.data`` pipeline works.

Examples
--------
>>> import numpy as np
>>> cfg = ModelConfig(modalities=("image", "audio"), fusion="gated", image_shape=(16, 16, 1),
...                   audio_shape=(8, 12, 1), embed_dim=8)
>>> model = build_multimodal(cfg)
>>> x = {"image": np.zeros((2, 16, 16, 1), "float32"), "audio": np.zeros((2, 8, 12, 1), "float32")}
>>> model.predict(x, verbose=0).shape
(2, 1)
>>> predict_missing(model, x, missing=("audio",)).shape
(2,)
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import keras
import keras_hub
import numpy as np
from keras import layers, ops

from medkit import fusion as _fusion
from medkit.data import MODALITIES
from medkit.validation import check_choice, check_fraction, check_keys

__all__ = [
    "MODALITIES", "FUSIONS", "ModelConfig", "config_from_arrays",
    "ModalityMask", "LateFusion", "PaddingMask", "MaskedMeanPooling", "TimeStatsPooling",
    "image_branch", "text_branch", "audio_branch", "build_multimodal", "build_head", "assemble",
    "embedding_model", "forward", "compile_model", "transfer_branch_weights", "model_modalities", "modality_mask",
    "predict_missing", "grad_cam",
]

FUSIONS: tuple[str, ...] = ("concat", "average", "sum", "gated", "late")
LAST_IMAGE_CONV = "image_conv3"  # the layer Grad-CAM explains


@dataclass
class ModelConfig:
    """Everything :func:`build_multimodal` needs; plain values so it can be printed and saved.

    Taught in chapter 6, sections *The cohort* and *The model*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    modalities : sequence of str
        Subset of ``("image", "text", "audio")``, in any order; one modality
        gives a unimodal model.
    fusion : str
        ``"concat"``, ``"average"``, ``"sum"``, ``"gated"`` or ``"late"``
        (ignored for one modality).
    image_shape, audio_shape : tuple of int
        ``(S, S, 1)`` and ``(n_mfcc, T, 1)``.
    text_len, vocab_size : int
        Token ids are ``0`` (padding), ``1`` (out of vocabulary), ``2 ..
        vocab_size - 1``.
    embed_dim : int
        Width of every branch's embedding.
    fusion_dim : int
        Common width the ``average``/``sum``/``gated`` fusions project to.
    text_encoder : str
        ``"transformer"`` (keras-hub) or ``"rnn"`` (the source article's).
    rnn_cell : str
        ``"gru"`` or ``"lstm"`` when ``text_encoder="rnn"``.
    num_heads, ff_dim : int
        Attention heads and feed-forward width of the transformer encoder.
    dropout : float
        Dropout before the classification head.
    modality_dropout : float
        Probability of zeroing each modality's embedding, per sample, while
        training (at least one modality is always kept). 0 disables it.
    augment : bool
        Add the image augmentation layers (active in training only).
    late_combination : str
        ``"average"`` of probabilities or ``"learned"`` softmax weights on
        logits, for ``fusion="late"``.
    learning_rate : float
        Adam learning rate used by :func:`compile_model`.
    image_mean, image_std : float
        Standardisation of the image intensities (from the training split).
    audio_mean, audio_std : list of float, optional
        Per-MFCC-coefficient standardisation (length ``n_mfcc``); ``None``:
        no standardisation.
    seed : int
        Seed of the augmentation and modality-dropout layers.

    Examples
    --------
    >>> ModelConfig(fusion="late").name
    'late'
    >>> ModelConfig(modalities=("text",)).name
    'text'
    """

    modalities: Sequence[str] = MODALITIES
    fusion: str = "concat"
    image_shape: tuple[int, int, int] = (64, 64, 1)
    text_len: int = 64
    vocab_size: int = 2000
    audio_shape: tuple[int, int, int] = (20, 32, 1)
    embed_dim: int = 32
    fusion_dim: int = 32
    text_encoder: str = "transformer"
    rnn_cell: str = "gru"
    num_heads: int = 2
    ff_dim: int = 64
    dropout: float = 0.2
    modality_dropout: float = 0.0
    augment: bool = True
    late_combination: str = "average"
    learning_rate: float = 2e-3
    image_mean: float = 0.0
    image_std: float = 1.0
    audio_mean: list[float] | None = None
    audio_std: list[float] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        if not self.modalities:
            raise ValueError("modalities is empty: choose at least one of 'image', 'text', 'audio'.")
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            raise ValueError(f"modalities {unknown} unknown; choose from {list(MODALITIES)}.")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities {list(self.modalities)} lists a modality twice.")
        # Canonical order, so ("audio", "image") and ("image", "audio") build the same model.
        self.modalities = tuple(m for m in MODALITIES if m in self.modalities)
        check_choice(self.fusion, FUSIONS, "fusion")
        check_choice(self.text_encoder, ("transformer", "rnn"), "text_encoder")
        check_choice(self.rnn_cell, ("gru", "lstm"), "rnn_cell")
        check_choice(self.late_combination, ("average", "learned"), "late_combination")
        check_fraction(self.modality_dropout, "modality_dropout")
        check_fraction(self.dropout, "dropout")
        self.image_shape = tuple(int(s) for s in self.image_shape)
        self.audio_shape = tuple(int(s) for s in self.audio_shape)
        if len(self.image_shape) != 3 or len(self.audio_shape) != 3:
            raise ValueError(f"image_shape {self.image_shape} and audio_shape {self.audio_shape} must be "
                             "(height, width, channels).")
        if self.audio_mean is not None and len(self.audio_mean) != self.audio_shape[0]:
            raise ValueError(f"audio_mean has {len(self.audio_mean)} entries; audio_shape[0] = "
                             f"{self.audio_shape[0]} MFCC coefficients.")
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be >= 3 (padding, OOV and one word); got {self.vocab_size}.")

    @property
    def name(self) -> str:
        """``"image"``/``"text"``/``"audio"`` for unimodal models, else the fusion (``"+md"`` with modality dropout)."""
        base = self.modalities[0] if len(self.modalities) == 1 else self.fusion
        if len(self.modalities) > 1 and len(self.modalities) < len(MODALITIES):
            base = "+".join(self.modalities) + ":" + base
        return base + ("+md" if self.modality_dropout > 0 and len(self.modalities) > 1 else "")

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Fields to change.

        Returns
        -------
        ModelConfig
            A new, validated configuration.

        Examples
        --------
        >>> ModelConfig().replace(fusion="gated", modalities=("audio", "image")).name
        'image+audio:gated'
        """
        return dataclasses.replace(self, **changes)


def config_from_arrays(train: Mapping[str, np.ndarray], vocab_size: int | None = None, **overrides: Any
                       ) -> ModelConfig:
    """A :class:`ModelConfig` whose shapes and standardisation come from the training arrays.

    Taught in chapter 6, section *The cohort* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    train : mapping
        The training split as arrays (``features.split("train")``): ``image``
        ``(N, S, S, 1)``, ``text`` ``(N, L)``, ``audio`` ``(N, n_mfcc, T, 1)``;
        missing keys are allowed (that modality keeps its defaults).
    vocab_size : int, optional
        Size of the token vocabulary including padding and OOV; default: the
        largest id in ``train["text"]`` plus one.
    **overrides
        Any other :class:`ModelConfig` field.

    Returns
    -------
    ModelConfig
        Shapes, vocabulary size and standardisation from ``train``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = {"image": rng.random((4, 16, 16, 1), dtype="float32"), "text": np.array([[2, 5, 0]] * 4),
    ...          "audio": rng.random((4, 8, 10, 1), dtype="float32")}
    >>> cfg = config_from_arrays(train, fusion="sum")
    >>> cfg.image_shape, cfg.text_len, cfg.vocab_size, cfg.audio_shape
    ((16, 16, 1), 3, 6, (8, 10, 1))
    """
    kwargs: dict[str, Any] = {}
    if "image" in train:
        image = np.asarray(train["image"], dtype=np.float32)
        if image.ndim != 4:
            raise ValueError(f"train['image'] must be (N, S, S, C); got shape {image.shape}.")
        kwargs.update(image_shape=image.shape[1:], image_mean=float(image.mean()),
                      image_std=float(image.std() + 1e-6))
    if "text" in train:
        text = np.asarray(train["text"])
        if text.ndim != 2:
            raise ValueError(f"train['text'] must be (N, L) token ids; got shape {text.shape}.")
        kwargs.update(text_len=text.shape[1], vocab_size=int(vocab_size or max(int(text.max()) + 1, 3)))
    if "audio" in train:
        audio = np.asarray(train["audio"], dtype=np.float32)
        if audio.ndim != 4:
            raise ValueError(f"train['audio'] must be (N, n_mfcc, T, 1); got shape {audio.shape}.")
        kwargs.update(audio_shape=audio.shape[1:],
                      audio_mean=[float(v) for v in audio.mean(axis=(0, 2, 3))],
                      audio_std=[float(v) + 1e-6 for v in audio.std(axis=(0, 2, 3))])
    kwargs.update(overrides)
    return ModelConfig(**kwargs)


# ---------------------------------------------------------------- custom layers


@keras.saving.register_keras_serializable(package="medkit")
class ModalityMask(layers.Layer):
    """Zero whole modalities: randomly while training (modality dropout), on request at inference.

    Called on a list of ``M`` tensors ``(batch, ...)`` (the branch outputs);
    returns ``(masked_list, mask)`` where ``mask`` is ``(batch, M)`` with 1 for
    a modality that is kept.

    * training and ``rate > 0``: each modality of each sample is dropped with
      probability ``rate``; a sample that would lose all modalities keeps them
      all. No rescaling (unlike ordinary dropout): at inference a present
      modality must look the way it did in training.
    * always: the mask is multiplied by the non-trainable weight ``present``
      ``(M,)``, all ones unless :func:`modality_mask` / :func:`predict_missing`
      set some to 0.

    Taught in chapter 6, section *Missing modalities and modality dropout*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    rate : float
        Probability of dropping each modality of each sample while training, in ``[0, 1)``.
    modalities : sequence of str
        Names of the ``M`` inputs, in order (used by :func:`model_modalities`).
    seed : int, optional
        Seed of the dropping.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> layer = ModalityMask(rate=0.0, modalities=["image", "text"])
    >>> (a, b), mask = layer([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")])
    >>> np.asarray(mask).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, rate: float = 0.0, modalities: Sequence[str] = (), seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        check_fraction(rate, "rate")
        self.rate = float(rate)
        self.modalities = list(modalities)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, (list, tuple)) or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"ModalityMask must be called on a list of tensors; got shape {input_shape}.")
        if self.modalities and len(self.modalities) != len(input_shape):
            raise ValueError(f"ModalityMask has modalities {self.modalities} but got {len(input_shape)} inputs.")
        self.present = self.add_weight(name="present", shape=(len(input_shape),), initializer="ones",
                                       trainable=False)
        self.built = True

    def call(self, inputs: Sequence[Any], training: bool | None = None) -> Any:
        batch = ops.shape(inputs[0])[0]
        m = len(inputs)
        mask = ops.ones((batch, m), dtype=inputs[0].dtype)
        if training and self.rate > 0 and m > 1:
            keep = ops.cast(keras.random.uniform((batch, m), seed=self.seed_generator) >= self.rate, mask.dtype)
            none_left = ops.sum(keep, axis=1, keepdims=True) == 0
            mask = ops.where(none_left, mask, keep)
        mask = mask * ops.cast(self.present, mask.dtype)[None, :]
        masked = []
        for i, x in enumerate(inputs):
            factor = ops.reshape(mask[:, i], (-1,) + (1,) * (len(x.shape) - 1))
            masked.append(x * factor)
        return masked, mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        return [tuple(s) for s in input_shape], (input_shape[0][0], len(input_shape))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rate=self.rate, modalities=self.modalities, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="medkit")
class LateFusion(layers.Layer):
    """Decision-level fusion of per-modality logits ``(batch, 1)`` under a modality mask ``(batch, M)``.

    ``combination="average"``: mean of the *probabilities* of the present
    modalities. ``"learned"``: ``sigmoid(sum_m a_m z_m + b)`` with ``a =
    softmax(w)`` renormalised over the present modalities. A missing modality
    is left out instead of being imputed, so late fusion handles missing data
    by construction.

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``) (the ``late``
    fusion).

    Parameters
    ----------
    combination : str
        ``"average"`` or ``"learned"``.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> z = [np.array([[0.0]], "float32"), np.array([[100.0]], "float32")]
    >>> float(LateFusion()([z, np.array([[1.0, 1.0]], "float32")])[0, 0])
    0.75
    >>> float(LateFusion()([z, np.array([[1.0, 0.0]], "float32")])[0, 0])
    0.5
    """

    def __init__(self, combination: str = "average", **kwargs: Any):
        super().__init__(**kwargs)
        check_choice(combination, ("average", "learned"), "combination")
        self.combination = combination

    def build(self, input_shape: Any) -> None:
        logits_shape, _ = input_shape
        m = len(logits_shape)
        if self.combination == "learned":
            self.w = self.add_weight(name="modality_logits", shape=(m,), initializer="zeros")
            self.b = self.add_weight(name="bias", shape=(), initializer="zeros")
        self.built = True

    def call(self, inputs: Any) -> Any:
        logits, mask = inputs
        z = ops.concatenate(list(logits), axis=-1)  # (batch, M)
        denom = ops.maximum(ops.sum(mask, axis=-1, keepdims=True), 1e-6)
        if self.combination == "average":
            return ops.sum(ops.sigmoid(z) * mask, axis=-1, keepdims=True) / denom
        weights = ops.softmax(self.w)[None, :] * mask
        weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-6)
        return ops.sigmoid(ops.sum(weights * z, axis=-1, keepdims=True) + self.b)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[1][0], 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(combination=self.combination)
        return config


@keras.saving.register_keras_serializable(package="medkit")
class PaddingMask(layers.Layer):
    """``token_ids != 0`` as a boolean ``(batch, L)`` mask (0 is the padding id).

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``) (the text
    branch).

    Parameters
    ----------
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``); the layer is then called on the token ids.

    Examples
    --------
    >>> np.asarray(PaddingMask()(np.array([[5, 2, 0, 0]]))).tolist()
    [[True, True, False, False]]
    """

    def call(self, token_ids: Any) -> Any:
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="medkit")
class MaskedMeanPooling(layers.Layer):
    """Mean over the sequence axis of the non-padding positions; an all-padding row gives zeros, not nan.

    (Keras's ``GlobalAveragePooling1D`` divides by zero on an empty note.)

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``) (the text
    branch).

    Parameters
    ----------
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``); the layer is then called on ``[x, mask]``.

    Examples
    --------
    >>> x = np.array([[[1.0], [3.0], [9.0]]], "float32")
    >>> np.asarray(MaskedMeanPooling()([x, np.array([[True, True, False]])])).tolist()
    [[2.0]]
    """

    def call(self, inputs: Any) -> Any:
        x, mask = inputs
        m = ops.cast(mask, x.dtype)[:, :, None]
        return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        x_shape, _ = input_shape
        return (x_shape[0], x_shape[-1])


@keras.saving.register_keras_serializable(package="medkit")
class TimeStatsPooling(layers.Layer):
    """Mean and standard deviation over the time axis (axis 2) of ``(batch, bands, T, C)``, flattened.

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``) (the audio
    branch).

    Parameters
    ----------
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``); the layer is then called on the feature maps.

    Examples
    --------
    >>> TimeStatsPooling()(np.ones((2, 3, 5, 4), "float32")).shape
    TensorShape([2, 24])
    """

    def call(self, x: Any) -> Any:
        mean = ops.mean(x, axis=2)
        std = ops.sqrt(ops.maximum(ops.mean(ops.square(x), axis=2) - ops.square(mean), 0.0) + 1e-6)
        out = ops.concatenate([mean, std], axis=-1)
        return ops.reshape(out, (-1, out.shape[1] * out.shape[2]))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], input_shape[1] * input_shape[3] * 2)


# ---------------------------------------------------------------- branches


def image_branch(image: Any, config: ModelConfig) -> Any:
    """Image branch: augmentation (training only), standardisation, downsampling to ~16x16, 3 convs, Dense.

    Builds on the symbolic input ``image`` and returns the ``(batch, embed_dim)``
    embedding. Layer names start with ``image_``; the last convolution is
    ``image_conv3`` (used by :func:`grad_cam`).

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``); Grad-CAM
    explains its last convolution.

    Parameters
    ----------
    image : KerasTensor
        Images ``(batch, S, S, 1)``: a ``keras.Input`` named ``"image"``.
    config : ModelConfig
        Gives ``image_shape``, ``augment``, ``dropout`` and ``embed_dim``.

    Returns
    -------
    KerasTensor
        The embedding ``(batch, embed_dim)``, layer ``image_embedding``.

    Examples
    --------
    >>> x = keras.Input((32, 32, 1), name="image")
    >>> tuple(image_branch(x, ModelConfig(image_shape=(32, 32, 1), embed_dim=8)).shape)
    (None, 8)
    """
    x = image
    if config.augment:
        # Small, plausible perturbations only; Keras applies them in fit() and skips them in predict().
        # No flip: a mirrored chest puts the heart on the wrong side.
        x = layers.RandomRotation(0.03, fill_mode="constant", seed=config.seed + 1, name="image_rotate")(x)
        x = layers.RandomContrast(0.15, seed=config.seed + 2, name="image_contrast")(x)
    x = layers.Normalization(axis=None, mean=config.image_mean, variance=config.image_std ** 2,
                             name="image_standardise")(x)
    # Average down to about 16x16 first: the findings are large, soft opacities, 240 training images
    # cannot fit a full-resolution CNN, and it is 16x cheaper.
    pool = max(1, config.image_shape[0] // 16)
    if pool > 1:
        x = layers.AveragePooling2D(pool, name="image_downsample")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="image_conv1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="image_conv2")(x)
    x = layers.MaxPooling2D(2, name="image_pool")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="image_conv3")(x)
    # Flatten, not global pooling: *where* an opacity sits (lung field or heart) matters.
    x = layers.Flatten(name="image_flatten")(x)
    x = layers.Dropout(config.dropout, name="image_dropout")(x)
    return layers.Dense(config.embed_dim, activation="relu", name="image_embedding")(x)


def text_branch(token_ids: Any, config: ModelConfig) -> Any:
    """Text branch on ``(batch, L)`` token ids: transformer encoder (keras-hub) or the article's RNN.

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``): the notes' encoder.

    Parameters
    ----------
    token_ids : KerasTensor
        Token ids ``(batch, L)``, int32, from ``keras.Input(..., name="text")``.
    config : ModelConfig
        Gives ``text_encoder``, ``vocab_size``, ``text_len`` and ``embed_dim``.

    Returns
    -------
    KerasTensor
        The embedding ``(batch, embed_dim)``, layer ``text_embedding``.

    Examples
    --------
    >>> x = keras.Input((12,), dtype="int32", name="text")
    >>> tuple(text_branch(x, ModelConfig(text_len=12, vocab_size=50, embed_dim=8)).shape)
    (None, 8)
    >>> tuple(text_branch(x, ModelConfig(text_len=12, vocab_size=50, embed_dim=8, text_encoder="rnn")).shape)
    (None, 8)
    """
    padding = PaddingMask(name="text_padding_mask")(token_ids)
    if config.text_encoder == "transformer":
        x = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=config.vocab_size, sequence_length=config.text_len,
            embedding_dim=config.embed_dim, name="text_token_position_embedding")(token_ids)
        # The padding mask is passed explicitly: keras-hub's PositionEmbedding drops implicit Keras masks.
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=config.ff_dim, num_heads=config.num_heads, dropout=0.1,
            name="text_transformer")(x, padding_mask=padding)
        x = MaskedMeanPooling(name="text_pool")([x, padding])
    else:
        x = layers.Embedding(config.vocab_size, config.embed_dim, mask_zero=True,
                             name="text_embedding_table")(token_ids)
        cell = layers.GRU if config.rnn_cell == "gru" else layers.LSTM
        x = cell(config.embed_dim, name=f"text_{config.rnn_cell}")(x)
    return layers.Dense(config.embed_dim, activation="relu", name="text_embedding")(x)


def audio_branch(mfcc: Any, config: ModelConfig) -> Any:
    """Audio branch: per-coefficient standardisation of the MFCCs, 2 convs, statistics pooling over time, Dense.

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``): it listens to the MFCCs.

    Parameters
    ----------
    mfcc : KerasTensor
        MFCC maps ``(batch, n_mfcc, T, 1)``; the input layer must be named ``"audio"``.
    config : ModelConfig
        Gives ``audio_mean``/``audio_std``, ``dropout`` and ``embed_dim``.

    Returns
    -------
    KerasTensor
        The embedding ``(batch, embed_dim)``, layer ``audio_embedding``.

    Examples
    --------
    >>> x = keras.Input((20, 32, 1), name="audio")
    >>> tuple(audio_branch(x, ModelConfig(embed_dim=8)).shape)
    (None, 8)
    """
    x = mfcc
    if config.audio_mean is not None:
        mean = np.asarray(config.audio_mean, dtype="float32").reshape(1, -1, 1, 1)
        var = np.asarray(config.audio_std, dtype="float32").reshape(1, -1, 1, 1) ** 2
        x = layers.Normalization(axis=1, mean=mean.reshape(-1), variance=var.reshape(-1),
                                 name="audio_standardise")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="audio_conv1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="audio_conv2")(x)
    # Statistics pooling over time (mean and standard deviation per MFCC band and filter):
    # crackles and wheezes are events whose timing varies, their rate and spread is what counts.
    x = TimeStatsPooling(name="audio_time_stats")(x)
    x = layers.Dropout(config.dropout, name="audio_dropout")(x)
    return layers.Dense(config.embed_dim, activation="relu", name="audio_embedding")(x)


_BRANCHES = {"image": image_branch, "text": text_branch, "audio": audio_branch}


def _inputs(config: ModelConfig) -> dict[str, Any]:
    spec = {
        "image": (config.image_shape, "float32"),
        "text": ((config.text_len,), "int32"),
        "audio": (config.audio_shape, "float32"),
    }
    return {m: keras.Input(spec[m][0], dtype=spec[m][1], name=m) for m in config.modalities}


def build_multimodal(config: ModelConfig) -> keras.Model:
    """Build the (uncompiled) model a :class:`ModelConfig` describes.

    Taught in chapter 6, section *The model* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    config : ModelConfig
        Modalities, fusion, shapes and sizes.

    Returns
    -------
    keras.Model
        Inputs: a dict with one entry per modality in ``config.modalities``
        (``"image"``, ``"text"``, ``"audio"``). Output: ``(batch, 1)``
        probability, layer ``"probability"``. Layers ``"modality_mask"``
        (:class:`ModalityMask`) and, for multimodal models, ``"fusion"``.

    Examples
    --------
    >>> cfg = ModelConfig(fusion="late", image_shape=(16, 16, 1), audio_shape=(8, 8, 1), text_len=6,
    ...                   vocab_size=20, embed_dim=4)
    >>> model = build_multimodal(cfg)
    >>> sorted(model.input.keys()) if isinstance(model.input, dict) else None
    ['audio', 'image', 'text']
    >>> model.name
    'late'
    """
    _check_config(config)
    inputs = _inputs(config)
    embeddings = [_BRANCHES[m](inputs[m], config) for m in config.modalities]
    output = _fusion_head(embeddings, config)
    return keras.Model(inputs, output, name=_model_name(config))


def build_head(config: ModelConfig) -> keras.Model:
    """The fusion and head of :func:`build_multimodal`, on precomputed branch embeddings.

    Same layers and layer names as in the full model from ``modality_mask``
    on, so :func:`assemble` can copy the trained head into it.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    config : ModelConfig
        The full model's configuration.

    Returns
    -------
    keras.Model
        Inputs: a dict ``{modality: (batch, embed_dim)}``; output ``(batch, 1)``
        probability.

    Examples
    --------
    >>> head = build_head(ModelConfig(fusion="gated", embed_dim=4))
    >>> x = {m: np.zeros((2, 4), "float32") for m in MODALITIES}
    >>> head.predict(x, verbose=0).shape
    (2, 1)
    """
    _check_config(config)
    inputs = {m: keras.Input((config.embed_dim,), name=m) for m in config.modalities}
    output = _fusion_head([inputs[m] for m in config.modalities], config)
    return keras.Model(inputs, output, name=_model_name(config) + "_head")


def _check_config(config: Any) -> None:
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}.")


def _model_name(config: ModelConfig) -> str:
    return config.name.replace("+", "_").replace(":", "_")


def _fusion_head(embeddings: list[Any], config: ModelConfig) -> Any:
    """Modality mask, fusion and classification head on the branch embeddings: the probability."""
    mask_layer = ModalityMask(rate=config.modality_dropout, modalities=config.modalities, seed=config.seed + 7,
                              name="modality_mask")
    embeddings, mask = mask_layer(embeddings)

    if len(config.modalities) > 1 and config.fusion == "late":
        logits = [layers.Dense(1, name=f"{m}_logit")(layers.Dropout(config.dropout, name=f"{m}_head_dropout")(e))
                  for m, e in zip(config.modalities, embeddings, strict=True)]
        return LateFusion(config.late_combination, name="probability")([logits, mask])
    if len(config.modalities) == 1:
        fused = embeddings[0]
    else:
        layer_class = {"concat": _fusion.ConcatFusion, "average": _fusion.AverageFusion,
                       "sum": _fusion.SumFusion, "gated": _fusion.GatedFusion}[config.fusion]
        projection = None if config.fusion == "concat" else config.fusion_dim
        # The mask goes in too, so that an absent modality is left out rather than zero-filled.
        fused = layer_class(projection_dim=projection, name="fusion")(embeddings, presence=mask)
    x = layers.Dropout(config.dropout, name="head_dropout")(fused)
    x = layers.Dense(config.embed_dim, activation="relu", name="head_dense")(x)
    # The logit is a layer of its own: Grad-CAM differentiates it, not the saturating probability.
    logit = layers.Dense(1, name="logit")(x)
    return layers.Activation("sigmoid", name="probability")(logit)


def forward(model: keras.Model, inputs: Any, batch_size: int = 256) -> np.ndarray:
    """The model's outputs on arrays, computed eagerly in batches (inference mode).

    ``model.predict`` compiles a TensorFlow graph for every new model and
    input shape; for the few hundred patients of a split, tracing that graph
    costs more than the computation, and every new model's ``predict`` traces
    the same Keras function again, so that after five of them TensorFlow warns
    "5 out of the last 5 calls ... triggered tf.function retracing". Calling
    the model directly does the same arithmetic (the same bits) without a graph.
    A model with named outputs (a dict) gives a dict of arrays.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``) (every prediction goes through it).

    Parameters
    ----------
    model : keras.Model
        Any Keras model.
    inputs : dict of arrays or array
        The model's inputs, first axis the patients.
    batch_size : int
        Patients per call.

    Returns
    -------
    ndarray
        The outputs of all patients, concatenated.

    Examples
    --------
    >>> model = build_multimodal(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=2))
    >>> forward(model, {"audio": np.zeros((3, 4, 4, 1), "float32")}).shape
    (3, 1)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    first = next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs
    n = len(first)
    if n == 0:
        raise ValueError("inputs hold no patients.")
    parts = []
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        batch = ({k: np.asarray(v)[rows] for k, v in inputs.items()} if isinstance(inputs, Mapping)
                 else np.asarray(inputs)[rows])
        out = model(batch, training=False)
        parts.append({k: np.asarray(v) for k, v in out.items()} if isinstance(out, Mapping) else np.asarray(out))
    if isinstance(parts[0], Mapping):  # a model with named outputs, e.g. one embedding per modality
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    return np.concatenate(parts, axis=0)


def embedding_model(model: keras.Model, modality: str) -> keras.Model:
    """The part of a trained model that maps one modality's input to its embedding ``(batch, embed_dim)``.

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``) (through :func:`medkit.train.embed`).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal` with a ``modality`` branch.
    modality : str
        ``"image"``, ``"text"`` or ``"audio"``.

    Returns
    -------
    keras.Model
        From the ``modality`` input to the ``<modality>_embedding`` layer.

    Examples
    --------
    >>> model = build_multimodal(ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1), embed_dim=3))
    >>> embedding_model(model, "audio").output.shape
    (None, 3)
    """
    try:
        layer = model.get_layer(f"{modality}_embedding")
        source = model.get_layer(modality)
    except ValueError as exc:
        raise ValueError(f"model {model.name!r} has no {modality} branch (modalities "
                         f"{model_modalities(model)}).") from exc
    return keras.Model(source.output, layer.output, name=f"{modality}_embedder")


def assemble(config: ModelConfig, branches: Mapping[str, keras.Model], head: keras.Model) -> keras.Model:
    """One model from raw inputs: the trained ``branches`` under the trained ``head`` (:func:`build_head`).

    The result predicts exactly what ``head`` predicts on the branches'
    embeddings (inference mode), and it is an ordinary model from
    :func:`build_multimodal`: :func:`predict_missing`, :func:`grad_cam` and
    saving work on it.

    Taught in chapter 6, section *What the image branch looks at: Grad-CAM*
    (``notebooks/06_multimodal_model.ipynb``), and chapter 7, section *The model to deploy*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    config : ModelConfig
        The full model's configuration.
    branches : mapping of str to keras.Model
        ``{"image": image_model, ...}``: trained unimodal models.
    head : keras.Model
        A trained :func:`build_head` of ``config``.

    Returns
    -------
    keras.Model
        From raw inputs to the probability, with the trained weights.

    Examples
    --------
    >>> cfg = ModelConfig(modalities=("image", "audio"), image_shape=(8, 8, 1), audio_shape=(4, 4, 1),
    ...                   embed_dim=4)
    >>> branches = {m: build_multimodal(cfg.replace(modalities=(m,))) for m in cfg.modalities}
    >>> full = assemble(cfg, branches, build_head(cfg))
    >>> sorted(full.input)
    ['audio', 'image']
    """
    model = build_multimodal(config)
    transfer_branch_weights(model, branches, freeze=False)
    head_layers = {layer.name: layer for layer in head.layers if layer.weights}
    for layer in model.layers:
        if layer.name in head_layers and not layer.name.endswith("_embedding"):
            layer.set_weights(head_layers[layer.name].get_weights())
    return model


def compile_model(model: keras.Model, config: ModelConfig) -> keras.Model:
    """Compile with Adam, binary cross-entropy and threshold-free metrics (AUROC, AUPRC).

    Threshold-dependent metrics (F1, sensitivity, specificity) are computed
    after training by :func:`medkit.train.evaluate`, at a threshold chosen on
    the validation split. (Keras's ``F1Score`` on one sigmoid column with the
    default ``threshold=None`` takes an argmax over a single column and calls
    every patient positive.)

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model : keras.Model
        An uncompiled model.
    config : ModelConfig
        Gives the learning rate.

    Returns
    -------
    keras.Model
        ``model``, compiled.

    Examples
    --------
    >>> config = ModelConfig(modalities=("audio",), audio_shape=(4, 4, 1))
    >>> model = compile_model(build_multimodal(config), config)
    >>> type(model.optimizer).__name__, round(float(model.optimizer.learning_rate), 6)
    ('Adam', 0.002)
    """
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auroc"), keras.metrics.AUC(curve="PR", name="auprc")],
    )
    return model


def transfer_branch_weights(target: keras.Model, sources: Mapping[str, keras.Model], freeze: bool = True
                            ) -> list[str]:
    """Copy each modality's branch weights from a trained model into ``target``; optionally freeze them.

    Two-stage training, as in HAIM: train each branch alone first (the
    unimodal baselines), then train only the fusion and the head on top of
    the frozen branches. Trained jointly from scratch, the modality that
    learns fastest (here the note) dominates and early stopping ends training
    before the slower branches have learnt anything ("modality competition").

    Layers are matched by name (``image_conv1``, ``text_transformer``, ...),
    so source and target must come from configs with the same branch
    settings. Call before :func:`compile_model` (freezing takes effect at compile).

    Taught in chapter 6, section *Training in two stages, on several seeds*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    target : keras.Model
        A multimodal model from :func:`build_multimodal`.
    sources : mapping of str to keras.Model
        ``{"image": image_model, ...}``: where each branch's weights come from.
    freeze : bool
        Make the copied layers non-trainable.

    Returns
    -------
    list of str
        Names of the layers whose weights were copied.

    Examples
    --------
    >>> cfg = ModelConfig(image_shape=(8, 8, 1), audio_shape=(4, 4, 1), text_len=4, vocab_size=10, embed_dim=4)
    >>> uni = build_multimodal(cfg.replace(modalities=("audio",)))
    >>> fused = build_multimodal(cfg)
    >>> transfer_branch_weights(fused, {"audio": uni})[:2]
    ['audio_conv1', 'audio_conv2']
    >>> fused.get_layer("audio_conv1").trainable
    False
    """
    names = model_modalities(target)
    copied = []
    for modality, source in sources.items():
        if modality not in names:
            raise ValueError(f"sources has {modality!r}, but model {target.name!r} has modalities {names}.")
        source_layers = {layer.name: layer for layer in source.layers}
        branch = [layer for layer in target.layers if layer.name.startswith(modality + "_") and layer.weights
                  and not layer.name.endswith(("_logit", "_head_dropout"))]
        if not any(layer.name in source_layers for layer in branch):
            raise ValueError(f"model {source.name!r} has no {modality} branch layers to copy.")
        for layer in branch:
            if layer.name not in source_layers:
                continue
            try:
                layer.set_weights(source_layers[layer.name].get_weights())
            except ValueError as exc:
                raise ValueError(f"layer {layer.name!r}: the source's weights do not fit ({exc}); build both "
                                 "models from configs with the same branch settings.") from exc
            if freeze:
                layer.trainable = False
            copied.append(layer.name)
    return copied


# ---------------------------------------------------------------- missing modalities


def model_modalities(model: keras.Model) -> list[str]:
    """The modalities a model built by :func:`build_multimodal` takes, in branch order.

    Taught in chapter 7, section *A trap: Keras's default export keeps the augmentation on*
    (``notebooks/07_deployment.ipynb``).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal` or :func:`build_head`.

    Returns
    -------
    list of str
        The names of the model's inputs, in branch order.

    Examples
    --------
    >>> cfg = ModelConfig(modalities=("audio", "image"), image_shape=(8, 8, 1), audio_shape=(4, 4, 1))
    >>> model_modalities(build_multimodal(cfg))
    ['image', 'audio']
    """
    try:
        layer = model.get_layer("modality_mask")
    except ValueError as exc:
        raise ValueError(f"model {model.name!r} has no 'modality_mask' layer: build it with build_multimodal.") from exc
    return list(layer.modalities)


@contextlib.contextmanager
def modality_mask(model: keras.Model, missing: Sequence[str]) -> Iterator[keras.Model]:
    """Context manager: inside it, ``model`` treats the modalities in ``missing`` as absent.

    Taught in chapter 6, section *Which modality carries the prediction?*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal`.
    missing : sequence of str
        Modalities to treat as absent (not all of them).

    Returns
    -------
    context manager
        Yields ``model``; on exit its ``present`` weights are restored.

    Examples
    --------
    >>> cfg = ModelConfig(modalities=("image", "audio"), image_shape=(8, 8, 1), audio_shape=(4, 4, 1), embed_dim=4)
    >>> model = build_multimodal(cfg)
    >>> with modality_mask(model, ["image"]):
    ...     np.asarray(model.get_layer("modality_mask").present).tolist()
    [0.0, 1.0]
    >>> np.asarray(model.get_layer("modality_mask").present).tolist()
    [1.0, 1.0]
    """
    if isinstance(missing, str):
        missing = (missing,)
    names = model_modalities(model)
    unknown = [m for m in missing if m not in names]
    if unknown:
        raise ValueError(f"missing={list(missing)}: model {model.name!r} has modalities {names}, not {unknown}.")
    if set(missing) >= set(names):
        raise ValueError(f"missing={list(missing)} removes every modality of model {model.name!r} ({names}).")
    layer = model.get_layer("modality_mask")
    before = np.asarray(layer.present.numpy() if hasattr(layer.present, "numpy") else layer.present)
    layer.present.assign(np.array([0.0 if m in missing else 1.0 for m in names], dtype="float32"))
    try:
        yield model
    finally:
        layer.present.assign(before)


def predict_missing(model: keras.Model, inputs: Any, missing: Sequence[str] = (), batch_size: int = 256
                    ) -> np.ndarray:
    """Predicted probabilities ``(N,)`` with the modalities in ``missing`` treated as absent.

    Taught in chapter 6, sections *Which modality carries the prediction?* and *Missing modalities
    and modality dropout* (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal`.
    inputs : dict of arrays or tf.data.Dataset
        The usual inputs (all of the model's modalities, also the missing ones:
        their values are ignored).
    missing : sequence of str
        Modalities to drop, e.g. ``("audio",)``; ``()`` is a normal prediction.
    batch_size : int
        Batch size when ``inputs`` are arrays.

    Returns
    -------
    ndarray, shape (N,)
        The model's output dtype (float32); :func:`medkit.train.predict` gives float64.

    Examples
    --------
    >>> cfg = ModelConfig(modalities=("image", "audio"), image_shape=(8, 8, 1), audio_shape=(4, 4, 1), embed_dim=4)
    >>> model = build_multimodal(cfg)
    >>> x = {"image": np.ones((3, 8, 8, 1), "float32"), "audio": np.ones((3, 4, 4, 1), "float32")}
    >>> predict_missing(model, x, missing=["image"]).shape
    (3,)
    """
    names = model_modalities(model)
    if isinstance(inputs, Mapping):
        check_keys(inputs, names, "inputs", needed_by=f"model {model.name!r}",
                   hint="pass every modality the model takes, even a missing one (e.g. zeros): its values "
                        "are ignored")
        inputs = {m: np.asarray(inputs[m]) for m in names}
    with contextlib.nullcontext() if not missing else modality_mask(model, missing):
        if isinstance(inputs, Mapping):
            return forward(model, inputs, batch_size).reshape(-1)
        return np.asarray(model.predict(inputs, verbose=0)).reshape(-1)


# ---------------------------------------------------------------- explanations


def grad_cam(model: keras.Model, inputs: Mapping[str, np.ndarray], layer_name: str = LAST_IMAGE_CONV) -> np.ndarray:
    """Grad-CAM heatmaps ``(N, S, S)`` in [0, 1] for the image branch of a (multimodal) model.

    The gradient of the predicted logit (the class score before the sigmoid,
    as in Selvaraju et al.; for late fusion the image's own logit, the only
    term the image changes) with respect to the feature maps of ``layer_name``
    is averaged over space to weight each channel; the ReLU of the weighted sum
    of maps, upsampled to the image size and scaled to [0, 1] per image, shows
    where the image pushed the prediction up. The other modalities are fed as
    given, so the map explains the image's part of *this* multimodal prediction.

    Taught in chapter 6, section *What the image branch looks at: Grad-CAM*
    (``notebooks/06_multimodal_model.ipynb``).

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_multimodal` with an image branch.
    inputs : mapping of str to ndarray
        All of the model's inputs for ``N`` patients.
    layer_name : str
        The convolution whose feature maps are weighted.

    Returns
    -------
    ndarray of float32, shape (N, S, S)
        One heatmap per patient, in [0, 1].

    Examples
    --------
    >>> cfg = ModelConfig(modalities=("image",), image_shape=(16, 16, 1), embed_dim=4)
    >>> model = build_multimodal(cfg)
    >>> grad_cam(model, {"image": np.random.default_rng(0).random((2, 16, 16, 1), dtype="float32")}).shape
    (2, 16, 16)
    """
    import tensorflow as tf

    names = model_modalities(model)
    if "image" not in names:
        raise ValueError(f"model {model.name!r} has no image branch (modalities {names}).")
    try:
        target = model.get_layer(layer_name)
    except ValueError as exc:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}.") from exc
    # The logit, not the probability: the sigmoid saturates (p = 1 in float32) for the most confident
    # patients, whose gradient, and so whose map, would be blank (Selvaraju et al. use the class score).
    logit_layer = "image_logit" if _has_layer(model, "image_logit") else "logit"
    explainer = keras.Model(model.inputs, [target.output, model.get_layer(logit_layer).output])
    x = {m: tf.convert_to_tensor(np.asarray(inputs[m])) for m in names}
    with tf.GradientTape() as tape:
        maps, logit = explainer(x, training=False)
        score = tf.reduce_sum(logit)
    grads = tape.gradient(score, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[..., None]
    size = np.asarray(inputs["image"]).shape[1:3]
    cam = tf.image.resize(cam, size).numpy()[..., 0]
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0).astype("float32")


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)
