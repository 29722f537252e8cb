"""SpecAugment: random frequency and time masks on spectrogram frames, in training only."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="suite")
class SpecAugment(keras.layers.Layer):
    """Masks random bands of frequencies and runs of frames to 0 while training.

    Park et al. (2019), without time warping: each example gets `freq_masks` bands of
    up to `freq_mask_width` channels and `time_masks` runs of up to `time_mask_width`
    frames set to 0 (the mean of per-utterance-normalised features). Outside training the
    input passes unchanged.

    Called on `[batch, frames, channels]` features.

    Args:
        freq_masks: frequency masks per example.
        freq_mask_width: the widest frequency mask, in channels.
        time_masks: time masks per example.
        time_mask_width: the longest time mask, in frames.
        seed: the random seed.
        **kwargs: standard layer arguments.

    Example:
        >>> layer = SpecAugment(freq_masks=2, freq_mask_width=8, time_masks=2,
        ...                     time_mask_width=20)
        >>> layer(keras.ops.ones((2, 100, 64)), training=True).shape
        (2, 100, 64)
    """

    def __init__(self, freq_masks=2, freq_mask_width=10, time_masks=2, time_mask_width=20,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("freq_masks", freq_masks), ("time_masks", time_masks)):
            if int(value) < 0:
                raise ValueError(f"SpecAugment {name}: got {value!r}, expected an integer "
                                 ">= 0")
        for name, value in (("freq_mask_width", freq_mask_width),
                            ("time_mask_width", time_mask_width)):
            if int(value) < 1:
                raise ValueError(f"SpecAugment {name}: got {value!r}, expected an integer "
                                 ">= 1")
        self.freq_masks = int(freq_masks)
        self.freq_mask_width = int(freq_mask_width)
        self.time_masks = int(time_masks)
        self.time_mask_width = int(time_mask_width)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def _keep(self, batch, size, masks, width):
        """`[batch, size]` 1.0 outside `masks` random runs of up to `width`, 0.0 inside."""
        positions = tf.range(size)[None, :]
        keep = tf.ones([batch, size], tf.bool)
        for _ in range(masks):
            span = tf.cast(keras.random.uniform([batch, 1], 0, width + 1,
                                                seed=self._generator), tf.int32)
            span = tf.minimum(span, size)
            start = tf.cast(keras.random.uniform([batch, 1], 0, 1, seed=self._generator)
                            * tf.cast(size - span + 1, tf.float32), tf.int32)
            keep &= ~((positions >= start) & (positions < start + span))
        return keep

    def call(self, inputs, training=None):
        if not training or (self.freq_masks == 0 and self.time_masks == 0):
            return inputs
        shape = tf.shape(inputs)
        keep_freq = self._keep(shape[0], shape[2], self.freq_masks, self.freq_mask_width)
        keep_time = self._keep(shape[0], shape[1], self.time_masks, self.time_mask_width)
        keep = keep_time[:, :, None] & keep_freq[:, None, :]
        return tf.where(keep, inputs, tf.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "freq_masks": self.freq_masks, "freq_mask_width": self.freq_mask_width,
            "time_masks": self.time_masks, "time_mask_width": self.time_mask_width,
            "seed": self.seed,
        })
        return config
