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
    figure = Figure(figsize=(5 * max(len(names), 1), 3.8), layout="constrained")
    axes = figure.subplots(1, max(len(names), 1), squeeze=False)[0]
    for ax, name in zip(axes, names):
        x = np.asarray(epochs if epochs else range(len(history[name]))) + 1
        ax.plot(x, history[name], marker="o", ms=3, label="train")
        if f"val_{name}" in history:
            ax.plot(x, history[f"val_{name}"], marker="o", ms=3, label="validation")
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
