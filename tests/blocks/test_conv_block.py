import keras
import numpy as np
import pytest

from suite.blocks import ConvBlock
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs, expected", [
    ({"filters": 4}, (2, 8, 8, 4)),
    ({"filters": 6, "convs": 2, "pool_size": 2, "dropout": 0.2, "l2": 1e-3}, (2, 4, 4, 6)),
    ({"filters": 3, "batch_norm": False, "activation": "tanh", "kernel_size": 5}, (2, 8, 8, 3)),
])
def test_layer_contract(kwargs, expected, tmp_path):
    run_layer_test(ConvBlock, kwargs, (2, 8, 8, 1), expected, tmp_path)


def test_weights_count_and_regularization():
    block = ConvBlock(4, convs=2, l2=0.01)
    block(np.ones((1, 6, 6, 2), "float32"))
    # two kernels (no conv bias under batch norm) and two batch norms of 4 weights each
    assert len(block.trainable_weights) == 2 + 2 * 2
    assert len(block.losses) == 2


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="filters: got 0"):
        ConvBlock(0)
    with pytest.raises(ValueError, match="dropout: got 1.5"):
        ConvBlock(4, dropout=1.5)


def test_mixed_precision_computes_in_float16():
    layer = ConvBlock(4, dtype="mixed_float16")
    y = layer(np.ones((1, 4, 4, 1), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert layer.trainable_weights[0].dtype == "float32"
