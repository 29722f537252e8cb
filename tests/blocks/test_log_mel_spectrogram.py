import numpy as np
import pytest

from suite.blocks import LogMelSpectrogram
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs, expected", [
    ({"num_mel_bins": 16, "frame_length": 64, "frame_step": 32}, (2, 13, 16)),
    ({"num_mel_bins": 8, "frame_length": 50, "frame_step": 25, "fft_length": 128,
      "normalize": False, "upper_hertz": 4000.0}, (2, 16, 8)),
])
def test_layer_contract(kwargs, expected, tmp_path):
    run_layer_test(LogMelSpectrogram, kwargs, [(2, 400), (2,)], expected, tmp_path)


def _mel_hertz(mel):
    return 700.0 * (np.exp(mel / 1127.0) - 1.0)


@pytest.mark.parametrize("tone", [300.0, 1000.0, 3500.0])
def test_a_tone_peaks_in_the_mel_band_that_holds_its_frequency(tone):
    """The band whose centre (on the HTK mel scale, computed here with numpy) is nearest
    the tone's frequency is the loudest one."""
    rate, bins = 16000, 40
    t = np.arange(rate) / rate
    wave = (0.5 * np.sin(2 * np.pi * tone * t)).astype("float32")[None]
    layer = LogMelSpectrogram(rate, num_mel_bins=bins, frame_length=400, frame_step=160,
                              normalize=False)
    features = np.asarray(layer(wave, np.array([rate])))
    low, high = 1127.0 * np.log1p(20.0 / 700.0), 1127.0 * np.log1p(8000.0 / 700.0)
    centres = _mel_hertz(np.linspace(low, high, bins + 2)[1:-1])
    expected = int(np.argmin(np.abs(centres - tone)))
    assert abs(int(np.argmax(features[0, 10:-10].mean(axis=0))) - expected) <= 1


def test_zero_padding_changes_nothing_and_frames_are_normalised_per_utterance():
    rng = np.random.default_rng(0)
    layer = LogMelSpectrogram(16000, num_mel_bins=20, frame_length=400, frame_step=160)
    speech = rng.normal(size=(1, 8000)).astype("float32") * np.linspace(0.1, 1, 8000)
    padded = np.concatenate([speech, np.zeros((1, 4000), "float32")], axis=1)
    alone = np.asarray(layer(speech, np.array([8000])))
    inside = np.asarray(layer(padded, np.array([8000])))
    frames = int(layer.frame_lengths(np.array([8000]))[0])
    assert frames == 50 and inside.shape == (1, 75, 20)
    np.testing.assert_allclose(inside[0, :frames], alone[0], atol=1e-4)
    assert np.all(inside[0, frames:] == 0)
    np.testing.assert_allclose(alone[0, :frames].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(alone[0, :frames].std(axis=0), 1, atol=1e-2)
    louder = np.asarray(layer(speech * 10, np.array([8000])))
    np.testing.assert_allclose(louder, alone, atol=1e-3)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="frame_length and frame_step: got 100 and 200"):
        LogMelSpectrogram(frame_length=100, frame_step=200)
    with pytest.raises(ValueError, match="upper_hertz: got 20.0 and 9000"):
        LogMelSpectrogram(16000, upper_hertz=9000)
    with pytest.raises(ValueError, match="fft_length: got 256"):
        LogMelSpectrogram(frame_length=400, fft_length=256)
