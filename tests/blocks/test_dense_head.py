import keras
import numpy as np
import pytest

from suite.blocks import DenseHead
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs, shape, expected", [
    ({"units": 5}, (3, 4, 4, 2), (3, 5)),
    ({"units": 3, "hidden": (8, 4), "dropout": 0.3, "l1": 1e-4, "l2": 1e-3}, (3, 6), (3, 3)),
    ({"units": 1, "hidden": (4,), "output_activation": "sigmoid"}, (3, 6), (3, 1)),
    ({"units": 2, "output_activation": "linear"}, (3, 6), (3, 2)),
])
def test_layer_contract(kwargs, shape, expected, tmp_path):
    run_layer_test(DenseHead, kwargs, shape, expected, tmp_path)


def test_softmax_rows_sum_to_one():
    head = DenseHead(4, hidden=(8,))
    probs = keras.ops.convert_to_numpy(head(np.random.rand(5, 3).astype("float32")))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_output_stays_float32_under_mixed_precision():
    head = DenseHead(3, hidden=(4,), dtype="mixed_float16")
    y = head(np.ones((2, 5), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="output_activation: got 'relu'"):
        DenseHead(2, output_activation="relu")
    with pytest.raises(ValueError, match="units: got 0"):
        DenseHead(0)
