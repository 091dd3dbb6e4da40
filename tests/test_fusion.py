"""medkit.fusion: numpy functions against plain numpy, Keras layers against the numpy functions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import keras

from medkit import fusion

# Keras' own convert_to_numpy triggers numpy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ARTICLE = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
small = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def modality_batches(draw, equal_widths=True):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, 5))
    widths = [draw(st.integers(1, 6))] * m if equal_widths else [draw(st.integers(1, 6)) for _ in range(m)]
    return [draw(arrays(np.float32, (n, d), elements=small)) for d in widths]


def test_article_vectors():
    assert fusion.concat_fusion(ARTICLE).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert fusion.average_fusion(ARTICLE).tolist() == [4.0, 5.0, 6.0]
    assert fusion.sum_fusion(ARTICLE).tolist() == [12.0, 15.0, 18.0]
    assert fusion.weighted_fusion(ARTICLE, [1 / 3] * 3) == pytest.approx([4.0, 5.0, 6.0])


@settings(max_examples=40, deadline=None)
@given(modality_batches(equal_widths=False))
def test_numpy_functions_match_plain_numpy(batch):
    np.testing.assert_allclose(fusion.concat_fusion(batch), np.concatenate(batch, axis=1), rtol=1e-6)
    if len({b.shape[1] for b in batch}) == 1:
        np.testing.assert_allclose(fusion.sum_fusion(batch), np.sum(batch, axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fusion.average_fusion(batch), np.mean(batch, axis=0), rtol=1e-5, atol=1e-5)
    # a list of vectors gives a vector: row i of a batch result is the result on row i
    rows = [b[0] for b in batch]
    np.testing.assert_allclose(fusion.concat_fusion(rows), fusion.concat_fusion(batch)[0])


def test_unequal_widths_error_names_the_widths():
    for fn in (fusion.average_fusion, fusion.sum_fusion):
        with pytest.raises(ValueError, match=r"same width; got widths \[3, 2\].*projection_dim"):
            fn([np.ones(3), np.ones(2)])


@pytest.mark.parametrize("features, match", [
    ([], "at least one modality"),
    ([np.ones((2, 3)), np.ones((3, 3))], r"same number of samples; got batch sizes \[2, 3\]"),
    ([np.ones(3), np.ones((1, 3))], "all of the same kind"),
    ([np.ones(0)], "width 0"),
    ([np.array([1.0, np.nan])], "nan or inf"),
    (np.arange(3.0), "list of per-modality arrays"),
])
def test_bad_inputs(features, match):
    with pytest.raises(ValueError, match=match):
        fusion.concat_fusion(features)


def test_projection_to_common_width():
    feats = [np.ones((4, 3)), np.ones((4, 7))]
    assert fusion.average_fusion(feats, projection_dim=5).shape == (4, 5)
    assert fusion.concat_fusion(feats, projection_dim=5).shape == (4, 10)
    np.testing.assert_array_equal(fusion.sum_fusion(feats, projection_dim=5, seed=1),
                                  fusion.sum_fusion(feats, projection_dim=5, seed=1))
    mats = fusion.random_projections([3, 7], 5, seed=1)
    np.testing.assert_allclose(fusion.sum_fusion(feats, projection_dim=5, seed=1),
                               feats[0] @ mats[0] + feats[1] @ mats[1])
    with pytest.raises(ValueError, match="projection_dim must be a positive integer"):
        fusion.average_fusion(feats, projection_dim=0)
    with pytest.raises(ValueError, match=r"projection matrix 1 has shape \(3, 2\); modality 1 has width 7"):
        fusion.project(feats, [np.ones((3, 2)), np.ones((3, 2))])


def test_weighted_fusion_shapes_and_errors():
    feats = [np.ones((2, 3)), 3 * np.ones((2, 3))]
    np.testing.assert_allclose(fusion.weighted_fusion(feats, [[1.0, 0.0], [0.5, 0.5]]), [[1, 1, 1], [2, 2, 2]])
    with pytest.raises(ValueError, match=r"weights must have shape \(2,\) or \(2, 2\)"):
        fusion.weighted_fusion(feats, [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- Keras layers
def to_tensors(batch):
    return [keras.ops.convert_to_tensor(b) for b in batch]


@settings(max_examples=15, deadline=None)
@given(modality_batches(equal_widths=True))
def test_keras_layers_match_numpy(batch):
    t = to_tensors(batch)
    for layer, fn in ((fusion.ConcatFusion(), fusion.concat_fusion), (fusion.AverageFusion(), fusion.average_fusion),
                      (fusion.SumFusion(), fusion.sum_fusion)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(t)), fn(batch), rtol=1e-5, atol=1e-5)


def test_keras_concat_accepts_unequal_widths_and_average_refuses():
    a, b = keras.Input((3,)), keras.Input((5,))
    assert fusion.ConcatFusion()([a, b]).shape == (None, 8)
    assert fusion.ConcatFusion(projection_dim=4)([a, b]).shape == (None, 8)
    for cls in (fusion.AverageFusion, fusion.SumFusion, fusion.GatedFusion):
        with pytest.raises(ValueError, match=r"same width; got widths \[3, 5\]"):
            cls()([a, b])
        assert cls(projection_dim=4)([a, b]).shape == (None, 4)
    with pytest.raises(ValueError, match="list of"):
        fusion.ConcatFusion()(a)
    with pytest.raises(ValueError, match="projection_dim"):
        fusion.SumFusion(projection_dim=-1)


def test_projection_layers_use_their_dense_weights():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 5)).astype("float32")]
    layer = fusion.AverageFusion(projection_dim=2)
    out = keras.ops.convert_to_numpy(layer(to_tensors(x)))
    projected = [xi @ keras.ops.convert_to_numpy(p.kernel) + keras.ops.convert_to_numpy(p.bias)
                 for xi, p in zip(x, layer.projections, strict=True)]
    np.testing.assert_allclose(out, fusion.average_fusion(projected), rtol=1e-5, atol=1e-6)


def test_gated_fusion_gates():
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(6, 4)).astype("float32") for _ in range(3)]
    layer = fusion.GatedFusion(return_gates=True)
    fused, gates = layer(to_tensors(x))
    gates = keras.ops.convert_to_numpy(gates)
    assert gates.shape == (6, 3)
    np.testing.assert_allclose(gates.sum(axis=1), 1.0, rtol=1e-6)
    # untrained (zero gate kernel): an average
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused), fusion.average_fusion(x), rtol=1e-5, atol=1e-6)
    # with other gate weights: the numpy weighted fusion with the same gates
    layer.gate.kernel.assign(rng.normal(size=(12, 3)).astype("float32"))
    fused, gates = layer(to_tensors(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused),
                               fusion.weighted_fusion(x, keras.ops.convert_to_numpy(gates)), rtol=1e-5, atol=1e-5)
    assert not np.allclose(keras.ops.convert_to_numpy(gates), 1 / 3)


def test_models_with_fusion_layers_save_load_and_expose_gates(tmp_path):
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((5,), name="b")
    gate_layer = fusion.GatedFusion(projection_dim=4, activation="relu", name="fusion")
    h = gate_layer([a, b])
    h = keras.layers.Concatenate()([h, fusion.ConcatFusion(name="cat")([a, b]),
                                    fusion.SumFusion(projection_dim=2, name="sum")([a, b]),
                                    fusion.AverageFusion(projection_dim=2, name="avg")([a, b])])
    model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid")(h))
    x = [np.random.default_rng(0).normal(size=(8, 3)).astype("float32"),
         np.random.default_rng(1).normal(size=(8, 5)).astype("float32")]
    # Non-trivial gate weights, so the round trip is checked on something other than the zero initialisation.
    gate_layer.gate.kernel.assign(np.random.default_rng(2).normal(size=(8, 2)).astype("float32"))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    cfg = loaded.get_layer("fusion").get_config()
    assert cfg["projection_dim"] == 4 and cfg["activation"] == "relu" and cfg["return_gates"] is False
    layer = loaded.get_layer("fusion")
    gate_model = keras.Model(loaded.inputs, layer.compute_gates(layer.input))
    gates = gate_model.predict(x, verbose=0)
    assert gates.shape == (8, 2)
    np.testing.assert_allclose(gates.sum(axis=1), 1.0, rtol=1e-5)


def test_layers_are_registered_and_round_trip_through_config():
    for cls in (fusion.ConcatFusion, fusion.AverageFusion, fusion.SumFusion, fusion.GatedFusion):
        name = keras.saving.get_registered_name(cls)
        assert name == f"medkit>{cls.__name__}"
        layer = cls(projection_dim=3, name="x")
        clone = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(clone) is cls and clone.get_config() == layer.get_config()


# ---------------------------------------------------------------- found by mutation testing: defaults, projections
def test_random_projections_are_seeded_gaussian_with_variance_one_over_width():
    """The documented distribution, N(0, 1/d_i), checked on many entries; seed 0 is the default."""
    mats = fusion.random_projections([50, 200], 400)
    for d, w in zip([50, 200], mats, strict=True):
        assert w.shape == (d, 400)
        assert abs(w.mean()) < 4 * np.sqrt(1 / d / w.size)  # four standard errors
        assert w.var() == pytest.approx(1 / d, rel=0.05)
    for a, b in zip(mats, fusion.random_projections([50, 200], 400, seed=0), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(mats[0], fusion.random_projections([50], 400, seed=1)[0])
    assert fusion.random_projections([3], 1)[0].shape == (3, 1)  # width 1 is a valid target


def test_fusions_project_with_seed_0_by_default():
    feats = [np.arange(6.0).reshape(2, 3), np.ones((2, 4))]
    for fn in (fusion.concat_fusion, fusion.sum_fusion, fusion.average_fusion):
        np.testing.assert_array_equal(fn(feats, projection_dim=2), fn(feats, projection_dim=2, seed=0))
        projected = fusion.project(feats, fusion.random_projections([3, 4], 2, seed=0))
        np.testing.assert_allclose(fn(feats, projection_dim=2), fn(projected))


def test_project_multiplies_each_modality_and_keeps_the_vector_form():
    x, z = np.array([1.0, 2.0]), np.array([3.0, -1.0, 0.5])
    a, b = np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3)
    out = fusion.project([x, z], [a, b])
    assert [o.shape for o in out] == [(3,), (3,)]
    np.testing.assert_allclose(out[0], x @ a)
    np.testing.assert_allclose(out[1], z @ b)
    batch = fusion.project([x[None], z[None]], [a, b])
    np.testing.assert_allclose(batch[0], (x @ a)[None])


def test_a_2d_array_is_a_stack_of_modality_vectors_and_one_modality_is_allowed():
    np.testing.assert_array_equal(fusion.concat_fusion(np.array(ARTICLE)), fusion.concat_fusion(ARTICLE))
    np.testing.assert_array_equal(fusion.average_fusion(np.array(ARTICLE)), [4.0, 5.0, 6.0])
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(fusion.weighted_fusion([x], [1.0]), x)
    np.testing.assert_array_equal(fusion.weighted_fusion([x], [[0.5], [2.0]]), [[0.5, 1.0], [6.0, 8.0]])


def test_keras_layers_check_their_inputs_and_projection_width():
    with pytest.raises(ValueError, match=r"each input must be \(batch, d\)"):
        fusion.ConcatFusion()([keras.Input((3, 4)), keras.Input((5,))])
    with pytest.raises(ValueError, match=r"each input must be \(batch, d\)"):
        fusion.SumFusion()([keras.Input((None,)), keras.Input((5,))])
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="projection_dim"):
            fusion.SumFusion(projection_dim=bad)
    assert fusion.SumFusion(projection_dim=1)([keras.Input((3,)), keras.Input((5,))]).shape == (None, 1)


def test_compute_output_shape_keeps_the_batch_dimension():
    shapes = [(7, 3), (7, 3)]
    assert fusion.ConcatFusion().compute_output_shape(shapes) == (7, 6)
    assert fusion.ConcatFusion(projection_dim=2).compute_output_shape(shapes) == (7, 4)
    assert fusion.SumFusion().compute_output_shape(shapes) == (7, 3)
    assert fusion.AverageFusion(projection_dim=5).compute_output_shape(shapes) == (7, 5)
    assert fusion.GatedFusion().compute_output_shape(shapes) == (7, 3)
    assert fusion.GatedFusion(projection_dim=4, return_gates=True).compute_output_shape(shapes) == ((7, 4), (7, 2))


def test_average_of_no_present_modality_is_zero_not_nan():
    x = [np.full((2, 3), 1.0, "float32"), np.full((2, 3), 3.0, "float32")]
    out = keras.ops.convert_to_numpy(fusion.AverageFusion()(x, presence=np.array([[0.0, 0.0], [1.0, 0.0]])))
    np.testing.assert_array_equal(out, [[0.0] * 3, [1.0] * 3])
