"""MaskedSparseCrossentropy: token cross-entropy over padded sequences, label-smoothed."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Mean cross-entropy per real token of padded target sequences.

    Positions whose target is `pad_id` do not count, so a batch's loss does not depend on
    how far it was padded. With label smoothing the target puts `1 - label_smoothing` on
    the true token and spreads `label_smoothing` evenly over the vocabulary.

    Args:
        label_smoothing: the share of probability spread over the vocabulary, in [0, 1).
        pad_id: the target id of padding.
        **kwargs: standard loss arguments (`name`).

    Example:
        >>> loss = MaskedSparseCrossentropy()
        >>> logits = [[[0.0, 0.0], [5.0, 0.0]]]  # the second step is padding (target 0)
        >>> round(float(loss([[1, 0]], logits)), 4)  # log 2, the first step's loss only
        0.6931
    """

    def __init__(self, label_smoothing=0.0, pad_id=0, name="masked_sparse_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"MaskedSparseCrossentropy label_smoothing: got "
                             f"{label_smoothing!r}, expected 0 <= label_smoothing < 1")
        self.label_smoothing = float(label_smoothing)
        self.pad_id = int(pad_id)

    def call(self, y_true, y_pred):
        """`y_true`: [batch, steps] token ids; `y_pred`: [batch, steps, vocabulary] logits."""
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.take_along_axis(log_probs, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        if self.label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing, "pad_id": self.pad_id})
        return config
