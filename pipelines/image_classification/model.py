"""The image-classification models: the CNN and the MLP baseline, from suite.blocks."""

from __future__ import annotations

import keras

from suite.blocks import ConvBlock, DenseHead


def build_cnn(input_shape, num_classes: int, config) -> keras.Model:
    """Stages of `ConvBlock`s (each ending in 2x2 max pooling) and a `DenseHead`.

    Args:
        input_shape: `(height, width, channels)` of the pixels in [0, 1].
        num_classes: the number of classes.
        config: the `model` section (`CNNConfig`).
    """
    # Layers.
    stages = [
        ConvBlock(filters, kernel_size=config.kernel_size, convs=config.convs_per_stage,
                  pool_size=2, dropout=config.conv_dropout, l2=config.l2, name=f"stage_{i}")
        for i, filters in enumerate(config.filters)
    ]
    head = DenseHead(num_classes, hidden=config.dense_units, dropout=config.dropout,
                     l2=config.l2, name="head")
    # Graph.
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs
    for stage in stages:
        x = stage(x)
    outputs = head(x)
    # Model.
    return keras.Model(inputs, outputs, name="cnn")


def build_mlp(input_shape, num_classes: int, config) -> keras.Model:
    """The baseline: the dense head alone on the flattened pixels (no convolutions)."""
    head = DenseHead(num_classes, hidden=config.mlp_hidden, dropout=config.dropout,
                     l2=config.l2, name="head")
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    return keras.Model(inputs, head(inputs), name="mlp")
