"""Scenes composed from scikit-learn's digits: the segmentation pipeline's embedded data.

A scene is a square grey canvas holding 1 to 4 digits, each upscaled (bicubic) from its
8x8 original to a random size and dropped at a random position; later digits are drawn
over earlier ones, covering at most a fifth of any digit (`max_overlap`). The digit's own intensity is its opacity, so its ink covers what lies
below in proportion, and the mask labels a pixel with the digit whose opacity there is
over one half, the topmost winning where digits overlap (0 is background, 1-10 the digits
0-9). Light Gaussian noise and faint clutter strokes (unlabelled) are optional.

Composition is numpy slicing over digit images resized once per (digit, size), so a few
thousand scenes take about a second, and a seeded generator makes each split the same
every time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CLASSES = ["background", *(str(d) for d in range(10))]
OPAQUE = 0.5  # a digit pixel belongs to the digit's class where its opacity is above this


def load_digits_pool():
    """scikit-learn's 1,797 digits as `(images in [0, 1] of shape (n, 8, 8), labels)`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int32)


def compose_scenes(digits: np.ndarray, labels: np.ndarray, count: int, size: int,
                   seed: int, *, per_scene=(1, 4), scale=(0.25, 0.5), noise=0.05,
                   clutter=0, max_overlap=0.2, tries=20):
    """Composes `count` scenes from the given digit images.

    Args:
        digits: `(n, h, w)` digit images, intensity in [0, 1] (the opacity of their ink).
        labels: the digit of each image (0-9); the mask class is `label + 1`.
        count: how many scenes.
        size: the scenes' side in pixels.
        seed: the generator's seed; the same arguments give the same scenes.
        per_scene: the least and most digits in a scene.
        scale: the least and most side of a digit as a share of the scene's side.
        noise: the standard deviation of Gaussian pixel noise (0 for none).
        clutter: how many faint random strokes each scene gets (never labelled).
        max_overlap: the largest share of a digit's labelled pixels that another digit
            may cover, for the new digit and for each one below it (1: any overlap). A
            digit mostly hidden by others cannot be told from its visible fragment (a
            covered 8 shows a 3), so its labels would be noise.
        tries: random positions tried for a digit before it is left out of the scene.

    Returns:
        `(images, masks)`: uint8 arrays of shape `(count, size, size)`; the images are grey
        levels, the masks class ids.
    """
    lo, hi = max(1, round(scale[0] * size)), max(1, round(scale[1] * size))
    if hi > size or lo > hi:
        raise ValueError(f"compose_scenes scale: got {scale!r}, expected 0 < low <= high "
                         "<= 1 (a share of the scene's side)")
    if not 1 <= per_scene[0] <= per_scene[1]:
        raise ValueError(f"compose_scenes per_scene: got {per_scene!r}, expected "
                         "1 <= least <= most")
    rng = np.random.default_rng(seed)
    resized: dict[tuple[int, int], np.ndarray] = {}
    images = np.zeros((count, size, size), np.float32)
    masks = np.zeros((count, size, size), np.uint8)
    for n in range(count):
        canvas, mask = images[n], masks[n]
        owner = np.zeros((size, size), np.int32)  # which placed digit (1, 2, ...) shows
        for _ in range(clutter):
            _stroke(canvas, rng)
        for placed in range(1, rng.integers(per_scene[0], per_scene[1] + 1) + 1):
            i = int(rng.integers(len(digits)))
            side = int(rng.integers(lo, hi + 1))
            key = (i, side)
            if key not in resized:
                resized[key] = _resize(digits[i], side)
            alpha = resized[key]
            opaque = alpha > OPAQUE
            for _ in range(tries):
                y, x = rng.integers(0, size - side + 1, size=2)
                if _fits(owner, opaque, y, x, placed, max_overlap):
                    break
            else:
                continue
            ink = rng.uniform(0.7, 1.0)
            region = canvas[y:y + side, x:x + side]
            region *= 1.0 - alpha
            region += alpha * ink
            mask[y:y + side, x:x + side][opaque] = labels[i] + 1
            owner[y:y + side, x:x + side][opaque] = placed
    if noise > 0:
        images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), masks


def _fits(owner: np.ndarray, opaque: np.ndarray, y: int, x: int, placed: int,
          max_overlap: float) -> bool:
    """Whether a digit at `(y, x)` covers at most `max_overlap` of its own labelled pixels
    and of each earlier digit's visible ones."""
    if max_overlap >= 1.0:
        return True
    below = owner[y:y + opaque.shape[0], x:x + opaque.shape[1]][opaque]
    covered = np.bincount(below, minlength=placed)[1:]
    if covered.sum() > max_overlap * max(opaque.sum(), 1):
        return False
    visible = np.bincount(owner.ravel(), minlength=placed)[1:]
    return bool(np.all(covered <= max_overlap * np.maximum(visible, 1)))


def _resize(digit: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray(digit.astype(np.float32), mode="F")
    return np.clip(np.asarray(image.resize((side, side), Image.BICUBIC)), 0.0, 1.0)


def _stroke(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A faint straight stroke, one to two pixels wide, anywhere on the canvas."""
    size = canvas.shape[0]
    (y0, x0), (y1, x1) = rng.uniform(0, size - 1, size=(2, 2))
    steps = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    ys = np.linspace(y0, y1, steps).round().astype(int)
    xs = np.linspace(x0, x1, steps).round().astype(int)
    level = rng.uniform(0.15, 0.35)
    canvas[ys, xs] = np.maximum(canvas[ys, xs], level)
    if rng.uniform() < 0.5:
        canvas[np.minimum(ys + 1, size - 1), xs] = np.maximum(
            canvas[np.minimum(ys + 1, size - 1), xs], level)
