"""medkit.train: pipelines, class weights, thresholds, a tiny run that learns, determinism, MirroredStrategy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402

from medkit.models import ModelConfig  # noqa: E402
from medkit.train import (  # noqa: E402
    METRIC_NAMES, choose_threshold, class_weights, evaluate, evaluate_probabilities, fit, make_tf_dataset, predict,
)

TINY = dict(image_shape=(12, 12, 1), audio_shape=(4, 6, 1), text_len=6, vocab_size=20, embed_dim=8,
            fusion_dim=8, ff_dim=16)


def easy_split(n: int, seed: int) -> dict[str, np.ndarray]:
    """An easy synthetic set: every modality carries the label plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    image = rng.normal(size=(n, 12, 12, 1)).astype("float32")
    image[:, 3:9, 3:9, 0] += 1.5 * y[:, None, None]  # a bright "opacity" for positives
    text = rng.integers(2, 10, size=(n, 6)).astype("int32")
    text[:, 0] = np.where(y == 1, 15, 16)  # a finding token
    audio = (rng.normal(size=(n, 4, 6, 1)) + 1.0 * y[:, None, None, None]).astype("float32")
    return {"image": image, "text": text, "audio": audio, "label": y}


def test_class_weights_balance_the_loss():
    w = class_weights([0] * 30 + [1] * 10)
    assert w[1] / w[0] == pytest.approx(3.0)
    assert 30 * w[0] == pytest.approx(10 * w[1])
    with pytest.raises(ValueError, match="both classes"):
        class_weights([0, 0, 0])


def test_dataset_batches_only_the_requested_modalities_and_shuffles_reproducibly():
    data = easy_split(10, 0)
    ds = make_tf_dataset(data, ["audio"], batch_size=4, shuffle=True, seed=3)
    xs, ys = zip(*[(x, y) for x, y in ds])
    assert list(xs[0]) == ["audio"] and [len(y) for y in ys] == [4, 4, 2]
    order1 = np.concatenate([y.numpy() for _, y in make_tf_dataset(data, ["audio"], 4, shuffle=True, seed=3)])
    order2 = np.concatenate([y.numpy() for _, y in make_tf_dataset(data, ["audio"], 4, shuffle=True, seed=3)])
    np.testing.assert_array_equal(order1, order2)
    with pytest.raises(ValueError, match="lacks"):
        make_tf_dataset(data, ["ecg"])


def test_threshold_is_youden_on_the_given_split():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.5, 0.7, 0.9])
    t = choose_threshold(y, p)
    j = [((p >= c) & (y == 1)).sum() / 3 - ((p >= c) & (y == 0)).sum() / 3 for c in p]
    assert t in p and ((p >= t) & (y == 1)).sum() / 3 - ((p >= t) & (y == 0)).sum() / 3 == pytest.approx(max(j))


def test_evaluate_probabilities_matches_sklearn_and_orders_the_ci():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    p = np.clip(0.3 * y + rng.random(80) * 0.7, 0, 1)
    table = evaluate_probabilities(y, p, threshold=0.5, n_boot=100, seed=0)
    assert list(table.index) == list(METRIC_NAMES)
    assert table.loc["auroc", "estimate"] == pytest.approx(roc_auc_score(y, p))
    assert table.loc["brier", "estimate"] == pytest.approx(brier_score_loss(y, p))
    assert (table["ci_low"] <= table["estimate"] + 1e-12).all() and (table["estimate"] <= table["ci_high"] + 1e-12).all()
    # the F1 pitfall: one sigmoid column is not "everyone positive" here
    assert table.loc["specificity", "estimate"] > 0


@pytest.mark.slow
def test_a_tiny_fused_model_learns_and_evaluates_with_a_validation_threshold(capsys):
    train, val = easy_split(96, 0), easy_split(48, 1)
    result = fit(ModelConfig(fusion="concat", augment=False, **TINY), train, val, epochs=8, batch_size=16,
                 seed=0, patience=8, verbose=1)
    assert "val AUROC" in capsys.readouterr().out  # one short line per model, no Keras progress bar
    assert result.history["loss"][-1] < result.history["loss"][0]
    p_val = predict(result.model, val)
    assert roc_auc_score(val["label"], p_val) > 0.8
    table = evaluate(result.model, val, val_data=val, n_boot=50)
    assert table.attrs["threshold"] == pytest.approx(choose_threshold(val["label"], p_val))
    assert "validation" in table.attrs["threshold_rule"]
    missing = evaluate(result.model, val, threshold=0.5, n_boot=20, missing=("image",))
    assert 0 <= missing.loc["auroc", "estimate"] <= 1
    with pytest.raises(ValueError, match="exactly one"):
        evaluate(result.model, val, n_boot=10)
    assert result.samples_per_s > 0 and 1 <= result.best_epoch <= 8


