"""Keras building blocks shared by the pipelines, one public class per file."""

from suite.blocks.bahdanau_attention import BahdanauAttention
from suite.blocks.conv_block import ConvBlock
from suite.blocks.conv_subsampling import ConvSubsampling
from suite.blocks.debiased_batch_normalization import DebiasedBatchNormalization
from suite.blocks.dense_head import DenseHead
from suite.blocks.input_corruption import InputCorruption
from suite.blocks.log_mel_spectrogram import LogMelSpectrogram
from suite.blocks.luong_attention import LuongAttention
from suite.blocks.quantile_head import QuantileHead
from suite.blocks.recurrent_encoder import RecurrentEncoder
from suite.blocks.spec_augment import SpecAugment
from suite.blocks.stacked_denoising_auto_encoder import StackedDenoisingAutoEncoder
from suite.blocks.upsample_block import UpsampleBlock
from suite.blocks.window_scaler import WindowScaler

__all__ = ["BahdanauAttention", "ConvBlock", "ConvSubsampling", "DebiasedBatchNormalization",
           "DenseHead", "InputCorruption", "LogMelSpectrogram", "LuongAttention", "QuantileHead",
           "StackedDenoisingAutoEncoder", "RecurrentEncoder", "SpecAugment", "UpsampleBlock",
           "WindowScaler"]
