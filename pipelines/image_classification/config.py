"""The image-classification config: defaults reach >= 98.5% on digits in about a minute."""

from __future__ import annotations

import dataclasses

from suite.config import (Config, ConfigError, ImageDataConfig, TrainerConfig, option,
                          section)

DIGITS_SIZE = 8     # the embedded data set's side
FOLDER_SIZE = 64    # a folder's default model input side
FINAL_MAP = 4       # the default stages shrink the feature map to at most this side
BASE_FILTERS = 32   # the default first stage's width, doubled each stage ...
MAX_FILTERS = 128   # ... up to this


def default_filters(image_size: int) -> tuple[int, ...]:
    """The default stage widths for square inputs of side `image_size`.

    One stage per halving until the feature map is at most `FINAL_MAP` pixels across (at
    least one stage), widths 32, 64, 128, 128, ...: 8 -> (32,), 32 -> (32, 64, 128),
    64 -> (32, 64, 128, 128). The receptive field then covers the image, and the global
    pooling head sees a few positions per feature map whatever the input size.

    Args:
        image_size: the side of the model input, in pixels (>= 1).
    """
    if int(image_size) < 1:
        raise ValueError(f"default_filters image_size: got {image_size!r}, expected >= 1")
    stages = 1
    while int(image_size) >> stages > FINAL_MAP:
        stages += 1
    return tuple(min(MAX_FILTERS, BASE_FILTERS << i) for i in range(stages))


@dataclasses.dataclass
class ClassificationDataConfig(ImageDataConfig):
    """Images: size and channels, with the shared augmentation keys."""

    image_size: int | None = option(
        None, min=4, max=1024, help="side of the square model input; none: 8 (digits), 64"
    )
    channels: int | None = option(None, choices=(1, 3), help="none: 1 (digits), 3 (folders)")


@dataclasses.dataclass
class CNNConfig:
    """The CNN: stages of conv blocks, each ending in 2x2 max pooling, then global pooling
    and a dense head."""

    filters: tuple[int, ...] | None = option(
        None, min=1, help="feature maps of each stage, each stage halving the map; none: "
                          "stages until the map is at most 4x4, widths 32 doubling to 128"
    )
    standardize: bool = option(
        True, help="standardise the pixels per channel with running batch statistics before "
                   "the first convolution"
    )
    convs_per_stage: int = option(2, min=1, max=6)
    kernel_size: int = option(3, min=1, max=11)
    norm_momentum: float = option(
        0.9, min=0.0, max=0.999, help="batch-norm moving-average momentum (the inference "
                                      "statistics weigh about the last 1/(1-m) batches)"
    )
    conv_dropout: float = option(0.1, min=0.0, max=0.9)
    pooling: str = option(
        "average", choices=("average", "max", "flatten"),
        help="how the last feature map enters the head: global average or max pooling, or "
             "flattened (weights grow with the image area)"
    )
    dense_units: tuple[int, ...] = option((128,), min=1, help="hidden widths of the head")
    dropout: float = option(0.3, min=0.0, max=0.9, help="dropout of the head")
    l2: float = option(1e-4, min=0.0, help="L2 weight decay on every kernel")
    mlp_hidden: tuple[int, ...] = option((256, 128), min=1, help="the MLP baseline's widths")


@dataclasses.dataclass
class ImageClassificationConfig(Config):
    """Everything `suite run image-classification` can be told."""

    trainer: TrainerConfig = section(TrainerConfig, epochs=60, batch_size=32,
                                     learning_rate=1e-3, early_stopping_patience=15,
                                     reduce_lr_patience=4)
    data: ClassificationDataConfig = section(ClassificationDataConfig)
    model: CNNConfig = section(CNNConfig)

    def _input_size(self) -> int:
        """The side of the model input: `data.image_size`, else 8 (digits) or 64 (folder)."""
        return self.data.image_size or (DIGITS_SIZE if self.data.path is None else FOLDER_SIZE)

    def resolve(self, explicit: set[str]) -> None:
        # The stages follow the image size unless the user chose them.
        if self.model.filters is None and "model.filters" not in explicit:
            self.model.filters = default_filters(self._input_size())

    def check(self) -> None:
        super().check()
        size = self._input_size()
        filters = self.model.filters or default_filters(size)
        stages = len(filters)
        if size >> stages < 1:
            raise ConfigError(
                f"config key 'model.filters': got {filters!r} ({stages} stages, each "
                f"halving the image), but data.image_size {size} allows at most "
                f"{size.bit_length() - 1} stages"
            )
