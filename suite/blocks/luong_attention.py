"""LuongAttention: multiplicative ("general") attention of query steps over values."""

from __future__ import annotations

import keras
from keras import ops

from suite.blocks.bahdanau_attention import attend, attention_output_shape


@keras.saving.register_keras_serializable(package="suite")
class LuongAttention(keras.layers.Layer):
    """Multiplicative attention (Luong et al., 2015, "general"): `score = q . W k`.

    Cheaper than additive attention: one matrix product scores all query/value pairs.
    Value steps that `value_mask` marks `False` (padding) get zero weight.

    Args:
        scale: divide the scores by the square root of the value width.
        **kwargs: standard layer arguments.

    Call arguments:
        query: `[batch, query_steps, query_width]`.
        value: `[batch, value_steps, value_width]`.
        value_mask: optional boolean `[batch, value_steps]`; `False` marks padding.

    Returns:
        `(context, weights)`: `[batch, query_steps, value_width]` and
        `[batch, query_steps, value_steps]`.

    Example:
        >>> attention = LuongAttention()
        >>> context, weights = attention(ops.ones((2, 3, 4)), ops.ones((2, 5, 6)))
        >>> context.shape, weights.shape
        ((2, 3, 6), (2, 3, 5))
    """

    def __init__(self, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.scale = bool(scale)

    def build(self, query_shape, value_shape):
        self.value_width = value_shape[-1]
        self.query_dense = keras.layers.Dense(self.value_width, use_bias=False,
                                              dtype=self.dtype_policy, name="query")
        self.query_dense.build(query_shape)

    def call(self, query, value, value_mask=None):
        scores = ops.matmul(self.query_dense(query), ops.transpose(value, (0, 2, 1)))
        if self.scale:
            scores = scores / ops.cast(ops.sqrt(float(self.value_width)), scores.dtype)
        return attend(scores, value, value_mask)

    def compute_output_shape(self, query_shape, value_shape):
        return attention_output_shape(query_shape, value_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
