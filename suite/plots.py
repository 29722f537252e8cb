"""Matplotlib figures that pipelines log as MLflow artifacts.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state), so they are
safe to make from any thread and need no display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def learning_curves(history: dict[str, list[float]], epochs: list[int] | None = None) -> Figure:
    """One panel per metric, training and validation curves together, by epoch.

    Args:
        history: Keras' `History.history` (`loss`, `val_loss`, `accuracy`, ...).
        epochs: the epoch index of each entry (0-based; a resumed run starts later).
    """
    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names += [k[len("val_"):] for k in history  # validation-only metrics, e.g. val_cer
              if k.startswith("val_") and k[len("val_"):] not in history]
    figure = Figure(figsize=(5 * max(len(names), 1), 3.8), layout="constrained")
    axes = figure.subplots(1, max(len(names), 1), squeeze=False)[0]
    for ax, name in zip(axes, names):
        series = history.get(name, history.get(f"val_{name}"))
        x = np.asarray(epochs if epochs else range(len(series))) + 1
        if name in history:
            ax.plot(x, history[name], marker="o", ms=3, color="C0", label="train")
        if f"val_{name}" in history:
            ax.plot(x, history[f"val_{name}"], marker="o", ms=3, color="C1", label="validation")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def confusion_matrix(matrix, labels: list[str], title: str = "Confusion matrix") -> Figure:
    """A confusion matrix: rows true class, columns predicted, counts written in cells.

    Args:
        matrix: `[n, n]` counts (scikit-learn's `confusion_matrix`).
        labels: class names in index order.
        title: the figure title (e.g. with the accuracy).
    """
    matrix = np.asarray(matrix)
    n = len(labels)
    size = min(max(4.0, 0.45 * n + 2.5), 16.0)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = figure.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    ax.set_xticks(range(n), labels, rotation=45 if max(map(len, labels)) > 3 else 0,
                  ha="right" if max(map(len, labels)) > 3 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if shares[i, j] > 0.5 else "black")
    return figure


def metric_by_group(groups: list[str], series: dict[str, list[float]], counts: list[int],
                    metric: str, xlabel: str, title: str) -> Figure:
    """One line per model of a metric over ordered groups (e.g. length buckets).

    Args:
        groups: the group labels, in order along the x axis.
        series: model name -> the metric per group (NaN where a group is empty).
        counts: the number of examples per group, written under each label.
        metric: the metric's name (y axis).
        xlabel: what the groups are.
        title: the figure title.
    """
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(groups))
    for name, values in series.items():
        ax.plot(x, values, marker="o", label=name)
    ax.set_xticks(x, [f"{g}\n(n={c})" for g, c in zip(groups, counts)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def attention_map(weights, source: list[str], target: list[str], title: str = "") -> Figure:
    """An attention heat map: one row per output token, one column per input token.

    Args:
        weights: `[len(target), len(source)]` attention weights (rows sum to 1).
        source: the input tokens (columns).
        target: the output tokens (rows).
        title: the figure title (e.g. the sentence and its translation).
    """
    weights = np.asarray(weights)
    figure = Figure(figsize=(max(4.0, 0.42 * len(source) + 2.0),
                             max(3.0, 0.36 * len(target) + 1.8)), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    figure.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(target)), target, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    return figure


def grouped_bars(groups: list[str], series: dict[str, list[float]], metric: str,
                 title: str = "") -> Figure:
    """Bars of a metric per group (e.g. per class), one colour per model, side by side.

    Args:
        groups: the group labels along the x axis.
        series: model name -> the metric per group (NaN leaves a gap).
        metric: the metric's name (y axis).
        title: the figure title.
    """
    figure = Figure(figsize=(min(16.0, max(6.0, 0.3 * len(groups) * len(series) + 2.0)), 4.2),
                    layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, groups, rotation=45 if max(map(len, groups)) > 3 else 0,
                  ha="right" if max(map(len, groups)) > 3 else "center")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return figure
