"""Task metrics shared by the pipelines, as Keras losses/metrics or pure functions."""

from suite.metrics import forecast_errors, segmentation_scores
from suite.metrics.masked_sparse_crossentropy import MaskedSparseCrossentropy
from suite.metrics.pinball_loss import PinballLoss
from suite.metrics.segmentation_loss import SegmentationLoss

__all__ = ["MaskedSparseCrossentropy", "PinballLoss", "SegmentationLoss", "forecast_errors",
           "segmentation_scores"]
