"""SegmentationLoss: per-pixel cross-entropy, optionally class-weighted, plus soft Dice."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="suite")
class SegmentationLoss(keras.losses.Loss):
    """Pixel-wise sparse categorical cross-entropy plus `dice_weight` x soft Dice loss.

    Cross-entropy is dominated by the most common class (the background covers about 90%
    of a composed scene). Class weights scale each pixel's cross-entropy by its true
    class's weight; the soft Dice loss, `1 - mean over classes of 2|P.Y| / (|P| + |Y|)`
    on the batch's probabilities, weighs each class's overlap equally whatever its area,
    as mean IoU does.

    Args:
        dice_weight: the weight of the soft Dice term (0: cross-entropy alone).
        class_weights: one weight per class for the cross-entropy, or `None` for 1s.
        smooth: added to the Dice numerator and denominator, so a class absent from a
            batch and not predicted counts as a match rather than 0/0.
        **kwargs: standard loss arguments (`name`).

    Example:
        >>> loss = SegmentationLoss(dice_weight=1.0)
        >>> y_true = [[[0, 1]]]                       # one 1x2 mask
        >>> y_pred = [[[[1.0, 0.0], [0.0, 1.0]]]]     # perfect probabilities
        >>> float(loss(y_true, y_pred)) < 1e-3
        True
    """

    def __init__(self, dice_weight=0.0, class_weights=None, smooth=1.0,
                 name="segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if float(dice_weight) < 0:
            raise ValueError(f"SegmentationLoss dice_weight: got {dice_weight!r}, "
                             "expected >= 0")
        if class_weights is not None and min(class_weights) < 0:
            raise ValueError(f"SegmentationLoss class_weights: got {class_weights!r}, "
                             "expected weights >= 0")
        self.dice_weight = float(dice_weight)
        self.class_weights = (None if class_weights is None
                              else [float(w) for w in class_weights])
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        """`y_true`: `[batch, h, w]` class ids; `y_pred`: `[batch, h, w, classes]`
        probabilities."""
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, -1)
        classes = y_pred.shape[-1]
        ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        if self.class_weights is not None:
            if len(self.class_weights) != classes:
                raise ValueError(f"SegmentationLoss class_weights: {len(self.class_weights)} "
                                 f"weights for {classes} classes")
            ce = ce * ops.take(ops.convert_to_tensor(self.class_weights), y_true)
        loss = ops.mean(ce)
        if self.dice_weight:
            one_hot = ops.one_hot(y_true, classes)
            axes = tuple(range(len(y_pred.shape) - 1))
            overlap = ops.sum(one_hot * y_pred, axis=axes)
            total = ops.sum(one_hot, axis=axes) + ops.sum(y_pred, axis=axes)
            dice = (2.0 * overlap + self.smooth) / (total + self.smooth)
            loss = loss + self.dice_weight * (1.0 - ops.mean(dice))
        return loss

    def get_config(self):
        config = super().get_config()
        config.update({"dice_weight": self.dice_weight, "class_weights": self.class_weights,
                       "smooth": self.smooth})
        return config
