"""Keras building blocks shared by the pipelines, one public class per file."""

from suite.blocks.conv_block import ConvBlock
from suite.blocks.dense_head import DenseHead

__all__ = ["ConvBlock", "DenseHead"]
