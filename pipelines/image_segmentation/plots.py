"""The segmentation pipeline's own figures: class colours and example masks over their
images (`suite.plots` holds the figures of any task)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def class_palette(count: int) -> list[list[int]]:
    """Distinct RGB colours for `count` classes: black for class 0 (usually background),
    then matplotlib's tab10 and tab20 colours, then evenly spaced hues."""
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb

    colours = [(0.0, 0.0, 0.0)]
    colours += [colormaps["tab10"](i)[:3] for i in range(10)]
    colours += [colormaps["tab20"](i)[:3] for i in range(1, 20, 2)]
    extra = max(0, count - len(colours))
    colours += [tuple(hsv_to_rgb((i / max(extra, 1), 0.8, 0.9))) for i in range(extra)]
    return [[int(round(255 * c)) for c in colour] for colour in colours[:count]]


def segmentation_grid(images, true_masks, predicted: dict[str, np.ndarray],
                      classes: list[str], palette, title: str = "") -> Figure:
    """Rows of examples: the image, then its true mask and each model's predicted mask
    laid over it in class colours, with a legend of the classes shown.

    Args:
        images: `[n, h, w, c]` pixels in [0, 1] (c is 1 or 3).
        true_masks: `[n, h, w]` class ids.
        predicted: column title -> `[n, h, w]` predicted class ids.
        classes: the class names by id.
        palette: an RGB colour (0-255) per class.
        title: the figure title.
    """
    from matplotlib.patches import Patch

    images, true_masks = np.asarray(images), np.asarray(true_masks)
    colours = np.asarray(palette, float) / 255.0
    columns = {"true mask": true_masks, **predicted}
    n = len(images)
    figure = Figure(figsize=(2.2 * (1 + len(columns)) + 1.6, 2.2 * n + 0.6),
                    layout="constrained")
    axes = figure.subplots(n, 1 + len(columns), squeeze=False)
    for row in range(n):
        image = images[row]
        rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
        axes[row, 0].imshow(rgb, interpolation="nearest")
        for col, (name, masks) in enumerate(columns.items(), start=1):
            mask = np.asarray(masks[row])
            overlay = np.where((mask > 0)[..., None], 0.35 * rgb + 0.65 * colours[mask], rgb)
            axes[row, col].imshow(np.clip(overlay, 0, 1), interpolation="nearest")
            if row == 0:
                axes[row, col].set_title(name, fontsize=9)
        if row == 0:
            axes[row, 0].set_title("image", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    shown = sorted(set(np.unique(true_masks)).union(*(np.unique(m) for m in predicted.values())))
    handles = [Patch(color=colours[i], label=classes[i]) for i in shown if i < len(classes)]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, title="class")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
