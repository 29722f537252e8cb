"""RecurrentEncoder: a stack of LSTM or GRU layers, optionally bidirectional."""

from __future__ import annotations

import keras

_CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="suite")
class RecurrentEncoder(keras.layers.Layer):
    """`depth` stacked recurrent layers reading a sequence `[batch, time, features]`.

    Every layer but the last returns its whole sequence to the next; the last returns the
    final state (or, with `return_sequences=True`, the sequence). Padded steps are skipped
    when the input carries a Keras mask.

    Args:
        units: the width of each recurrent layer (per direction).
        depth: how many layers are stacked.
        cell: `"lstm"` or `"gru"`.
        dropout: dropout on each layer's inputs (0 for none).
        bidirectional: read the sequence both ways and concatenate (output width 2 x units).
        return_sequences: return `[batch, time, width]` instead of `[batch, width]`.
        return_state: also return the last layer's final states (`[h, c]` for an LSTM,
            `[h]` for a GRU), each `[batch, width]` with both directions concatenated;
            the call then returns `(output, states)`.
        **kwargs: standard layer arguments.

    Example:
        >>> encoder = RecurrentEncoder(16, depth=2, cell="gru")
        >>> encoder(keras.ops.zeros((4, 10, 3))).shape
        (4, 16)
    """

    def __init__(self, units, depth=1, cell="lstm", dropout=0.0, bidirectional=False,
                 return_sequences=False, return_state=False, **kwargs):
        super().__init__(**kwargs)
        if cell not in _CELLS:
            raise ValueError(f"RecurrentEncoder cell: got {cell!r}, expected one of "
                             f"{', '.join(_CELLS)}")
        if int(units) < 1 or int(depth) < 1:
            raise ValueError(f"RecurrentEncoder units and depth: got {units!r} and {depth!r}, "
                             "expected integers >= 1")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"RecurrentEncoder dropout: got {dropout!r}, "
                             "expected 0 <= dropout < 1")
        self.units = int(units)
        self.depth = int(depth)
        self.cell = cell
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.supports_masking = True

    def build(self, input_shape):
        self._stack = []
        shape = tuple(input_shape)
        for i in range(self.depth):
            last = i == self.depth - 1
            layer = _CELLS[self.cell](
                self.units, dropout=self.dropout,
                return_sequences=self.return_sequences or not last,
                return_state=self.return_state and last,
                dtype=self.dtype_policy, name=f"{self.cell}_{i}",
            )
            if self.bidirectional:
                layer = keras.layers.Bidirectional(layer, dtype=self.dtype_policy,
                                                   name=f"bidirectional_{i}")
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            if self.return_state and last:
                shape = shape[0]
            self._stack.append(layer)

    def call(self, inputs, mask=None, training=None):
        x = inputs
        for layer in self._stack:
            x = layer(x, mask=mask, training=training)
        if not self.return_state:
            return x
        output, states = x[0], list(x[1:])
        if self.bidirectional:  # [forward states..., backward states...] -> pairs joined
            half = len(states) // 2
            states = [keras.ops.concatenate([f, b], axis=-1)
                      for f, b in zip(states[:half], states[half:])]
        return output, states

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return output_mask, [None] * (2 if self.cell == "lstm" else 1)
        return output_mask

    def compute_output_shape(self, input_shape):
        width = self.units * (2 if self.bidirectional else 1)
        if self.return_sequences:
            output = (input_shape[0], input_shape[1], width)
        else:
            output = (input_shape[0], width)
        if self.return_state:
            return output, [(input_shape[0], width)] * (2 if self.cell == "lstm" else 1)
        return output

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "depth": self.depth, "cell": self.cell,
            "dropout": self.dropout, "bidirectional": self.bidirectional,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
        })
        return config
