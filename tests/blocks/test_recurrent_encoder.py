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


def test_final_states_of_both_directions_with_padding():
    encoder = RecurrentEncoder(3, depth=2, bidirectional=True, return_sequences=True,
                               return_state=True)
    x = np.random.default_rng(0).normal(size=(1, 5, 2)).astype("float32")
    mask = np.array([[True] * 3 + [False] * 2])
    output, (h, c) = encoder(x, mask=mask)
    output, h = keras.ops.convert_to_numpy(output), keras.ops.convert_to_numpy(h)
    assert h.shape == (1, 6) and tuple(c.shape) == (1, 6)
    np.testing.assert_allclose(h[0, :3], output[0, 2, :3], rtol=1e-5)  # forward: last real
    np.testing.assert_allclose(h[0, 3:], output[0, 0, 3:], rtol=1e-5)  # backward: first
    assert encoder.compute_output_shape((1, 5, 2)) == ((1, 5, 6), [(1, 6), (1, 6)])


def test_gru_state_is_one_tensor():
    output, states = RecurrentEncoder(4, cell="gru", return_state=True)(np.ones((2, 3, 2)))
    assert tuple(output.shape) == (2, 4) and [tuple(s.shape) for s in states] == [(2, 4)]
