"""LogMelSpectrogram: padded waveforms and their lengths -> normalised log-mel frames."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="suite")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of a batch of padded waveforms, in the graph (`tf.signal`).

    STFT with a Hann window, power spectrum, mel filter bank, `log(x + 1e-6)`; with
    `normalize`, each utterance's every mel band is then scaled to zero mean and unit
    variance over that utterance's own frames, so loudness and recording level do not
    matter. Frames beyond an utterance's length (padding) are set to 0.

    Called on `(waveform, lengths)`: `waveform` is `[batch, samples]` float, `lengths` the
    real samples of each row `[batch]`. Returns `[batch, frames, num_mel_bins]` with
    `frames = ceil(samples / frame_step)`; `frame_lengths(lengths)` gives each row's
    real frames.

    Args:
        sample_rate: the waveform's sample rate in Hz.
        num_mel_bins: mel bands.
        frame_length: the STFT window, in samples.
        frame_step: the hop between frames, in samples.
        fft_length: the FFT size; `None`: the power of two at least `frame_length`.
        lower_hertz, upper_hertz: the mel filter bank's range; `None` upper: Nyquist.
        normalize: per-utterance mean and variance normalisation of each band.
        **kwargs: standard layer arguments.

    Example:
        >>> layer = LogMelSpectrogram(16000, num_mel_bins=40, frame_length=400,
        ...                           frame_step=160)
        >>> layer(keras.ops.zeros((2, 16000)), keras.ops.array([16000, 8000])).shape
        (2, 100, 40)
    """

    def __init__(self, sample_rate=16000, num_mel_bins=64, frame_length=400, frame_step=160,
                 fft_length=None, lower_hertz=20.0, upper_hertz=None, normalize=True,
                 **kwargs):
        super().__init__(**kwargs)
        if int(frame_step) < 1 or int(frame_length) < int(frame_step):
            raise ValueError(f"LogMelSpectrogram frame_length and frame_step: got "
                             f"{frame_length!r} and {frame_step!r}, expected "
                             "1 <= frame_step <= frame_length")
        nyquist = float(sample_rate) / 2
        upper = nyquist if upper_hertz is None else float(upper_hertz)
        if not 0 <= float(lower_hertz) < upper <= nyquist:
            raise ValueError(f"LogMelSpectrogram lower_hertz and upper_hertz: got "
                             f"{lower_hertz!r} and {upper_hertz!r}, expected 0 <= lower < "
                             f"upper <= {nyquist:g} (half the sample rate)")
        if fft_length is not None and int(fft_length) < int(frame_length):
            raise ValueError(f"LogMelSpectrogram fft_length: got {fft_length!r}, expected "
                             f"at least frame_length ({frame_length})")
        self.sample_rate = int(sample_rate)
        self.num_mel_bins = int(num_mel_bins)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = None if fft_length is None else int(fft_length)
        self.lower_hertz = float(lower_hertz)
        self.upper_hertz = None if upper_hertz is None else float(upper_hertz)
        self.normalize = bool(normalize)

    @property
    def _fft(self) -> int:
        return self.fft_length or 1 << (self.frame_length - 1).bit_length()

    def build(self, input_shape):
        with tf.init_scope():  # a constant of the layer, whatever graph builds it
            self._mel = tf.signal.linear_to_mel_weight_matrix(
                self.num_mel_bins, self._fft // 2 + 1, self.sample_rate, self.lower_hertz,
                self.upper_hertz or self.sample_rate / 2).numpy()

    def frame_lengths(self, lengths):
        """The real frames of utterances of `lengths` samples: `ceil(lengths / step)`."""
        lengths = tf.cast(lengths, tf.int32)
        return (lengths + self.frame_step - 1) // self.frame_step

    def call(self, waveform, lengths):
        waveform = tf.cast(waveform, tf.float32)
        stft = tf.signal.stft(waveform, self.frame_length, self.frame_step, self._fft,
                              pad_end=True)
        power = tf.math.square(tf.abs(stft))
        features = tf.math.log(tf.tensordot(power, tf.constant(self._mel), 1) + 1e-6)
        frames = self.frame_lengths(lengths)
        mask = tf.sequence_mask(frames, tf.shape(features)[1], tf.float32)[..., None]
        if self.normalize:
            count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
            mean = tf.reduce_sum(features * mask, axis=1, keepdims=True) / count
            variance = tf.reduce_sum(tf.square(features - mean) * mask, axis=1,
                                     keepdims=True) / count
            features = (features - mean) * tf.math.rsqrt(variance + 1e-5)
        return tf.cast(features * mask, self.compute_dtype)

    def compute_output_shape(self, waveform_shape, lengths_shape=None):
        batch, samples = waveform_shape[0], waveform_shape[1]
        frames = None if samples is None else -(-samples // self.frame_step)
        return (batch, frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update({
            "sample_rate": self.sample_rate, "num_mel_bins": self.num_mel_bins,
            "frame_length": self.frame_length, "frame_step": self.frame_step,
            "fft_length": self.fft_length, "lower_hertz": self.lower_hertz,
            "upper_hertz": self.upper_hertz, "normalize": self.normalize,
        })
        return config
