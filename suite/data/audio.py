"""Audio in the graph: WAV bytes -> mono float32 waveform at a chosen sample rate.

Training data and the exported model decode audio with these same functions, so a
served WAV file is heard exactly as the training utterances were.
"""

from __future__ import annotations

import io
import re
import wave

import numpy as np
import tensorflow as tf


def resample(waveform, rate, target_rate: int):
    """A mono waveform resampled from `rate` to `target_rate` Hz, band-limited, in the graph.

    The whole signal is transformed with a real FFT, its spectrum cut (down-sampling:
    everything above the new Nyquist frequency goes) or padded with zeros (up-sampling),
    and transformed back at the new length, as `scipy.signal.resample` does.

    Args:
        waveform: float32 samples, `[samples]`.
        rate: the waveform's sample rate in Hz (a scalar, may be a tensor).
        target_rate: the sample rate wanted, in Hz.

    Returns:
        float32 samples `[round(samples * target_rate / rate)]`.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    rate = tf.cast(rate, tf.int64)
    n = tf.cast(tf.shape(waveform)[0], tf.int64)
    m = (n * target_rate + rate // 2) // rate  # rounded

    def change():
        spectrum = tf.signal.rfft(waveform[None, :], [tf.cast(n, tf.int32)])
        bins = m // 2 + 1
        kept = spectrum[:, :tf.minimum(bins, tf.shape(spectrum, out_type=tf.int64)[1])]
        kept = tf.pad(kept, [[0, 0], [0, bins - tf.shape(kept, out_type=tf.int64)[1]]])
        out = tf.signal.irfft(kept, [tf.cast(m, tf.int32)])[0]
        return out * tf.cast(m, tf.float32) / tf.cast(n, tf.float32)

    same = tf.logical_or(tf.equal(rate, target_rate), tf.less(n, 2))
    return tf.cond(same, lambda: waveform, change)


def decode_wav(contents, sample_rate: int):
    """WAV file bytes -> `(waveform, length)`: mono float32 in [-1, 1] at `sample_rate`.

    Decodes 16-bit PCM WAV with `tf.audio.decode_wav`, averages the channels and
    resamples to `sample_rate`. A file that is not such a WAV raises
    `tf.errors.InvalidArgumentError`.

    Args:
        contents: a scalar string tensor, the file's bytes.
        sample_rate: the rate of the returned samples, in Hz.
    """
    audio, rate = tf.audio.decode_wav(contents)
    mono = tf.reduce_mean(audio, axis=1)
    waveform = resample(mono, rate, sample_rate)
    return waveform, tf.shape(waveform)[0]


def wav_bytes(samples, sample_rate: int) -> bytes:
    """A 16-bit PCM mono WAV file holding `samples` (float in [-1, 1], or int16).

    Args:
        samples: a 1-D array.
        sample_rate: its sample rate in Hz.
    """
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        samples = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


class WavReader:
    """Decodes WAV file bytes eagerly, one file at a time, with one traced graph.

    Args:
        sample_rate: the rate of the returned samples, in Hz.

    Example:
        >>> reader = WavReader(16000)
        >>> samples = reader(open("a.wav", "rb").read())  # int16 numpy array at 16 kHz
    """

    def __init__(self, sample_rate: int):
        self.sample_rate = int(sample_rate)
        self._decode = tf.function(lambda b: decode_wav(b, self.sample_rate)[0],
                                   input_signature=[tf.TensorSpec([], tf.string)])

    def __call__(self, contents: bytes) -> np.ndarray:
        """The file's samples as int16 at `sample_rate`; raises `ValueError` naming why a
        file cannot be decoded."""
        try:
            waveform = self._decode(tf.constant(contents)).numpy()
        except tf.errors.InvalidArgumentError as e:
            reason = re.sub(r"\{\{function_node[^}]*\}\}\s*", "", e.message).splitlines()[0]
            raise ValueError(f"not a readable 16-bit PCM WAV file ({reason.strip()})") \
                from None
        return np.round(np.clip(waveform, -1.0, 1.0) * 32767).astype(np.int16)
