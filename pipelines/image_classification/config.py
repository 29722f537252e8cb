"""The image-classification config: defaults reach >= 98.5% on digits in about a minute."""

from __future__ import annotations

import dataclasses

from suite.config import (Config, ConfigError, DataConfig, TrainerConfig, option, section)


@dataclasses.dataclass
class ImageDataConfig(DataConfig):
    """Images: size, channels and training augmentation."""

    image_size: int | None = option(
        None, min=4, max=1024, help="side of the square model input; none: 8 (digits), 64"
    )
    channels: int | None = option(None, choices=(1, 3), help="none: 1 (digits), 3 (folders)")
    flip: str = option("none", choices=("none", "horizontal", "vertical",
                                        "horizontal_and_vertical"))
    rotation: float = option(0.0, min=0.0, max=0.5, help="max random rotation, share of a turn")
    zoom: float = option(0.0, min=0.0, max=0.9, help="max random zoom, share of the size")
    translation: float = option(0.0, min=0.0, max=0.5, help="max random shift, share of size")


@dataclasses.dataclass
class CNNConfig:
    """The CNN: stages of conv blocks, each ending in 2x2 max pooling, then a dense head."""

    filters: tuple[int, ...] = option((32, 64), min=1, help="feature maps of each stage")
    convs_per_stage: int = option(2, min=1, max=6)
    kernel_size: int = option(3, min=1, max=11)
    conv_dropout: float = option(0.1, min=0.0, max=0.9)
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
    data: ImageDataConfig = section(ImageDataConfig)
    model: CNNConfig = section(CNNConfig)

    def check(self) -> None:
        super().check()
        size = self.data.image_size or (8 if self.data.path is None else 64)
        stages = len(self.model.filters)
        if size >> stages < 1:
            raise ConfigError(
                f"config key 'model.filters': got {self.model.filters!r} ({stages} stages, each "
                f"halving the image), but data.image_size {size} allows at most "
                f"{size.bit_length() - 1} stages"
            )
