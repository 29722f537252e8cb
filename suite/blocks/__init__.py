"""Keras building blocks shared by the pipelines, one public class per file."""

from suite.blocks.conv_block import ConvBlock
from suite.blocks.dense_head import DenseHead
from suite.blocks.quantile_head import QuantileHead
from suite.blocks.recurrent_encoder import RecurrentEncoder
from suite.blocks.window_scaler import WindowScaler

__all__ = ["ConvBlock", "DenseHead", "QuantileHead", "RecurrentEncoder", "WindowScaler"]
