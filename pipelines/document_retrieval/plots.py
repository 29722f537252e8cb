"""The document-retrieval figures: precision-recall curves and maps of the query codes."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure


def pr_curves(curves: dict[str, list[tuple[float, float]]], title: str) -> Figure:
    """Precision against recall (log scale), one line per system, as in Hinton &
    Salakhutdinov (2006), Figure 4.

    Args:
        curves: `{system: [(recall, precision), ...]}`.
        title: the figure title.
    """
    figure = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = figure.subplots()
    for (name, points), marker in zip(curves.items(), "osd^v<>"):
        recall, precision = zip(*points)
        ax.plot(recall, precision, marker=marker, ms=4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("recall (share of the query's label retrieved)")
    ax.set_ylabel("precision")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    return figure


def label_colors(count: int) -> list:
    """`count` distinguishable colours (tab20, then tab20b, then tab20c, cycling)."""
    palette = [*colormaps["tab20"].colors, *colormaps["tab20b"].colors,
               *colormaps["tab20c"].colors]
    return [palette[i % len(palette)] for i in range(count)]


def maps(panels: dict[str, np.ndarray], labels: np.ndarray, classes: list[str],
         title: str) -> Figure:
    """Side-by-side scatter maps of the same documents, coloured by label, one legend.

    Args:
        panels: `{panel title: [documents, 2] coordinates}`.
        labels: each document's label id (all `-1` when unlabeled).
        classes: label names, index = label id.
        title: the figure title.
    """
    figure = Figure(figsize=(5.2 * len(panels) + (2.6 if classes else 0), 5.4),
                    layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    colors = label_colors(len(classes))
    labels = np.asarray(labels)
    for ax, (name, points) in zip(axes, panels.items()):
        points = np.asarray(points)
        if classes:
            for i, label in enumerate(classes):
                mine = labels == i
                ax.scatter(points[mine, 0], points[mine, 1], s=5, color=colors[i],
                           alpha=0.7, linewidths=0, label=label)
        else:
            ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.6, linewidths=0)
        outside = _frame(ax, points)
        ax.set_title(name + (f"\n({outside} outlying points beyond the frame)" if outside
                             else ""))
        ax.set_xticks([])
        ax.set_yticks([])
    if classes:
        handles, names = axes[0].get_legend_handles_labels()
        figure.legend(handles, names, loc="outside right center", markerscale=3,
                      fontsize=8, ncols=1 if len(classes) <= 20 else 2, frameon=False)
    figure.suptitle(title)
    return figure


def _frame(ax, points: np.ndarray, share: float = 0.99) -> int:
    """Frames `ax` on the central `share` of `points` along each axis when a few outlying
    codes would otherwise squeeze every other point into a corner (the full extent over
    1.5x the frame's); returns how many points fall outside (0: the full view is kept)."""
    if len(points) < 20:
        return 0
    tail = (1 - share) / 2 * 100
    low, high = np.percentile(points, [tail, 100 - tail], axis=0)
    pad = (high - low) * 0.05 + 1e-9
    low, high = low - pad, high + pad
    if np.all(np.ptp(points, axis=0) <= 1.5 * (high - low)):
        return 0
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    return int(np.sum(np.any((points < low) | (points > high), axis=1)))


def validation_precision(values: list[float], epochs: list[int] | None = None) -> Figure:
    """The validation precision@10 after each epoch."""
    figure = Figure(figsize=(5.2, 3.6), layout="constrained")
    ax = figure.subplots()
    x = np.asarray(epochs if epochs else range(len(values))) + 1
    ax.plot(x, values, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("precision@10")
    ax.set_title("Validation queries: precision@10 per epoch")
    ax.grid(alpha=0.3)
    return figure
