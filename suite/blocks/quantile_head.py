"""QuantileHead: a direct multi-horizon forecast of several quantiles per step."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class QuantileHead(keras.layers.Layer):
    """Dense features `[batch, width]` -> forecasts `[batch, horizon, len(quantiles)]`.

    All horizon steps are forecast at once (the direct strategy: no error feedback from
    step to step). The quantiles of each step are sorted so they never cross.

    Args:
        horizon: how many future steps are forecast.
        quantiles: the quantile levels, ascending, each in (0, 1).
        **kwargs: standard layer arguments.

    Example:
        >>> head = QuantileHead(horizon=5, quantiles=(0.1, 0.5, 0.9))
        >>> head(keras.ops.zeros((2, 8))).shape
        (2, 5, 3)
    """

    def __init__(self, horizon, quantiles=(0.1, 0.5, 0.9), **kwargs):
        super().__init__(**kwargs)
        quantiles = tuple(float(q) for q in quantiles)
        if int(horizon) < 1:
            raise ValueError(f"QuantileHead horizon: got {horizon!r}, expected an integer >= 1")
        if not quantiles or list(quantiles) != sorted(set(quantiles)) or not all(
                0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"QuantileHead quantiles: got {quantiles!r}, expected distinct "
                             "ascending levels strictly between 0 and 1")
        self.horizon = int(horizon)
        self.quantiles = quantiles

    def build(self, input_shape):
        self._dense = keras.layers.Dense(self.horizon * len(self.quantiles), dtype="float32",
                                         name="forecast")
        self._dense.build(input_shape)

    def call(self, inputs):
        x = self._dense(ops.cast(inputs, "float32"))
        x = ops.reshape(x, (-1, self.horizon, len(self.quantiles)))
        return ops.sort(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon, len(self.quantiles))

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"horizon": self.horizon, "quantiles": list(self.quantiles)})
        return config
