import keras
import numpy as np
import pytest

from suite.blocks import DebiasedBatchNormalization
from tests.harness import run_layer_test


def test_layer_contract(tmp_path):
    run_layer_test(DebiasedBatchNormalization, {"momentum": 0.9}, (2, 4, 4, 3), (2, 4, 4, 3),
                   tmp_path)


def test_inference_matches_training_after_a_few_steps():
    """Keras' batch norm still leans on its starting statistics (mean 0, variance 1) after
    a few steps at momentum 0.99; the debiased one uses the batches it saw."""
    rng = np.random.default_rng(0)
    x = (0.5 + 0.1 * rng.normal(size=(64, 8))).astype("float32")  # mean 0.5, variance 0.01
    plain = keras.layers.BatchNormalization(momentum=0.99)
    debiased = DebiasedBatchNormalization(momentum=0.99)
    for layer in (plain, debiased):
        for _ in range(5):
            layer(x, training=True)
    trained = keras.ops.convert_to_numpy(debiased(x, training=True))
    inferred = keras.ops.convert_to_numpy(debiased(x, training=False))
    np.testing.assert_allclose(inferred, trained, atol=1e-2)
    stale = keras.ops.convert_to_numpy(plain(x, training=False))
    assert np.abs(stale - trained).mean() > 0.5  # what the plain layer gets wrong


def test_renorm_is_refused():
    with pytest.raises(ValueError, match="renorm: got True"):
        DebiasedBatchNormalization(renorm=True)
