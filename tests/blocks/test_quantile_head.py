import keras
import numpy as np
import pytest

from suite.blocks import QuantileHead
from tests.harness import run_layer_test


def test_layer_contract(tmp_path):
    run_layer_test(QuantileHead, {"horizon": 4, "quantiles": (0.1, 0.5, 0.9)}, (3, 6), (3, 4, 3),
                   tmp_path)


def test_quantiles_never_cross():
    head = QuantileHead(7, (0.05, 0.25, 0.5, 0.75, 0.95))
    y = keras.ops.convert_to_numpy(head(np.random.default_rng(1).normal(size=(16, 5))
                                        .astype("float32") * 10))
    assert (np.diff(y, axis=-1) >= 0).all()


def test_bad_quantiles():
    with pytest.raises(ValueError, match=r"quantiles: got \(0.9, 0.1\)"):
        QuantileHead(3, (0.9, 0.1))
    with pytest.raises(ValueError, match="horizon: got 0"):
        QuantileHead(0)
