"""Keras building blocks shared by the pipelines, one public class per file."""

from suite.blocks.bahdanau_attention import BahdanauAttention
from suite.blocks.conv_block import ConvBlock
from suite.blocks.debiased_batch_normalization import DebiasedBatchNormalization
from suite.blocks.dense_head import DenseHead
from suite.blocks.input_corruption import InputCorruption
from suite.blocks.luong_attention import LuongAttention
from suite.blocks.quantile_head import QuantileHead
from suite.blocks.recurrent_encoder import RecurrentEncoder
from suite.blocks.stacked_denoising_auto_encoder import StackedDenoisingAutoEncoder
from suite.blocks.upsample_block import UpsampleBlock
from suite.blocks.window_scaler import WindowScaler

__all__ = ["BahdanauAttention", "ConvBlock", "DebiasedBatchNormalization", "DenseHead",
           "InputCorruption", "LuongAttention", "QuantileHead", "StackedDenoisingAutoEncoder",
           "RecurrentEncoder", "UpsampleBlock", "WindowScaler"]
