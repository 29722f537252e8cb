"""Random geometric augmentation that moves an image and its dense target together."""

from __future__ import annotations

import math

import tensorflow as tf

FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")


def joint_affine(flip: str = "none", rotation: float = 0.0, zoom: float = 0.0,
                 translation: float = 0.0, seed: int | None = None):
    """A per-batch augmentation `(images, masks) -> (images, masks)` that applies the same
    random flip, rotation, zoom and shift to each image and its mask.

    Images are resampled bilinearly, masks by nearest neighbour (a class id is never
    blended with its neighbour's); what moves in from outside is 0 in both (black pixels,
    class 0). Keras' random image layers draw their own transform for each input, so
    they cannot keep a mask aligned with its image; one transform matrix per example,
    applied to both with `ImageProjectiveTransformV3`, does.

    Args:
        flip: `"none"`, `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`: each
            direction is flipped with probability one half.
        rotation: the largest rotation either way, as a share of a full turn.
        zoom: the largest zoom in or out, as a share of the size.
        translation: the largest shift either way, as a share of the size.
        seed: the seed of the random draws.

    Returns:
        The function, or `None` when every setting is off.

    Example:
        >>> augment = joint_affine(flip="horizontal", rotation=0.05)
        >>> images, masks = augment(images, masks)  # [b, h, w, c] floats, [b, h, w] ints
    """
    if flip not in FLIPS:
        raise ValueError(f"joint_affine flip: got {flip!r}, expected one of {', '.join(FLIPS)}")
    for name, value in (("rotation", rotation), ("zoom", zoom), ("translation", translation)):
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"joint_affine {name}: got {value!r}, expected 0 <= {name} < 1")
    if flip == "none" and not (rotation or zoom or translation):
        return None
    generator = tf.random.Generator.from_seed(seed or 0)

    def augment(images, masks):
        shape = tf.shape(images)
        batch = shape[0]
        height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        transforms = _transforms(generator, batch, height, width, flip, rotation, zoom,
                                 translation)
        output_shape = shape[1:3]
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=output_shape,
            fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
        mask_images = tf.cast(masks[..., None], tf.float32)
        moved_masks = tf.raw_ops.ImageProjectiveTransformV3(
            images=mask_images, transforms=transforms, output_shape=output_shape,
            fill_value=0.0, interpolation="NEAREST", fill_mode="CONSTANT")
        moved.set_shape(images.shape)
        moved_masks = tf.cast(moved_masks[..., 0], masks.dtype)
        moved_masks.set_shape(masks.shape)
        return moved, moved_masks

    return augment


def _transforms(generator, batch, height, width, flip, rotation, zoom, translation):
    """Per-example matrices `[a0, a1, a2, b0, b1, b2, 0, 0]` mapping each output pixel
    `(x, y)` to the input point `(a0 x + a1 y + a2, b0 x + b1 y + b2)` it samples."""
    def uniform(low, high):
        return generator.uniform([batch], low, high)

    def sign(enabled):
        if not enabled:
            return tf.ones([batch])
        return tf.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)

    flip_x = sign(flip in ("horizontal", "horizontal_and_vertical"))
    flip_y = sign(flip in ("vertical", "horizontal_and_vertical"))
    angle = uniform(-rotation, rotation) * 2.0 * math.pi if rotation else tf.zeros([batch])
    scale = uniform(1.0 - zoom, 1.0 + zoom) if zoom else tf.ones([batch])
    shift_x = uniform(-translation, translation) * width if translation else tf.zeros([batch])
    shift_y = uniform(-translation, translation) * height if translation else tf.zeros([batch])
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # input = centre + R(angle) * scale * F * (output - centre) - shift
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    a0, a1 = cos * flip_x, -sin * flip_y
    b0, b1 = sin * flip_x, cos * flip_y
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
