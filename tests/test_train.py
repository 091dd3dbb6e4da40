"""medkit.train: pipelines, class weights, thresholds, a tiny run that learns, determinism, MirroredStrategy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, recall_score, roc_auc_score

from medkit.models import ModelConfig, predict_missing
from medkit.train import (
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


def indexed_split(n: int) -> dict[str, np.ndarray]:
    """Rows that carry their own index (in every audio value), labels that are a function of it."""
    rows = np.arange(n)
    return {"audio": np.broadcast_to(rows[:, None, None, None], (n, 4, 6, 1)).astype("float32"),
            "text": np.zeros((n, 6), "int32"), "label": (rows * 7 % 3 == 0).astype(int)}


def batches_order(batches) -> tuple[list[int], list[int]]:
    """Row indices and batch sizes of a sequence of batches; each label must travel with its row."""
    order, sizes = [], []
    for x, y in batches:
        rows = x["audio"].numpy()[:, 0, 0, 0].astype(int)
        assert np.all(x["audio"].numpy() == rows[:, None, None, None])
        np.testing.assert_array_equal(y.numpy(), (rows * 7 % 3 == 0).astype(int))  # label paired with its row
        order += rows.tolist()
        sizes.append(len(rows))
    return order, sizes


def test_dataset_batches_only_the_requested_modalities_and_shuffles_reproducibly():
    """Oracle: the row order of the arrays. Shuffling permutes it, differently per seed and per epoch."""
    n = 10
    data = indexed_split(n)
    assert all(list(x) == ["audio"] for x, _ in make_tf_dataset(data, ["audio"], batch_size=4))
    ds = make_tf_dataset(data, ["audio"], batch_size=4, shuffle=True, seed=3)
    plain, sizes = batches_order(make_tf_dataset(data, ["audio"], 4))
    assert plain == list(range(n)) and sizes == [4, 4, 2]  # no shuffle: the arrays' order

    first, sizes = batches_order(ds)
    assert sorted(first) == list(range(n)) and sizes == [4, 4, 2]  # a permutation, batched
    assert first != list(range(n))  # the order changed
    assert batches_order(make_tf_dataset(data, ["audio"], 4, shuffle=True, seed=3))[0] == first  # seeded
    assert any(batches_order(make_tf_dataset(data, ["audio"], 4, shuffle=True, seed=s))[0] != first for s in (4, 5))
    second, _ = batches_order(ds)
    assert sorted(second) == list(range(n)) and second != first  # reshuffled for the next epoch

    # repeat=True (what fit uses): epoch e's order depends on (seed, e) only
    def epochs(seed: int, k: int = 3) -> list[list[int]]:
        stream = make_tf_dataset(data, ["audio"], 4, shuffle=True, seed=seed, repeat=True)
        order, sizes = batches_order(stream.take(3 * k))
        assert sizes == [4, 4, 2] * k
        return [order[i * n:(i + 1) * n] for i in range(k)]

    a = epochs(3)
    assert all(sorted(e) == list(range(n)) for e in a)
    assert a[0] != list(range(n)) and len({tuple(e) for e in a}) > 1
    assert epochs(3) == a and epochs(4) != a
    assert batches_order(make_tf_dataset(data, ["audio"], 4, repeat=True).take(6))[0] == list(range(n)) * 2
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
    assert (table["ci_low"] <= table["estimate"] + 1e-12).all()
    assert (table["estimate"] <= table["ci_high"] + 1e-12).all()
    # every threshold metric against scikit-learn at the given threshold (the F1 pitfall: one sigmoid
    # column is not "everyone positive", so specificity is not 0)
    flagged = (p >= 0.5).astype(int)
    assert table.loc["auprc", "estimate"] == pytest.approx(average_precision_score(y, p))
    assert table.loc["f1", "estimate"] == pytest.approx(f1_score(y, flagged))
    assert table.loc["sensitivity", "estimate"] == pytest.approx(recall_score(y, flagged))
    assert table.loc["specificity", "estimate"] == pytest.approx(recall_score(y, flagged, pos_label=0))
    assert 0 < table.loc["specificity", "estimate"] < 1


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
    p_no_image = predict_missing(result.model, {m: val[m] for m in ("image", "text", "audio")}, ["image"])
    assert not np.allclose(p_no_image, p_val)  # the image mattered, so "missing" is a different model
    assert missing.loc["auroc", "estimate"] == pytest.approx(roc_auc_score(val["label"], p_no_image))
    assert missing.loc["brier", "estimate"] == pytest.approx(brier_score_loss(val["label"], p_no_image))
    with pytest.raises(ValueError, match="exactly one"):
        evaluate(result.model, val, n_boot=10)
    # the restored epoch is the first best validation AUROC, and the model holds that epoch's weights
    val_auroc = result.history["val_auroc"]
    assert result.best_epoch == 1 + int(np.argmax(val_auroc)) and result.best_val_auroc == max(val_auroc)
    assert roc_auc_score(val["label"], p_val) == pytest.approx(result.best_val_auroc, abs=0.02)  # Keras' AUC bins
    assert result.samples_per_s * result.seconds == pytest.approx(96 * len(result.history["loss"]))


@pytest.mark.slow
def test_two_identical_trainings_give_identical_weights():
    train, val = easy_split(48, 0), easy_split(24, 1)
    cfg = ModelConfig(fusion="gated", modality_dropout=0.3, **TINY)  # augmentation and dropout randomness included
    a = fit(cfg, train, val, epochs=2, batch_size=16, seed=5, verbose=0)
    b = fit(cfg, train, val, epochs=2, batch_size=16, seed=5, verbose=0)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
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
    from medkit.models import ModelConfig, predict_missing
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
    line = next(row for row in proc.stdout.splitlines() if row.startswith("RESULT"))
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
    for a, b in zip(fused.model.get_layer("audio_conv1").get_weights(), before, strict=True):
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
    for a, b in zip(reused.model.get_weights(), fresh.model.get_weights(), strict=True):
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
