"""ConvSubsampling: strided 2-D convolutions over a spectrogram, flattened to frame vectors."""

from __future__ import annotations

import keras
import tensorflow as tf

from suite.blocks.debiased_batch_normalization import DebiasedBatchNormalization


@keras.saving.register_keras_serializable(package="suite")
class ConvSubsampling(keras.layers.Layer):
    """Conv2D (stride 2 over time and frequency) -> batch norm -> activation, per entry of
    `filters`; then each output frame's channels and frequencies are flattened.

    The convolutional front of DeepSpeech 2 and of the Conformer: each convolution halves
    the frame rate the recurrent layers after it must step through, and striding (rather
    than convolving at full resolution and pooling) makes it four times cheaper.

    Called on `[batch, frames, bins]` features, with an optional `mask` `[batch, frames]`
    of the real frames (padding after them): then every stage's frames beyond the real
    ones are set to 0, so an utterance's output is the same alone and padded in a batch,
    and the output carries the mask of its own real frames. Returns `[batch, ceil(frames / 2^n),
    ceil(bins / 2^n) * filters[-1]]` for `n = len(filters)`. `output_lengths(lengths)`
    gives the real output frames of inputs of `lengths` frames.

    Args:
        filters: the feature maps of each convolution, one convolution per entry.
        kernel_size: the convolution window (an int or a pair).
        activation: the activation after each batch norm.
        momentum: the batch norm's moving-average momentum (see `ConvBlock`).
        **kwargs: standard layer arguments.

    Example:
        >>> layer = ConvSubsampling((8, 16))
        >>> layer(keras.ops.zeros((2, 100, 64))).shape
        (2, 25, 256)
    """

    def __init__(self, filters=(32, 32), kernel_size=3, activation="relu", momentum=0.9,
                 **kwargs):
        super().__init__(**kwargs)
        filters = tuple(int(f) for f in (filters if isinstance(filters, (list, tuple))
                                         else [filters]))
        if not filters or min(filters) < 1:
            raise ValueError(f"ConvSubsampling filters: got {filters!r}, expected one or "
                             "more integers >= 1")
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if len(tuple(kernel)) != 2 or any(int(k) < 1 or int(k) % 2 == 0 for k in kernel):
            raise ValueError(f"ConvSubsampling kernel_size: got {kernel_size!r}, expected an "
                             "odd integer or a pair of odd integers")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"ConvSubsampling momentum: got {momentum!r}, expected "
                             "0 <= momentum < 1")
        self.filters = filters
        self.kernel_size = kernel_size
        self._pads = tuple(int(k) // 2 for k in kernel)
        self.activation = activation
        self.momentum = float(momentum)
        self.supports_masking = True

    def build(self, input_shape):
        shape = (input_shape[0], input_shape[1], input_shape[2], 1)
        self._stack = []
        for i, f in enumerate(self.filters):
            conv = keras.layers.Conv2D(f, self.kernel_size, strides=2, padding="valid",
                                       use_bias=False, dtype=self.dtype_policy,
                                       name=f"conv_{i}")
            conv.build((shape[0], None, None, shape[3]))
            shape = (shape[0], self._halved(shape[1]), self._halved(shape[2]), f)
            norm = DebiasedBatchNormalization(momentum=self.momentum, dtype=self.dtype_policy,
                                              name=f"norm_{i}")
            norm.build(shape)
            self._stack += [conv, norm,
                            keras.layers.Activation(self.activation, dtype=self.dtype_policy)]

    def output_lengths(self, lengths):
        """Real output frames of inputs with `lengths` real frames: halved (rounding up)
        once per convolution."""
        lengths = tf.cast(lengths, tf.int32)
        for _ in self.filters:
            lengths = (lengths + 1) // 2
        return lengths

    @staticmethod
    def _halved(size):
        return None if size is None else -(-size // 2)

    def _bins(self, bins):
        for _ in self.filters:
            bins = self._halved(bins)
        return bins

    def call(self, inputs, training=None, mask=None):
        x = inputs[..., None]
        (pt, pf) = self._pads
        lengths = None if mask is None else tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        for layer in self._stack:
            if lengths is not None and isinstance(layer, keras.layers.Conv2D):
                real = tf.sequence_mask(lengths, tf.shape(x)[1], x.dtype)
                x = x * real[:, :, None, None]
                lengths = (lengths + 1) // 2
            if isinstance(layer, keras.layers.Conv2D):
                # the same padding on both sides whatever the length, so an utterance's
                # frames are the same alone and padded in a batch ("same" padding is not)
                x = layer(tf.pad(x, [[0, 0], [pt, pt], [pf, pf], [0, 0]]))
            elif isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=training)
            else:
                x = layer(x)
        if lengths is not None:
            x = x * tf.sequence_mask(lengths, tf.shape(x)[1], x.dtype)[:, :, None, None]
        width = self._bins(inputs.shape[2]) * self.filters[-1]
        return tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], width])

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        lengths = self.output_lengths(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
        frames = tf.shape(inputs)[1]
        for _ in self.filters:
            frames = (frames + 1) // 2
        return tf.sequence_mask(lengths, frames)

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        for _ in self.filters:
            frames = self._halved(frames)
        return (input_shape[0], frames, self._bins(input_shape[2]) * self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters), "kernel_size": self.kernel_size,
                       "activation": self.activation, "momentum": self.momentum})
        return config
