"""ConvBlock: convolutions with batch norm, activation, optional max pooling and dropout."""

from __future__ import annotations

import keras

from suite.blocks.debiased_batch_normalization import DebiasedBatchNormalization


@keras.saving.register_keras_serializable(package="suite")
class ConvBlock(keras.layers.Layer):
    """`convs` x (Conv2D -> BatchNorm -> activation), then optional max pooling and dropout.

    The CNN's unit: local receptive fields with shared weights make feature maps; max
    pooling makes them tolerant to small shifts; L2 weight decay and dropout regularise.
    Batch norm is `DebiasedBatchNormalization`: its inference statistics are right from
    the first training step, so validation accuracy tracks training accuracy even on a
    folder of a few hundred images (a few batches per epoch).

    Args:
        filters: the number of feature maps of each convolution.
        kernel_size: the convolution window (an int or a pair).
        convs: how many convolutions are stacked before pooling.
        activation: the activation after each batch norm (any Keras activation name).
        batch_norm: whether to normalise each convolution's output (the conv then has
            no bias of its own).
        momentum: the batch norm's moving-average momentum: the inference statistics
            weigh the last `1 / (1 - momentum)` batches most (0.9: about 10). Keras'
            default 0.99 lags behind weights that change fast early in training.
        pool_size: the max-pooling window after the convolutions; `None` for no pooling.
        dropout: the dropout rate applied last (0 for none).
        l2: the L2 weight-decay factor on the convolution kernels (0 for none).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Example:
        >>> block = ConvBlock(32, pool_size=2, dropout=0.1)
        >>> block(keras.ops.zeros((4, 8, 8, 1))).shape
        (4, 4, 4, 32)
    """

    def __init__(self, filters, kernel_size=3, convs=1, activation="relu", batch_norm=True,
                 momentum=0.9, pool_size=None, dropout=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"ConvBlock filters: got {filters!r}, expected an integer >= 1")
        if int(convs) < 1:
            raise ValueError(f"ConvBlock convs: got {convs!r}, expected an integer >= 1")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"ConvBlock momentum: got {momentum!r}, expected "
                             "0 <= momentum < 1")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"ConvBlock dropout: got {dropout!r}, expected 0 <= dropout < 1")
        self.filters = int(filters)
        self.kernel_size = kernel_size
        self.convs = int(convs)
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.momentum = float(momentum)
        self.pool_size = pool_size
        self.dropout = float(dropout)
        self.l2 = float(l2)

    def build(self, input_shape):
        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        self._stack = []
        shape = tuple(input_shape)
        for i in range(self.convs):
            conv = keras.layers.Conv2D(
                self.filters, self.kernel_size, padding="same", use_bias=not self.batch_norm,
                kernel_regularizer=regularizer, dtype=self.dtype_policy, name=f"conv_{i}",
            )
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            self._stack.append(conv)
            if self.batch_norm:
                norm = DebiasedBatchNormalization(momentum=self.momentum,
                                                  dtype=self.dtype_policy, name=f"norm_{i}")
                norm.build(shape)
                self._stack.append(norm)
            self._stack.append(keras.layers.Activation(self.activation, dtype=self.dtype_policy))
        self._pool = None
        if self.pool_size:
            self._pool = keras.layers.MaxPooling2D(self.pool_size, dtype=self.dtype_policy)
        self._dropout = keras.layers.Dropout(self.dropout) if self.dropout > 0 else None

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._stack:
            x = layer(x, training=training) if isinstance(
                layer, keras.layers.BatchNormalization) else layer(x)
        if self._pool is not None:
            x = self._pool(x)
        if self._dropout is not None:
            x = self._dropout(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[0], input_shape[1], input_shape[2]
        if self.pool_size:
            ph, pw = ((self.pool_size, self.pool_size) if isinstance(self.pool_size, int)
                      else tuple(self.pool_size))
            height = None if height is None else height // ph
            width = None if width is None else width // pw
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "convs": self.convs,
            "activation": self.activation, "batch_norm": self.batch_norm,
            "momentum": self.momentum, "pool_size": self.pool_size, "dropout": self.dropout,
            "l2": self.l2,
        })
        return config
