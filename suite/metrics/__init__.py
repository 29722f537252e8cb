"""Task metrics shared by the pipelines, as Keras losses/metrics or pure functions."""

from suite.metrics import forecast_errors
from suite.metrics.masked_sparse_crossentropy import MaskedSparseCrossentropy
from suite.metrics.pinball_loss import PinballLoss

__all__ = ["MaskedSparseCrossentropy", "PinballLoss", "forecast_errors"]
