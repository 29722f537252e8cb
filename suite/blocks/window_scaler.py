"""WindowScaler: scales each history window by its own level and step size."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class WindowScaler(keras.layers.Layer):
    """Returns `(scaled, loc, scale)` for windows `[batch, time, features]`.

    `loc` is each window's last value and `scale` its mean absolute step (per feature),
    so a forecaster sees changes relative to "now" in units of typical movement. A model
    trained this way extrapolates trends beyond the range of its training data, which a
    model on globally standardised values cannot (as DeepAR and N-BEATS scale too). The
    statistics come from each window alone: nothing outside the history is used.

    Args:
        epsilon: the smallest scale, relative to the window's mean absolute level, so a
            flat window does not divide by zero.
        **kwargs: standard layer arguments.

    Example:
        >>> scaled, loc, scale = WindowScaler()(keras.ops.ones((2, 6, 1)))
        >>> scaled.shape, loc.shape
        ((2, 6, 1), (2, 1, 1))
    """

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if not float(epsilon) > 0:
            raise ValueError(f"WindowScaler epsilon: got {epsilon!r}, expected > 0")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        loc = x[:, -1:, :]
        steps = ops.mean(ops.abs(x[:, 1:, :] - x[:, :-1, :]), axis=1, keepdims=True)
        floor = self.epsilon * (ops.mean(ops.abs(x), axis=1, keepdims=True) + 1.0)
        scale = ops.maximum(steps, floor)
        return (x - loc) / scale, loc, scale

    def compute_output_shape(self, input_shape):
        stat = (input_shape[0], 1, input_shape[2])
        return tuple(input_shape), stat, stat

    def compute_output_spec(self, inputs):
        stat = (inputs.shape[0], 1, inputs.shape[2])
        return (keras.KerasTensor(inputs.shape, dtype="float32"),
                keras.KerasTensor(stat, dtype="float32"), keras.KerasTensor(stat, dtype="float32"))

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
