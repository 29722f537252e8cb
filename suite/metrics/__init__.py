"""Task metrics shared by the pipelines, as Keras losses/metrics or pure functions."""

from suite.metrics import forecast_errors
from suite.metrics.pinball_loss import PinballLoss

__all__ = ["PinballLoss", "forecast_errors"]
