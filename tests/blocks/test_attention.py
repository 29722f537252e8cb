import keras
import numpy as np
import pytest

from suite.blocks import BahdanauAttention, LuongAttention
from tests.harness import run_layer_test

LAYERS = [(BahdanauAttention, {"units": 5}), (LuongAttention, {"scale": True}),
          (LuongAttention, {"scale": False})]


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_layer_contract(cls, kwargs, tmp_path):
    run_layer_test(cls, kwargs, [(2, 3, 4), (2, 6, 7)], [(2, 3, 7), (2, 3, 6)], tmp_path)


@pytest.mark.parametrize("cls, kwargs", LAYERS)
def test_padded_value_steps_get_no_weight(cls, kwargs):
    rng = np.random.default_rng(0)
    layer = cls(**kwargs)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    value = rng.normal(size=(2, 6, 7)).astype("float32")
    mask = np.array([[True] * 4 + [False] * 2, [True] * 6])
    padded = value.copy()
    padded[0, 4:] = 50.0  # whatever the padding holds must not matter
    context, weights = (keras.ops.convert_to_numpy(t)
                        for t in layer(query, padded, value_mask=mask))
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[0, :, 4:] == 0.0)
    short_context, short_weights = (keras.ops.convert_to_numpy(t)
                                    for t in layer(query[:1], value[:1, :4]))
    np.testing.assert_allclose(context[0], short_context[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights[0, :, :4], short_weights[0], rtol=1e-5, atol=1e-6)


def test_context_is_the_weighted_sum_of_the_values():
    layer = BahdanauAttention(3)
    rng = np.random.default_rng(1)
    value = rng.normal(size=(1, 4, 2)).astype("float32")
    context, weights = (keras.ops.convert_to_numpy(t)
                        for t in layer(rng.normal(size=(1, 2, 5)).astype("float32"), value))
    np.testing.assert_allclose(context, weights @ value, rtol=1e-5, atol=1e-6)


def test_mixed_precision_masking_stays_finite():
    layer = BahdanauAttention(4, dtype="mixed_float16")
    context, weights = layer(np.ones((1, 2, 3), "float32"), np.ones((1, 3, 3), "float32"),
                             value_mask=np.array([[True, False, False]]))
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(context)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights)[0, :, 0], 1.0)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="units: got 0"):
        BahdanauAttention(0)
