"""Segmentation scores from a confusion matrix: pixel accuracy, per-class IoU and Dice.

The confusion matrix is `matrix[true, predicted]` pixel counts over a whole split, so every
score is over all pixels of the split (not an average of per-image scores). Mean IoU and
mean Dice average over the classes present in the true masks: a class the split never
shows has no IoU to measure (a prediction of it still lowers the IoU of the true class).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Pixel counts `[true class, predicted class]` of two arrays of class ids.

    Args:
        y_true: true class ids, any shape.
        y_pred: predicted class ids, the same shape.
        num_classes: the number of classes; ids must be below it.
    """
    y_true = np.asarray(y_true, np.int64).ravel()
    y_pred = np.asarray(y_pred, np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true has {y_true.size} pixels, y_pred "
                         f"{y_pred.size}")
    for name, ids in (("y_true", y_true), ("y_pred", y_pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"confusion_matrix {name}: ids {ids.min()}..{ids.max()}, "
                             f"expected 0..{num_classes - 1}")
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def per_class_iou(matrix: np.ndarray) -> np.ndarray:
    """IoU of each class, `TP / (TP + FP + FN)`; NaN for a class neither true nor predicted."""
    tp = np.diag(matrix).astype(float)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def per_class_dice(matrix: np.ndarray) -> np.ndarray:
    """Dice of each class, `2 TP / (2 TP + FP + FN)`; NaN for a class neither true nor
    predicted."""
    tp = np.diag(matrix).astype(float)
    total = matrix.sum(axis=0) + matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * tp / total, np.nan)


def scores(matrix: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, mean IoU and mean Dice over the classes present in the truth."""
    present = matrix.sum(axis=1) > 0
    return {
        "pixel_accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "mean_iou": float(np.mean(per_class_iou(matrix)[present])),
        "dice": float(np.mean(per_class_dice(matrix)[present])),
    }
