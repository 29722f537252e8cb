"""DenseHead: a multi-layer perceptron with dropout and L1/L2 options, ending in an output."""

from __future__ import annotations

import keras

_OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")


@keras.saving.register_keras_serializable(package="suite")
class DenseHead(keras.layers.Layer):
    """Flatten -> `hidden` x (Dense -> activation -> dropout) -> Dense(`units`).

    The output layer computes in float32 even under mixed precision, so probabilities
    and losses stay exact.

    Args:
        units: the number of output units (classes, targets).
        hidden: the widths of the hidden layers, first to last (empty for a linear model).
        activation: the hidden layers' activation.
        dropout: the dropout rate after each hidden layer (0 for none).
        l1: the L1 factor on every kernel (0 for none).
        l2: the L2 factor on every kernel (0 for none).
        output_activation: `"softmax"`, `"sigmoid"` or `"linear"`.
        **kwargs: standard layer arguments.

    Example:
        >>> head = DenseHead(10, hidden=(64,), dropout=0.2)
        >>> head(keras.ops.zeros((2, 4, 4, 8))).shape
        (2, 10)
    """

    def __init__(self, units, hidden=(), activation="relu", dropout=0.0, l1=0.0, l2=0.0,
                 output_activation="softmax", **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"DenseHead units: got {units!r}, expected an integer >= 1")
        if output_activation not in _OUTPUT_ACTIVATIONS:
            raise ValueError(f"DenseHead output_activation: got {output_activation!r}, "
                             f"expected one of {', '.join(_OUTPUT_ACTIVATIONS)}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"DenseHead dropout: got {dropout!r}, expected 0 <= dropout < 1")
        self.units = int(units)
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.dropout = float(dropout)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.output_activation = output_activation

    def build(self, input_shape):
        regularizer = (keras.regularizers.L1L2(l1=self.l1, l2=self.l2)
                       if self.l1 > 0 or self.l2 > 0 else None)
        self._flatten = keras.layers.Flatten()
        features = 1
        for dim in input_shape[1:]:
            features *= dim
        shape = (input_shape[0], features)
        self._hidden_layers = []
        for i, units in enumerate(self.hidden):
            dense = keras.layers.Dense(units, activation=self.activation,
                                       kernel_regularizer=regularizer,
                                       dtype=self.dtype_policy, name=f"hidden_{i}")
            dense.build(shape)
            shape = (shape[0], units)
            drop = keras.layers.Dropout(self.dropout) if self.dropout > 0 else None
            self._hidden_layers.append((dense, drop))
        self._output = keras.layers.Dense(self.units, activation=self.output_activation,
                                          kernel_regularizer=regularizer, dtype="float32",
                                          name="output")
        self._output.build(shape)

    def call(self, inputs, training=None):
        x = self._flatten(inputs)
        for dense, drop in self._hidden_layers:
            x = dense(x)
            if drop is not None:
                x = drop(x, training=training)
        return self._output(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor((inputs.shape[0], self.units), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "hidden": list(self.hidden), "activation": self.activation,
            "dropout": self.dropout, "l1": self.l1, "l2": self.l2,
            "output_activation": self.output_activation,
        })
        return config
