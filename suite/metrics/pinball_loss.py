"""PinballLoss: the quantile (pinball) loss for forecasts of several quantiles at once."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class PinballLoss(keras.losses.Loss):
    """Mean pinball loss over quantiles: `max(q * e, (q - 1) * e)` with `e = y - y_hat`.

    Minimising it makes each output the `q`-quantile of the target's distribution, so
    the forecasts come with intervals (e.g. the 0.1 and 0.9 quantiles bound an 80% one).

    Args:
        quantiles: the quantile levels of the last axis of `y_pred`, each in (0, 1).
        **kwargs: standard loss arguments (`name`, `reduction`).

    Example:
        >>> loss = PinballLoss(quantiles=(0.1, 0.5, 0.9))
        >>> float(loss([[1.0]], [[[0.0, 1.0, 2.0]]]))  # (0.1 + 0 + 0.1) / 3
        0.0666...
    """

    def __init__(self, quantiles=(0.1, 0.5, 0.9), name="pinball_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        quantiles = tuple(float(q) for q in quantiles)
        if not quantiles or not all(0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"PinballLoss quantiles: got {quantiles!r}, "
                             "expected one or more levels strictly between 0 and 1")
        self.quantiles = quantiles

    def call(self, y_true, y_pred):
        """`y_true`: [..., horizon]; `y_pred`: [..., horizon, quantiles]."""
        y_pred = ops.cast(y_pred, "float32")
        error = ops.expand_dims(ops.cast(y_true, "float32"), -1) - y_pred
        q = ops.convert_to_tensor(self.quantiles, dtype="float32")
        return ops.mean(ops.maximum(q * error, (q - 1.0) * error), axis=(-2, -1))

    def get_config(self):
        config = super().get_config()
        config.update({"quantiles": list(self.quantiles)})
        return config
