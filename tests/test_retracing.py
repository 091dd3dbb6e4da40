"""No tf.function retracing warnings: predictions go through one eager path, not a fresh ``predict`` graph per model.

TensorFlow counts retracings per Python function (its code object), not per ``tf.function``: every new
Keras model's ``predict`` traces the same ``one_step_on_data_distributed`` again, and after five such
calls in a row it logs "5 out of the last 5 calls to ... triggered tf.function retracing". Chapter 7
builds a new embedding model in ``export`` and in every ``shift_report``; chapter 6 predicts with dozens
of models. The oracle here is TensorFlow's own tracing detector, counted per function.
"""
from __future__ import annotations

import collections

import numpy as np
import pytest

from tensorflow.python.eager.polymorphic_function import polymorphic_function as _pf

from medkit import deploy, models, train


@pytest.fixture
def traces(monkeypatch):
    """``{function qualname: number of calls that traced}`` while the test runs."""
    counts: collections.Counter = collections.Counter()
    manager = _pf._FrequentTracingDetectorManager
    original = manager.called_with_tracing

    def counting(self, key, function, omit_warning):
        counts[getattr(function, "__qualname__", str(function))] += 1
        return original(self, key, function, omit_warning)

    monkeypatch.setattr(manager, "called_with_tracing", counting)
    return counts


def _predict_traces(counts):
    return sum(n for name, n in counts.items() if "predict_function" in name)


@pytest.fixture(scope="module")
def tiny():
    cfg = models.ModelConfig(modalities=("image", "audio"), fusion="average", image_shape=(8, 8, 1),
                             audio_shape=(4, 6, 1), embed_dim=3, fusion_dim=3, augment=False)
    rng = np.random.default_rng(0)
    x = {"image": rng.random((5, 8, 8, 1), dtype="float32"), "audio": rng.random((5, 4, 6, 1), dtype="float32"),
         "label": np.array([0, 1, 0, 1, 1])}
    return cfg, x


def test_keras_predict_on_new_models_is_what_retraces(traces, tiny):
    """The cause, shown: ``predict`` on six fresh models traces six times (one per model)."""
    cfg, x = tiny
    for _ in range(6):
        models.build_multimodal(cfg).predict({m: x[m] for m in cfg.modalities}, verbose=0)
    assert _predict_traces(traces) >= 5


def test_embeddings_predictions_and_missing_modalities_trace_nothing(traces, tiny):
    cfg, x = tiny
    for _ in range(6):  # export and each shift_report build a new embedding model
        model = models.build_multimodal(cfg)
        emb = deploy._embeddings(model, {m: x[m] for m in cfg.modalities})
        assert sorted(emb) == ["audio", "image"] and emb["image"].shape == (5, 3)
        train.predict(model, x)
        models.predict_missing(model, x, ["audio"])
    assert _predict_traces(traces) == 0, dict(traces)


def test_forward_gives_what_predict_gives_also_for_named_outputs(tiny):
    """Same batches, same arithmetic: eager calls and Keras's predict graph agree (to float32 rounding)."""
    cfg, x = tiny
    model = models.build_multimodal(cfg)
    inputs = {m: x[m] for m in cfg.modalities}
    np.testing.assert_allclose(models.forward(model, inputs, batch_size=2),
                               model.predict(inputs, batch_size=2, verbose=0), rtol=1e-6, atol=1e-7)
    sub = deploy._embedding_model(model)
    eager, graph = models.forward(sub, inputs, batch_size=2), sub.predict(inputs, batch_size=2, verbose=0)
    assert sorted(eager) == sorted(graph) == ["audio", "image"]
    for m in eager:
        assert eager[m].shape == (5, 3)
        np.testing.assert_allclose(eager[m], graph[m], rtol=1e-6, atol=1e-7)
