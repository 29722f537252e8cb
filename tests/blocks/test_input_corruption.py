import keras
import numpy as np
import pytest

from suite.blocks import InputCorruption
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs", [
    {"kind": "dropout", "rate": 0.3, "seed": 1},
    {"kind": "masking", "rate": 0.5},
    {"kind": "gaussian", "rate": 0.1, "seed": 2},
    {"kind": "dropout", "rate": 0.0},
])
def test_layer_contract(kwargs, tmp_path):
    run_layer_test(InputCorruption, kwargs, (4, 7), (4, 7), tmp_path)


@pytest.mark.parametrize("kind", ["dropout", "masking", "gaussian"])
def test_corrupts_in_training_only(kind):
    x = np.ones((64, 50), "float32")
    layer = InputCorruption(kind, 0.5, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    noisy = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.array_equal(noisy, x)
    if kind == "gaussian":
        assert abs(noisy.std() - 0.5) < 0.05
    else:
        zeroed = np.mean(noisy == 0)
        assert 0.4 < zeroed < 0.6
        kept = noisy[noisy != 0]
        expected = 2.0 if kind == "dropout" else 1.0  # dropout rescales, masking does not
        np.testing.assert_allclose(kept, expected, rtol=1e-6)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="kind: got 'salt'"):
        InputCorruption("salt")
    with pytest.raises(ValueError, match="rate: got 1.0, expected 0 <= rate < 1"):
        InputCorruption("masking", 1.0)
    with pytest.raises(ValueError, match="rate: got -0.1"):
        InputCorruption("gaussian", -0.1)
