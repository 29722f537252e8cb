"""DebiasedBatchNormalization: batch norm whose inference statistics are right from the
first training step."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class DebiasedBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalisation whose inference statistics are bias-corrected moving averages.

    Keras' moving mean and variance start at 0 and 1 and move `1 - momentum` of the way
    to each training batch's statistics, so after `t` steps the starting values still
    weigh `momentum ** t`. On a small data set that is most of the training: with 14
    batches an epoch and momentum 0.99, 87% after one epoch and 10% after sixteen. A layer
    whose true variance is far from 1, such as the first convolution over raw pixels
    (about 0.01 on icons and drawings), then normalises by the wrong statistics at
    inference, and a model that is right in training mode predicts near chance on
    validation data. This layer divides the starting values out, as Adam does for its
    moments: inference uses `(moving - momentum ** t * initial) / (1 - momentum ** t)`,
    the exponentially weighted average of the batches seen, from the first step on.
    Training-mode outputs and the stored moving statistics are those of
    `BatchNormalization`; a non-trainable step counter is added. Batch renormalisation
    (`renorm=True`) is not supported.

    Args:
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Example:
        >>> norm = DebiasedBatchNormalization(momentum=0.9)
        >>> norm(keras.ops.ones((2, 4)), training=True).shape
        (2, 4)
    """

    def __init__(self, **kwargs):
        if kwargs.get("renorm"):
            raise ValueError("DebiasedBatchNormalization renorm: got True, expected False "
                             "(batch renormalisation keeps statistics of its own)")
        super().__init__(**kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(self.moving_mean.shape)
        # The starting values the counter's weight is removed from (constants: 0 and 1).
        self._initial_mean = np.asarray(
            ops.convert_to_numpy(self.moving_mean_initializer(shape)), "float32")
        self._initial_variance = np.asarray(
            ops.convert_to_numpy(self.moving_variance_initializer(shape)), "float32")
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     dtype="float32", name="steps",
                                     aggregation="only_first_replica")

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            self.steps.assign_add(1.0)
            return super().call(inputs, training=True, mask=mask)
        weight = ops.power(ops.cast(self.momentum, "float32"), self.steps)  # of the start
        # Nothing seen yet (steps 0, weight 1): the starting values, without dividing by 0.
        seen = ops.cast(self.steps > 0, "float32")
        denominator = 1.0 - weight * seen
        mean = (ops.cast(self.moving_mean, "float32") - seen * weight * self._initial_mean)
        variance = (ops.cast(self.moving_variance, "float32")
                    - seen * weight * self._initial_variance)
        outputs = ops.batch_normalization(
            ops.cast(inputs, "float32"), mean=mean / denominator,
            variance=ops.maximum(variance / denominator, 0.0), axis=self.axis,
            offset=None if self.beta is None else ops.cast(self.beta, "float32"),
            scale=None if self.gamma is None else ops.cast(self.gamma, "float32"),
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)
