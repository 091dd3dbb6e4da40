"""medkit.models: shapes of every fusion, modality masking, missing modalities, saving, Grad-CAM.

Tiny shapes throughout (16x16 images, 8-token notes, 6x8 MFCCs) so the file runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest

import keras

from medkit.models import (
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


def _dense(layer, v: np.ndarray) -> np.ndarray:
    kernel, bias = layer.get_weights()
    return v @ kernel.astype(np.float64) + bias


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_outputs_the_probability_a_numpy_forward_pass_gives(fusion):
    """Oracle: the fusion and head recomputed in numpy from the branch embeddings (inference: no dropout)."""
    from scipy.special import expit, softmax

    from medkit import fusion as fusion_layers

    model = build_multimodal(ModelConfig(fusion=fusion, **SHAPES))
    x = batch()
    p = model.predict(x, verbose=0)
    assert p.shape == (5, 1)
    assert model_modalities(model) == list(MODALITIES)
    if fusion == "gated":  # gates other than the zero initialisation's uniform ones (which make gated = average)
        gate = model.get_layer("fusion").gate
        gate.kernel.assign(np.random.default_rng(0).normal(size=gate.kernel.shape).astype("float32"))
        p = model.predict(x, verbose=0)
    embeddings = keras.Model(model.inputs, [model.get_layer(f"{m}_embedding").output for m in MODALITIES])
    emb = [np.asarray(e, np.float64) for e in embeddings.predict(x, verbose=0)]
    if fusion == "late":
        assert isinstance(model.get_layer("probability"), LateFusion)
        logits = np.concatenate([_dense(model.get_layer(f"{m}_logit"), e)
                                 for m, e in zip(MODALITIES, emb, strict=True)], axis=1)
        want = expit(logits).mean(axis=1, keepdims=True)
    else:
        layer = model.get_layer("fusion")
        assert type(layer) is {"concat": fusion_layers.ConcatFusion, "average": fusion_layers.AverageFusion,
                               "sum": fusion_layers.SumFusion, "gated": fusion_layers.GatedFusion}[fusion]
        if fusion == "concat":
            fused = np.concatenate(emb, axis=1)
        else:
            projected = [_dense(proj, e) for proj, e in zip(layer.projections, emb, strict=True)]
            if fusion == "average":
                fused = np.mean(projected, axis=0)
            elif fusion == "sum":
                fused = np.sum(projected, axis=0)
            else:
                g = softmax(_dense(layer.gate, np.concatenate(emb, axis=1)), axis=1)
                fused = sum(g[:, [m]] * projected[m] for m in range(len(MODALITIES)))
        hidden = np.maximum(_dense(model.get_layer("head_dense"), fused), 0.0)
        want = expit(_dense(model.get_layer("logit"), hidden))
    np.testing.assert_allclose(p, want, rtol=1e-4, atol=1e-5)


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


def _cam_model():
    """A tiny two-modality model whose Grad-CAM is known in closed form: conv maps A_k, global average
    pooling, a linear logit. d logit / d A_k(i, j) = w_k / (H W), so the map is relu(sum_k w_k A_k), scaled."""
    from medkit.models import ModalityMask

    image, audio = keras.Input((16, 16, 1), name="image"), keras.Input((4,), name="audio")
    maps = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="image_conv3")(image)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    (pooled, audio_x), _ = ModalityMask(rate=0.0, modalities=["image", "audio"], name="modality_mask")(
        [pooled, audio])
    logit = keras.layers.Dense(1, name="logit")(keras.layers.Concatenate()([pooled, audio_x]))
    model = keras.Model([image, audio], keras.layers.Activation("sigmoid", name="probability")(logit))
    rng = np.random.default_rng(0)
    conv = model.get_layer("image_conv3")
    conv.set_weights([rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()])
    model.get_layer("logit").set_weights([np.array([[1.5], [-2.0], [0.7], [0.3], [0.3], [0.3], [0.3]], "float32"),
                                          np.zeros(1, "float32")])
    return model


def test_grad_cam_equals_the_closed_form_map_of_a_pooled_linear_head():
    model = _cam_model()
    rng = np.random.default_rng(1)
    x = {"image": rng.random((3, 16, 16, 1), dtype=np.float32), "audio": rng.normal(size=(3, 4)).astype("float32")}
    cam = grad_cam(model, x)
    assert cam.shape == (3, 16, 16)
    maps = keras.Model(model.inputs, model.get_layer("image_conv3").output).predict(x, verbose=0).astype(np.float64)
    w = model.get_layer("logit").get_weights()[0][:3, 0]
    raw = np.maximum(maps @ w, 0.0)  # same size as the image: the resize is the identity
    want = raw / raw.reshape(3, -1).max(axis=1)[:, None, None]
    assert 0.05 < (want == 0).mean() < 0.95  # the ReLU cuts part of each map: signs matter here
    np.testing.assert_allclose(cam, want, atol=1e-5)
    # the image's own gradient: other patients in the batch and the other modality do not change a map
    single = grad_cam(model, {"image": x["image"][1:2], "audio": -x["audio"][1:2]})
    np.testing.assert_allclose(single[0], cam[1], atol=1e-5)
    with pytest.raises(ValueError, match="no image branch"):
        grad_cam(build_multimodal(ModelConfig(modalities=("audio",), **SHAPES)), batch(3))


def test_grad_cam_of_a_multimodal_model_is_image_sized_and_scaled_per_image():
    model = build_multimodal(ModelConfig(fusion="concat", **SHAPES))
    cam = grad_cam(model, batch(3))
    assert cam.shape == (3, 16, 16) and cam.min() >= 0
    peaks = cam.reshape(3, -1).max(axis=1)
    assert np.all((peaks == 0) | np.isclose(peaks, 1.0))  # each map scaled to its own maximum (or blank)


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
    # build_multimodal draws its initial weights from Keras's global generator: seed it, so the weights
    # do not depend on which tests ran before in this worker (one order gave an all-negative map)
    keras.utils.set_random_seed(0)
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
    projected = [np.asarray(p(xi)) for p, xi in zip(layer.projections, x, strict=True)]
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
        source_weights = sources[modality].get_layer(name).get_weights()
        for a, b in zip(fused.get_layer(name).get_weights(), source_weights, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not fused.get_layer(name).trainable
    assert fused.get_layer("image_logit").trainable
    with pytest.raises(ValueError, match="modalities"):
        transfer_branch_weights(build_multimodal(cfg.replace(modalities=("image",))), {"audio": sources["audio"]})