@pytest.mark.slow
def test_two_identical_trainings_give_identical_weights():
    train, val = easy_split(48, 0), easy_split(24, 1)
    cfg = ModelConfig(fusion="gated", modality_dropout=0.3, **TINY)  # augmentation and dropout randomness included
    a = fit(cfg, train, val, epochs=2, batch_size=16, seed=5, verbose=0)
    b = fit(cfg, train, val, epochs=2, batch_size=16, seed=5, verbose=0)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.history == b.history


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    # Two logical CPU devices: must happen before TensorFlow initialises its devices.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests_dir!r})
    from test_train import TINY, easy_split
    from medkit.models import ModelConfig
    from medkit.train import fit, predict
    from sklearn.metrics import roc_auc_score
    train, val = easy_split(64, 0), easy_split(32, 1)
    # No augmentation or dropout: their random draws differ per replica, the rest is the same arithmetic.
    cfg = ModelConfig(modalities=("image", "audio"), fusion="concat", augment=False, dropout=0.0, **TINY)
    out = {{}}
    for strategy in ("default", "mirrored"):
        r = fit(cfg, train, val, epochs=3, batch_size=16, seed=0, patience=3, strategy=strategy, verbose=0)
        p = predict(r.model, val)
        out[strategy] = dict(auroc=float(roc_auc_score(val["label"], p)), p=p.tolist(),
                             loss=r.history["loss"], replicas=int(r.model.distribute_strategy.num_replicas_in_sync))
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT.format(tests_dir=os.path.dirname(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # Same global batch, gradients summed over replicas: the same training up to float summation order.
    np.testing.assert_allclose(out["mirrored"]["loss"], out["default"]["loss"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out["mirrored"]["p"], out["default"]["p"], atol=1e-3)
    assert abs(out["mirrored"]["auroc"] - out["default"]["auroc"]) <= 0.01


@pytest.mark.slow
def test_two_stage_training_keeps_the_frozen_branches():
    train, val = easy_split(48, 0), easy_split(24, 1)
    cfg = ModelConfig(augment=False, **TINY)
    audio = fit(cfg.replace(modalities=("audio",)), train, val, epochs=1, batch_size=16, verbose=0)
    before = audio.model.get_layer("audio_conv1").get_weights()
    fused = fit(cfg.replace(fusion="gated"), train, val, epochs=2, batch_size=16, verbose=0,
                init_from={"audio": audio.model})
    for a, b in zip(fused.model.get_layer("audio_conv1").get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert fused.model.get_layer("image_conv1").trainable  # branches without a source still train


def test_a_pooled_model_trains_exactly_like_a_new_one():
    """ModelPool only saves tracing: seed 1 after seed 0 on a reused model equals seed 1 on a new model."""
    from medkit.train import ModelPool

    cfg = ModelConfig(modalities=("audio", "text"), fusion="gated", **TINY)
    train, val = easy_split(48, 0), easy_split(24, 1)
    pool = ModelPool()
    fit(cfg, train, val, epochs=2, batch_size=16, seed=0, pool=pool, verbose=0)
    reused = fit(cfg, train, val, epochs=2, batch_size=16, seed=1, pool=pool, verbose=0)
    fresh = fit(cfg, train, val, epochs=2, batch_size=16, seed=1, verbose=0)
    assert len(pool) == 1
    assert reused.history == fresh.history
    for a, b in zip(reused.model.get_weights(), fresh.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_head_only_training_and_restored_models():
    from medkit.models import assemble
    from medkit.train import embed

    cfg = ModelConfig(fusion="average", **TINY)
    train, val = easy_split(48, 0), easy_split(24, 1)
    branches = {m: fit(cfg.replace(modalities=(m,)), train, val, epochs=1, batch_size=16, seed=0, verbose=0)
                for m in ("image", "text", "audio")}
    emb = {k: embed({m: r.model for m, r in branches.items()}, d) for k, d in (("train", train), ("val", val))}
    assert emb["train"]["image"].shape == (48, 8)
    head = fit(cfg, emb["train"], emb["val"], epochs=2, batch_size=16, seed=0, head_only=True, verbose=0)
    assert head.n_trainable < sum(r.n_trainable for r in branches.values())
    restored = head.restored_model()
    np.testing.assert_allclose(predict(restored, emb["val"]), predict(head.model, emb["val"]), rtol=1e-6)
    full = assemble(cfg, {m: r.model for m, r in branches.items()}, restored)
    np.testing.assert_allclose(predict(full, val), predict(head.model, emb["val"]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="head_only"):
        fit(cfg, emb["train"], emb["val"], epochs=1, head_only=True, init_from={"image": branches["image"].model})


def test_min_epochs_keeps_early_stopping_from_choosing_an_early_epoch():
    cfg = ModelConfig(modalities=("audio",), **TINY)
    train, val = easy_split(48, 0), easy_split(24, 1)
    result = fit(cfg, train, val, epochs=6, batch_size=16, seed=0, patience=1, min_epochs=4, verbose=0)
    assert result.best_epoch >= 5  # 1-based: epochs before the fifth are never kept
    assert len(result.history["loss"]) >= 5
