import numpy as np
import pytest
import tensorflow as tf

from suite.data.audio import WavReader, decode_wav, resample, wav_bytes


def _peak_hertz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 16000])
def test_a_tone_keeps_its_pitch_and_duration_at_16khz(rate):
    t = np.arange(rate // 2) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    waveform, length = decode_wav(tf.constant(wav_bytes(tone, rate)), 16000)
    assert int(length) == 8000 == waveform.shape[0]
    assert _peak_hertz(waveform.numpy(), 16000) == pytest.approx(1000, abs=3)
    assert np.abs(waveform.numpy()).max() == pytest.approx(0.5, abs=0.03)


def test_down_sampling_removes_what_the_new_rate_cannot_hold():
    rate = 44100
    t = np.arange(rate) / rate
    mixed = np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 12000 * t)  # 12 kHz > 8 kHz
    out = resample(mixed.astype("float32"), rate, 16000).numpy()
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    assert spectrum[np.abs(freqs - 500) < 5].max() > 100 * spectrum[freqs > 3000].max()


def test_stereo_is_averaged_and_bad_files_name_the_reason():
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.array([[1000, 3000]] * 10, "<i2").tobytes())
    reader = WavReader(16000)
    np.testing.assert_array_equal(reader(out.getvalue()), np.full(10, 2000, np.int16))
    with pytest.raises(ValueError, match="not a readable 16-bit PCM WAV file"):
        reader(b"RIFF\x00\x00\x00\x00WAVEjunk")
