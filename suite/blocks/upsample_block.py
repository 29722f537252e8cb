"""UpsampleBlock: the decoder step of a U-Net: up-sampling, skip concatenation, convolutions."""

from __future__ import annotations

import keras

from suite.blocks.conv_block import ConvBlock

_MODES = ("transpose", "bilinear", "nearest")


@keras.saving.register_keras_serializable(package="suite")
class UpsampleBlock(keras.layers.Layer):
    """Doubles a feature map's height and width, joins the encoder's map of that size, then
    refines the result with a `ConvBlock`.

    The encoder of a U-Net loses position as it pools; the decoder gets it back by
    concatenating, at each scale, the encoder's feature map from before pooling (the skip
    connection). Without a skip the block only up-samples and convolves, which is the
    encoder-decoder a U-Net is measured against.

    Args:
        filters: the feature maps of the up-sampling and of each convolution.
        mode: `"transpose"` (a learned 2x2 transposed convolution with stride 2),
            `"bilinear"` or `"nearest"` (fixed up-sampling followed by a 3x3 convolution).
        convs: how many convolutions follow the concatenation.
        kernel_size: their window.
        momentum: their batch norms' moving-average momentum (see `ConvBlock`).
        dropout: dropout after the convolutions (0 for none).
        l2: the L2 weight-decay factor on every kernel (0 for none).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: the coarse feature map, `(batch, height, width, channels)`.
        skip: optional; the encoder's map of `(batch, 2 * height, 2 * width, c)`.

    Example:
        >>> block = UpsampleBlock(16)
        >>> block(keras.ops.zeros((2, 4, 4, 32)), keras.ops.zeros((2, 8, 8, 16))).shape
        (2, 8, 8, 16)
    """

    def __init__(self, filters, mode="transpose", convs=2, kernel_size=3, momentum=0.9,
                 dropout=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"UpsampleBlock filters: got {filters!r}, expected an integer "
                             ">= 1")
        if mode not in _MODES:
            raise ValueError(f"UpsampleBlock mode: got {mode!r}, expected one of "
                             f"{', '.join(_MODES)}")
        self.filters = int(filters)
        self.mode = mode
        self.convs = int(convs)
        self.kernel_size = kernel_size
        self.momentum = float(momentum)
        self.dropout = float(dropout)
        self.l2 = float(l2)

    def build(self, inputs_shape, skip_shape=None):
        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        if self.mode == "transpose":
            self._up = [keras.layers.Conv2DTranspose(
                self.filters, 2, strides=2, kernel_regularizer=regularizer,
                dtype=self.dtype_policy, name="up")]
        else:
            self._up = [
                keras.layers.UpSampling2D(2, interpolation=self.mode, dtype=self.dtype_policy),
                keras.layers.Conv2D(self.filters, 3, padding="same",
                                    kernel_regularizer=regularizer, dtype=self.dtype_policy,
                                    name="up"),
            ]
        shape = tuple(inputs_shape)
        for layer in self._up:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        if skip_shape is not None:
            shape = (*shape[:-1], shape[-1] + skip_shape[-1])
        self._refine = ConvBlock(self.filters, kernel_size=self.kernel_size, convs=self.convs,
                                 momentum=self.momentum, dropout=self.dropout, l2=self.l2,
                                 dtype=self.dtype_policy, name="refine")
        self._refine.build(shape)

    def call(self, inputs, skip=None, training=None):
        x = inputs
        for layer in self._up:
            x = layer(x)
        if skip is not None:
            x = keras.ops.concatenate([x, keras.ops.cast(skip, x.dtype)], axis=-1)
        return self._refine(x, training=training)

    def compute_output_shape(self, inputs_shape, skip_shape=None):
        batch, height, width = inputs_shape[0], inputs_shape[1], inputs_shape[2]
        return (batch, None if height is None else 2 * height,
                None if width is None else 2 * width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "mode": self.mode, "convs": self.convs,
            "kernel_size": self.kernel_size, "momentum": self.momentum,
            "dropout": self.dropout, "l2": self.l2,
        })
        return config
