"""medkit.models: shapes of every fusion, modality masking, missing modalities, saving, Grad-CAM.

Tiny shapes throughout (16x16 images, 8-token notes, 6x8 MFCCs) so the file runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from medkit.models import (  # noqa: E402
    FUSIONS, MODALITIES, LateFusion, ModalityMask, ModelConfig, build_multimodal, config_from_arrays, grad_cam,
    modality_mask, model_modalities, predict_missing,
)

SHAPES = dict(image_shape=(16, 16, 1), audio_shape=(6, 8, 1), text_len=8, vocab_size=30, embed_dim=8,
              fusion_dim=8, ff_dim=16)


def batch(n: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    text = rng.integers(2, 30, size=(n, 8)).astype("int32")
    text[:, 6:] = 0  # padding at the end, as the tokenizer writes it
    return {"image": rng.random((n, 16, 16, 1), dtype=np.float32),
            "text": text,
            "audio": rng.normal(size=(n, 6, 8, 1)).astype("float32")}


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_builds_and_outputs_one_probability_per_patient(fusion):
    model = build_multimodal(ModelConfig(fusion=fusion, **SHAPES))
    p = model.predict(batch(), verbose=0)
    assert p.shape == (5, 1)
    assert np.all((p >= 0) & (p <= 1))
    assert model_modalities(model) == list(MODALITIES)
    if fusion == "late":
        assert isinstance(model.get_layer("probability"), LateFusion)
    else:
        assert model.get_layer("fusion") is not None


@pytest.mark.parametrize("fusion, width", [("concat", 3 * 8), ("average", 8), ("sum", 8), ("gated", 8)])
def test_fused_representation_width(fusion, width):
    model = build_multimodal(ModelConfig(fusion=fusion, **SHAPES))
    assert tuple(model.get_layer("fusion").output.shape) == (None, width)


@pytest.mark.parametrize("modality", MODALITIES)
def test_unimodal_models_take_only_their_input(modality):
    model = build_multimodal(ModelConfig(modalities=(modality,), **SHAPES))
    assert model_modalities(model) == [modality]
    assert [t.name for t in model.inputs] == [modality]
    assert model.predict({modality: batch()[modality]}, verbose=0).shape == (5, 1)


def test_rnn_text_encoder_and_empty_notes_stay_finite():
    for encoder in ("transformer", "rnn"):
        model = build_multimodal(ModelConfig(modalities=("text",), text_encoder=encoder, **SHAPES))
        text = batch()["text"]
        text[0] = 0  # an empty note: all padding
        p = model.predict({"text": text}, verbose=0)
        assert np.all(np.isfinite(p)), encoder


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="fusion"):
        ModelConfig(fusion="film")
    with pytest.raises(ValueError, match="modalities"):
        ModelConfig(modalities=("image", "ecg"))
    with pytest.raises(ValueError, match="modality_dropout"):
        ModelConfig(modality_dropout=1.0)
    assert ModelConfig(modalities=("audio", "image")).modalities == ("image", "audio")
    assert ModelConfig(modalities=("image",), fusion="gated").name == "image"
    assert ModelConfig(fusion="gated", modality_dropout=0.3).name == "gated+md"


def test_config_from_arrays_reads_shapes_and_standardisation():
    b = batch(20)
    cfg = config_from_arrays(b, fusion="sum")
    assert cfg.image_shape == (16, 16, 1) and cfg.audio_shape == (6, 8, 1) and cfg.text_len == 8
    assert cfg.vocab_size == int(b["text"].max()) + 1
    assert np.allclose(cfg.audio_mean, b["audio"].mean(axis=(0, 2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="image"):
        config_from_arrays({"image": np.zeros((3, 4, 4))})


def test_modality_dropout_only_in_training_and_never_drops_everything():
    layer = ModalityMask(rate=0.6, modalities=["image", "text", "audio"], seed=1)
    xs = [np.ones((400, 4), "float32") for _ in range(3)]
    _, mask_inference = layer(xs, training=False)
    assert np.all(np.asarray(mask_inference) == 1.0)
    masked, mask = layer(xs, training=True)
    mask = np.asarray(mask)
    assert mask.min(axis=1).min() == 0.0  # something was dropped
    assert np.all(mask.sum(axis=1) >= 1)  # ... but never all modalities of a patient
    assert 0.3 < 1 - mask.mean() < 0.6  # about `rate`, less the rows that were restored
    # dropped modalities are exactly zero and kept ones untouched (no inverted-dropout rescaling)
    for i, x in enumerate(masked):
        assert np.array_equal(np.asarray(x), np.repeat(mask[:, i:i + 1], 4, axis=1))


@pytest.mark.parametrize("fusion", ["concat", "gated", "late"])
def test_predict_missing_ignores_the_missing_modality(fusion):
    model = build_multimodal(ModelConfig(fusion=fusion, **SHAPES))
    a, b = batch(seed=0), batch(seed=1)
    b_mixed = dict(a, audio=b["audio"])  # same patients, different recordings
    full_a = predict_missing(model, a)
    full_mixed = predict_missing(model, b_mixed)
    assert not np.allclose(full_a, full_mixed)  # with audio present, the audio matters
    np.testing.assert_array_equal(predict_missing(model, a, ["audio"]), predict_missing(model, b_mixed, ["audio"]))
    # the mask is restored afterwards
    np.testing.assert_allclose(predict_missing(model, a), full_a, rtol=1e-6)
    assert np.asarray(model.get_layer("modality_mask").present).tolist() == [1.0, 1.0, 1.0]


def test_late_average_is_the_mean_of_the_present_unimodal_probabilities():
    model = build_multimodal(ModelConfig(fusion="late", **SHAPES))
    x = batch()
    logits = keras.Model(model.inputs, [model.get_layer(f"{m}_logit").output for m in MODALITIES]).predict(x, verbose=0)
    probs = 1 / (1 + np.exp(-np.concatenate(logits, axis=1)))
    np.testing.assert_allclose(predict_missing(model, x), probs.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(predict_missing(model, x, ["text"]), probs[:, [0, 2]].mean(axis=1), rtol=1e-5)


def test_predict_missing_rejects_bad_requests():
    model = build_multimodal(ModelConfig(modalities=("image", "audio"), **SHAPES))
    x = batch()
    with pytest.raises(ValueError, match="text"):
        predict_missing(model, x, ["text"])
    with pytest.raises(ValueError, match="every modality"):
        predict_missing(model, x, ["image", "audio"])
    with pytest.raises(ValueError, match="lack"):
        predict_missing(model, {"image": x["image"]}, ["audio"])
    with pytest.raises(ValueError):
        with modality_mask(model, ["audio"]):
            raise ValueError("boom")
    assert np.asarray(model.get_layer("modality_mask").present).tolist() == [1.0, 1.0]


def test_augmentation_is_active_in_training_only():
    model = build_multimodal(ModelConfig(modalities=("image",), augment=True, **SHAPES))
    x = {"image": batch(8)["image"]}
    p1, p2 = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(np.asarray(p1), np.asarray(p2))
    assert not np.allclose(np.asarray(model(x, training=True)), np.asarray(p1))


@pytest.mark.parametrize("fusion", ["gated", "late"])
def test_models_save_and_load(tmp_path, fusion):
    cfg = ModelConfig(fusion=fusion, late_combination="learned", modality_dropout=0.2, **SHAPES)
    model = build_multimodal(cfg)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = batch()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(predict_missing(loaded, x, ["image"]), predict_missing(model, x, ["image"]), rtol=1e-5)


def test_grad_cam_heatmaps_are_image_sized_and_scaled():
    model = build_multimodal(ModelConfig(fusion="concat", **SHAPES))
    cam = grad_cam(model, batch(3))
    assert cam.shape == (3, 16, 16)
    assert cam.min() >= 0 and cam.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="no image branch"):
        grad_cam(build_multimodal(ModelConfig(modalities=("audio",), **SHAPES)), batch(3))


def _grad_cam_by_finite_differences(model, image, layer="image_conv3", eps=1e-3):
    """Grad-CAM from a central-difference gradient of the logit (an oracle independent of GradientTape)."""
    import tensorflow as tf

    conv = model.get_layer(layer)
    maps = keras.Model(model.inputs, conv.output)({"image": image}, training=False).numpy()[0]
    after = keras.Model(conv.output, model.get_layer("logit").output)
    steps = np.eye(maps.size, dtype=np.float32).reshape(-1, *maps.shape) * eps  # one entry moved per row
    up = after(maps[None] + steps, training=False).numpy().astype(np.float64)
    down = after(maps[None] - steps, training=False).numpy().astype(np.float64)
    grads = ((up - down) / (2 * eps)).reshape(maps.shape)
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum((maps * weights).sum(axis=-1), 0)[None, ..., None].astype("float32")
    cam = tf.image.resize(cam, image.shape[1:3]).numpy()[0, ..., 0]
    return cam / cam.max()


def test_grad_cam_matches_a_finite_difference_gradient_of_the_logit():
    keras.utils.set_random_seed(1)
    model = build_multimodal(ModelConfig(modalities=("image",), augment=False, **SHAPES))
    image = batch(1, seed=3)["image"]
    cam = grad_cam(model, {"image": image})[0]
    oracle = _grad_cam_by_finite_differences(model, image)
    assert cam.max() == pytest.approx(1.0)  # a real map, not a blank one
    np.testing.assert_allclose(cam, oracle, atol=2e-3)


def test_grad_cam_is_not_blank_when_the_probability_saturates():
    model = build_multimodal(ModelConfig(modalities=("image",), augment=False, **SHAPES))
    kernel, bias = model.get_layer("logit").get_weights()
    model.get_layer("logit").set_weights([kernel, bias + 100.0])  # p = 1.0 exactly in float32
    x = {"image": batch(2)["image"]}
    assert np.all(model.predict(x, verbose=0) == 1.0)
    cam = grad_cam(model, x)
    assert np.all(cam.reshape(2, -1).max(axis=1) == pytest.approx(1.0))


@pytest.mark.parametrize("fusion", ["average", "sum", "gated"])
def test_a_missing_modality_is_left_out_not_zero_filled(fusion):
    """The fused vector without a modality equals the fusion of the others (oracle: the fusion layer alone)."""
    from medkit import fusion as fusion_layers

    layer_class = {"average": fusion_layers.AverageFusion, "sum": fusion_layers.SumFusion,
                   "gated": fusion_layers.GatedFusion}[fusion]
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 5)).astype("float32") for _ in range(3)]
    layer = layer_class(projection_dim=3, return_gates=True) if fusion == "gated" else layer_class(projection_dim=3)
    out = layer(x, presence=np.array([[1, 0, 1]] * 4, "float32"))
    fused = np.asarray(out[0] if fusion == "gated" else out)
    projected = [np.asarray(p(xi)) for p, xi in zip(layer.projections, x)]
    if fusion == "average":
        expected = (projected[0] + projected[2]) / 2
    elif fusion == "sum":
        expected = projected[0] + projected[2]
    else:
        gates = np.asarray(out[1])
        np.testing.assert_allclose(gates[:, 1], 0.0, atol=1e-7)
        np.testing.assert_allclose(gates.sum(axis=1), 1.0, rtol=1e-6)
        logits = np.asarray(layer.gate(np.concatenate(x, axis=-1)))[:, [0, 2]]
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        expected = w[:, :1] * projected[0] + w[:, 1:] * projected[2]
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_assemble_predicts_what_the_head_predicts_on_the_embeddings(fusion):
    from medkit.models import assemble, build_head, embedding_model

    cfg = ModelConfig(fusion=fusion, augment=False, **SHAPES)
    branches = {m: build_multimodal(cfg.replace(modalities=(m,), seed=i)) for i, m in enumerate(MODALITIES)}
    head = build_head(cfg.replace(seed=7))
    x = batch(6)
    emb = {m: np.asarray(embedding_model(branches[m], m)(x[m], training=False)) for m in MODALITIES}
    full = assemble(cfg, branches, head)
    np.testing.assert_allclose(full.predict(x, verbose=0), head.predict(emb, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_missing(full, x, ["text"]), predict_missing(head, emb, ["text"]),
                               rtol=1e-5, atol=1e-6)


def test_no_horizontal_flip_among_the_image_augmentations():
    model = build_multimodal(ModelConfig(modalities=("image",), **SHAPES))
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "RandomFlip" not in kinds and "RandomRotation" in kinds


def test_transfer_branch_weights_copies_and_freezes_the_branches():
    from medkit.models import transfer_branch_weights

    cfg = ModelConfig(**SHAPES)
    sources = {m: build_multimodal(cfg.replace(modalities=(m,), seed=3)) for m in MODALITIES}
    fused = build_multimodal(cfg.replace(fusion="late"))
    copied = transfer_branch_weights(fused, sources)
    assert {"image_conv3", "text_transformer", "audio_conv2", "image_embedding"} <= set(copied)
    assert not any(name.endswith("_logit") for name in copied)  # the late-fusion heads stay fresh
    for name in copied:
        modality = name.split("_")[0]
        for a, b in zip(fused.get_layer(name).get_weights(), sources[modality].get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
        assert not fused.get_layer(name).trainable
    assert fused.get_layer("image_logit").trainable
    with pytest.raises(ValueError, match="modalities"):
        transfer_branch_weights(build_multimodal(cfg.replace(modalities=("image",))), {"audio": sources["audio"]})
