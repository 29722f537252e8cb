"""BahdanauAttention: additive attention of query steps over a sequence of values."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention (Bahdanau et al., 2014): `score = v . tanh(W_q q + W_k k)`.

    Each query step gets a softmax over the value steps and the weighted sum of the
    values. Value steps that `value_mask` marks `False` (padding) get zero weight.

    Args:
        units: the width of the hidden layer that scores each query/value pair.
        **kwargs: standard layer arguments.

    Call arguments:
        query: `[batch, query_steps, query_width]`.
        value: `[batch, value_steps, value_width]`.
        value_mask: optional boolean `[batch, value_steps]`; `False` marks padding.

    Returns:
        `(context, weights)`: `[batch, query_steps, value_width]` and
        `[batch, query_steps, value_steps]`.

    Example:
        >>> attention = BahdanauAttention(8)
        >>> context, weights = attention(ops.ones((2, 3, 4)), ops.ones((2, 5, 6)))
        >>> context.shape, weights.shape
        ((2, 3, 6), (2, 3, 5))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"BahdanauAttention units: got {units!r}, expected an integer >= 1")
        self.units = int(units)

    def build(self, query_shape, value_shape):
        self.query_dense = keras.layers.Dense(self.units, use_bias=False,
                                              dtype=self.dtype_policy, name="query")
        self.key_dense = keras.layers.Dense(self.units, dtype=self.dtype_policy, name="key")
        self.score_dense = keras.layers.Dense(1, use_bias=False, dtype=self.dtype_policy,
                                              name="score")
        self.query_dense.build(query_shape)
        self.key_dense.build(value_shape)
        self.score_dense.build((None, None, None, self.units))

    def call(self, query, value, value_mask=None):
        q = self.query_dense(query)[:, :, None, :]
        k = self.key_dense(value)[:, None, :, :]
        scores = ops.squeeze(self.score_dense(ops.tanh(q + k)), axis=-1)
        return attend(scores, value, value_mask)

    def compute_output_shape(self, query_shape, value_shape):
        return attention_output_shape(query_shape, value_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def attention_output_shape(query_shape, value_shape):
    """The shapes of `(context, weights)` for the given query and value shapes."""
    return ((query_shape[0], query_shape[1], value_shape[2]),
            (query_shape[0], query_shape[1], value_shape[1]))


def attend(scores, value, value_mask=None):
    """Softmax over the value steps (padding excluded), then the weighted sum of the values.

    The softmax runs in float32 so a masked step's large negative score is safe under
    mixed precision.
    """
    scores = ops.cast(scores, "float32")
    if value_mask is not None:
        scores = ops.where(ops.expand_dims(ops.cast(value_mask, "bool"), 1), scores, -1e9)
    weights = ops.softmax(scores, axis=-1)
    context = ops.matmul(ops.cast(weights, value.dtype), value)
    return context, weights
