import keras
import numpy as np
import pytest

from suite.blocks import UpsampleBlock
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs", [
    {"filters": 4},
    {"filters": 3, "mode": "bilinear", "convs": 1, "dropout": 0.2, "l2": 1e-3},
    {"filters": 5, "mode": "nearest", "kernel_size": 5},
])
def test_layer_contract_with_skip(kwargs, tmp_path):
    run_layer_test(UpsampleBlock, kwargs, [(2, 4, 4, 6), (2, 8, 8, 2)],
                   (2, 8, 8, kwargs["filters"]), tmp_path)


def test_layer_contract_without_skip(tmp_path):
    run_layer_test(UpsampleBlock, {"filters": 4}, (2, 3, 5, 6), (2, 6, 10, 4), tmp_path)


def test_the_skip_reaches_the_output():
    block = UpsampleBlock(4, convs=1)
    coarse = np.zeros((1, 2, 2, 3), "float32")
    skip = np.random.default_rng(0).normal(size=(1, 4, 4, 2)).astype("float32")
    with_skip = keras.ops.convert_to_numpy(block(coarse, skip))
    zero_skip = keras.ops.convert_to_numpy(block(coarse, np.zeros_like(skip)))
    assert not np.allclose(with_skip, zero_skip)
    # the skip's weights are part of the block: a block built without one has fewer
    plain = UpsampleBlock(4, convs=1)
    plain(coarse)
    assert block.count_params() == plain.count_params() + 3 * 3 * 2 * 4


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="mode: got 'cubic'"):
        UpsampleBlock(4, mode="cubic")
    with pytest.raises(ValueError, match="filters: got 0"):
        UpsampleBlock(0)


def test_mixed_precision_computes_in_float16():
    layer = UpsampleBlock(4, dtype="mixed_float16")
    y = layer(np.ones((1, 2, 2, 3), "float32"), np.ones((1, 4, 4, 2), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert all(w.dtype == "float32" for w in layer.trainable_weights)
