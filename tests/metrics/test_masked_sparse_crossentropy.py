import numpy as np
import pytest

from suite.metrics import MaskedSparseCrossentropy


def test_padding_does_not_change_the_loss():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    targets = np.array([[1, 2, 3], [4, 1, 2]])
    padded_logits = np.concatenate([logits, rng.normal(size=(2, 4, 5)).astype("float32")], 1)
    padded_targets = np.concatenate([targets, np.zeros((2, 4), int)], axis=1)
    loss = MaskedSparseCrossentropy()
    np.testing.assert_allclose(float(loss(padded_targets, padded_logits)),
                               float(loss(targets, logits)), rtol=1e-6)


def test_values_by_hand():
    logits = np.log(np.array([[[0.1, 0.2, 0.7]]], "float32"))
    assert float(MaskedSparseCrossentropy()([[2]], logits)) == pytest.approx(-np.log(0.7),
                                                                              rel=1e-5)
    smoothed = 0.8 * -np.log(0.7) + 0.2 * -np.mean(np.log([0.1, 0.2, 0.7]))
    assert float(MaskedSparseCrossentropy(0.2)([[2]], logits)) == pytest.approx(smoothed,
                                                                                  rel=1e-5)


def test_all_padding_is_zero_not_nan():
    assert float(MaskedSparseCrossentropy()([[0, 0]], np.zeros((1, 2, 3), "float32"))) == 0.0


def test_config_round_trip_and_bad_value():
    loss = MaskedSparseCrossentropy(0.1, pad_id=3)
    assert MaskedSparseCrossentropy.from_config(loss.get_config()).get_config() == \
        loss.get_config()
    with pytest.raises(ValueError, match="label_smoothing: got 1.0"):
        MaskedSparseCrossentropy(1.0)
