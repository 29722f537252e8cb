"""Point and interval forecast errors: MAE, RMSE, sMAPE, MASE and interval coverage.

Each takes arrays of the same shape (e.g. `[origins, horizon]`) and reduces over all of
them, or over every axis but the last with `per_step=True` (error by horizon step).
"""

from __future__ import annotations

import numpy as np


def _reduce(values: np.ndarray, per_step: bool):
    return values.reshape(-1, values.shape[-1]).mean(axis=0) if per_step else values.mean()


def mae(y_true, y_pred, per_step: bool = False):
    """Mean absolute error."""
    return _reduce(np.abs(np.asarray(y_true) - np.asarray(y_pred)), per_step)


def rmse(y_true, y_pred, per_step: bool = False):
    """Root mean squared error."""
    return np.sqrt(_reduce((np.asarray(y_true) - np.asarray(y_pred)) ** 2, per_step))


def smape(y_true, y_pred, per_step: bool = False):
    """Symmetric mean absolute percentage error, in percent (0 where both values are 0)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(2.0 * np.abs(y_pred - y_true), denominator,
                      out=np.zeros_like(denominator), where=denominator > 0)
    return 100.0 * _reduce(ratio, per_step)


def seasonal_naive_scale(history, season: int) -> float:
    """The in-sample mean absolute error of the seasonal naive forecast: MASE's denominator.

    Args:
        history: the training part of the series (1-D).
        season: the season length `m` (1 for the plain naive forecast).
    """
    history = np.asarray(history, float)
    if len(history) <= season:
        raise ValueError(f"seasonal_naive_scale: a history of {len(history)} values is too "
                         f"short for season {season}")
    return float(np.mean(np.abs(history[season:] - history[:-season])))


def mase(y_true, y_pred, scale: float, per_step: bool = False):
    """Mean absolute scaled error: MAE divided by `seasonal_naive_scale` of the training data."""
    if not scale > 0:
        raise ValueError(f"mase: scale must be positive, got {scale!r} (a constant history?)")
    return mae(y_true, y_pred, per_step) / scale


def coverage(y_true, lower, upper, per_step: bool = False):
    """The share of true values inside `[lower, upper]`."""
    y_true = np.asarray(y_true)
    inside = (y_true >= np.asarray(lower)) & (y_true <= np.asarray(upper))
    return _reduce(inside.astype(float), per_step)
