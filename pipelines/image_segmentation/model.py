"""The segmentation models: a U-Net and, as its ablation, the same net without skips."""

from __future__ import annotations

import keras

from suite.blocks import ConvBlock, DebiasedBatchNormalization, UpsampleBlock


def build_unet(input_shape, num_classes: int, config, skips: bool = True) -> keras.Model:
    """A U-Net: encoder stages of `ConvBlock`s, each followed by 2x2 max pooling, a bottom
    block, then one `UpsampleBlock` per stage that joins the encoder's map of its size
    (the skip connection) and a 1x1 convolution to per-pixel class probabilities.

    With `skips=False` it is the same encoder-decoder with no skip connections: all the
    decoder knows of a pixel's position comes through the bottleneck, which is what the
    skips are measured against.

    Args:
        input_shape: `(height, width, channels)` of the pixels in [0, 1]; height and width
            divisible by `2 ** len(config.filters)`.
        num_classes: the number of classes (background included).
        config: the `model` section (`UNetConfig`).
        skips: whether the decoder joins the encoder's feature maps.
    """
    filters = tuple(config.filters)
    stages = len(filters)
    if input_shape[0] % 2 ** stages or input_shape[1] % 2 ** stages:
        raise ValueError(f"build_unet input_shape: got {tuple(input_shape)}, expected a height "
                         f"and width divisible by {2 ** stages} ({stages} pooling stages)")
    # Layers.
    standardize = (DebiasedBatchNormalization(momentum=config.norm_momentum, center=False,
                                              scale=False, name="standardize")
                   if config.standardize else None)
    down = [ConvBlock(width, kernel_size=config.kernel_size, convs=config.convs_per_stage,
                      momentum=config.norm_momentum, l2=config.l2, name=f"down_{i}")
            for i, width in enumerate(filters)]
    pool = keras.layers.MaxPooling2D(2, name="pool")
    bottom = ConvBlock(config.bottom_filters, kernel_size=config.kernel_size,
                       convs=config.convs_per_stage, momentum=config.norm_momentum,
                       dropout=config.dropout, l2=config.l2, name="bottom")
    up = [UpsampleBlock(width, mode=config.upsampling, convs=config.convs_per_stage,
                        kernel_size=config.kernel_size, momentum=config.norm_momentum,
                        l2=config.l2, name=f"up_{i}")
          for i, width in reversed(list(enumerate(filters)))]
    head = keras.layers.Conv2D(num_classes, 1, activation="softmax", dtype="float32",
                               name="classes")
    # Graph.
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs if standardize is None else standardize(inputs)
    features = []
    for block in down:
        x = block(x)
        features.append(x)
        x = pool(x)
    x = bottom(x)
    for block, skip in zip(up, reversed(features)):
        x = block(x, skip) if skips else block(x)
    outputs = head(x)
    # Model.
    return keras.Model(inputs, outputs, name="unet" if skips else "encoder_decoder")
