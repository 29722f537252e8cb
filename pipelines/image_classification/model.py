"""The image-classification models: the CNN and the MLP baseline, from suite.blocks."""

from __future__ import annotations

import keras

from pipelines.image_classification.config import default_filters
from suite.blocks import ConvBlock, DebiasedBatchNormalization, DenseHead

_POOLING = {"average": keras.layers.GlobalAveragePooling2D,
            "max": keras.layers.GlobalMaxPooling2D}


def build_cnn(input_shape, num_classes: int, config) -> keras.Model:
    """Standardised pixels, stages of `ConvBlock`s (each ending in 2x2 max pooling), global
    pooling and a `DenseHead`.

    `config.standardize` centres and scales each channel by running batch statistics (a
    batch norm without offset or scale). Raw pixels have a large mean (white or dark
    backgrounds) and a small spread, so without it the first convolution's output mean
    moves by a sizeable share of its spread at every Adam step, and batch-norm moving
    averages lag behind it: inference-mode accuracy then swings far below training-mode
    accuracy between epochs. The pixels' own statistics do not move during training.

    Without `config.filters` the stages follow the input size (`default_filters`): one
    per halving until the map is at most 4x4, so the receptive field covers the image.
    Global pooling keeps the head's weights independent of the image area (a flattened
    16x16x64 map would feed 16,384 inputs to each head unit).

    Args:
        input_shape: `(height, width, channels)` of the pixels in [0, 1].
        num_classes: the number of classes.
        config: the `model` section (`CNNConfig`).
    """
    filters = config.filters or default_filters(min(input_shape[0], input_shape[1]))
    if config.pooling not in (*_POOLING, "flatten"):
        raise ValueError(f"build_cnn config.pooling: got {config.pooling!r}, expected "
                         f"one of {', '.join((*_POOLING, 'flatten'))}")
    # Layers.
    standardize = (DebiasedBatchNormalization(momentum=config.norm_momentum, center=False,
                                              scale=False, name="standardize")
                   if config.standardize else None)
    stages = [
        ConvBlock(width, kernel_size=config.kernel_size, convs=config.convs_per_stage,
                  momentum=config.norm_momentum, pool_size=2, dropout=config.conv_dropout,
                  l2=config.l2, name=f"stage_{i}")
        for i, width in enumerate(filters)
    ]
    pool = _POOLING[config.pooling](name="pool") if config.pooling in _POOLING else None
    head = DenseHead(num_classes, hidden=config.dense_units, dropout=config.dropout,
                     l2=config.l2, name="head")
    # Graph.
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs if standardize is None else standardize(inputs)
    for stage in stages:
        x = stage(x)
    if pool is not None:
        x = pool(x)
    outputs = head(x)
    # Model.
    return keras.Model(inputs, outputs, name="cnn")


def build_mlp(input_shape, num_classes: int, config) -> keras.Model:
    """The baseline: the dense head alone on the flattened pixels (no convolutions)."""
    head = DenseHead(num_classes, hidden=config.mlp_hidden, dropout=config.dropout,
                     l2=config.l2, name="head")
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    return keras.Model(inputs, head(inputs), name="mlp")
