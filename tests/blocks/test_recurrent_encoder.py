import keras
import numpy as np
import pytest

from suite.blocks import RecurrentEncoder
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs, expected", [
    ({"units": 4}, (2, 4)),
    ({"units": 4, "depth": 2, "cell": "gru", "dropout": 0.1}, (2, 4)),
    ({"units": 3, "bidirectional": True}, (2, 6)),
    ({"units": 3, "depth": 2, "bidirectional": True, "return_sequences": True}, (2, 5, 6)),
])
def test_layer_contract(kwargs, expected, tmp_path):
    run_layer_test(RecurrentEncoder, kwargs, (2, 5, 3), expected, tmp_path)


def test_padded_steps_are_skipped_with_a_mask():
    encoder = RecurrentEncoder(4, depth=2)
    x = np.random.default_rng(0).normal(size=(1, 6, 2)).astype("float32")
    padded = np.concatenate([x[:, :4], np.full((1, 2, 2), 9.0, "float32")], axis=1)
    mask = np.array([[True] * 4 + [False] * 2])
    short = keras.ops.convert_to_numpy(encoder(x[:, :4]))
    masked = keras.ops.convert_to_numpy(encoder(padded, mask=mask))
    np.testing.assert_allclose(masked, short, rtol=1e-5, atol=1e-6)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="cell: got 'rnn'"):
        RecurrentEncoder(4, cell="rnn")
    with pytest.raises(ValueError, match="units and depth: got 4 and 0"):
        RecurrentEncoder(4, depth=0)
