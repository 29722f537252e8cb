"""The image-segmentation config: defaults reach a test mean IoU of 0.85 on composed digit
scenes in a few minutes on 2 CPU cores."""

from __future__ import annotations

import dataclasses

from suite.config import Config, ConfigError, ImageDataConfig, TrainerConfig, option, section

SCENE_SIZE = 64     # the embedded scenes' side
FOLDER_SIZE = 128   # a folder's default model input side


@dataclasses.dataclass
class SegmentationDataConfig(ImageDataConfig):
    """Composed digit scenes (no `path`) or a folder of `images/` and `masks/`, with the
    shared augmentation keys (moving each mask with its image)."""

    image_size: int | None = option(
        None, min=8, max=2048, help="side of the square model input; none: 64 (scenes), 128"
    )
    channels: int | None = option(None, choices=(1, 3), help="none: 1 (scenes), 3 (folders)")
    scenes: int = option(5000, min=10, help="composed scenes in all, split by the fractions")
    digits_per_scene: tuple[int, ...] = option((1, 4), min=1, help="least and most digits")
    digit_scale: tuple[float, ...] = option(
        (0.25, 0.5), min=0.05, max=1.0, help="least and most digit side, share of the scene's"
    )
    noise: float = option(0.05, min=0.0, max=0.5, help="Gaussian pixel noise of the scenes")
    clutter: int = option(0, min=0, max=20, help="faint unlabelled strokes per scene")
    max_overlap: float = option(
        0.2, min=0.0, max=1.0, help="the largest share of a digit another may cover (1: any)"
    )
    mask_format: str = option(
        "ids", choices=("ids", "trimap"),
        help="folder masks: PNGs of class ids, or Oxford-IIIT Pets trimaps (1, 2, 3 -> 0, 1, 2)"
    )
    num_classes: int | None = option(
        None, min=2, max=255, help="classes of a folder's masks; none: classes.txt, else the "
                                   "largest id in the masks + 1"
    )


@dataclasses.dataclass
class UNetConfig:
    """The U-Net: encoder stages (conv block + 2x2 max pooling), a bottom block, and one
    up-sampling block per stage joining the encoder's map of its size."""

    filters: tuple[int, ...] = option(
        (16, 32, 64), min=1, help="feature maps of each encoder stage (and of the decoder "
                                  "stage of the same size); each stage halves the map"
    )
    bottom_filters: int = option(128, min=1, help="feature maps at the bottom")
    convs_per_stage: int = option(2, min=1, max=6)
    kernel_size: int = option(3, min=1, max=11)
    upsampling: str = option("transpose", choices=("transpose", "bilinear", "nearest"),
                             help="learned transposed convolution, or fixed up-sampling + conv")
    standardize: bool = option(True, help="standardise the pixels per channel first")
    norm_momentum: float = option(0.9, min=0.0, max=0.999)
    dropout: float = option(0.0, min=0.0, max=0.9, help="dropout after the bottom block")
    l2: float = option(0.0, min=0.0, help="L2 weight decay on every kernel")
    dice_weight: float = option(
        1.0, min=0.0, max=10.0, help="loss = cross-entropy + this x soft Dice (0: plain CE)"
    )
    class_weights: str = option(
        "none", choices=("none", "balanced"),
        help="weigh each pixel's cross-entropy by 1/sqrt(its class's training share)"
    )


@dataclasses.dataclass
class ImageSegmentationConfig(Config):
    """Everything `suite run image-segmentation` can be told."""

    trainer: TrainerConfig = section(TrainerConfig, epochs=14, batch_size=32,
                                     learning_rate=3e-3, schedule="cosine",
                                     mixed_precision="auto", early_stopping_patience=6)
    data: SegmentationDataConfig = section(SegmentationDataConfig, val_fraction=0.1,
                                           test_fraction=0.15)
    model: UNetConfig = section(UNetConfig)

    def input_size(self) -> int:
        """The side of the model input: `data.image_size`, else 64 (scenes) or 128."""
        return self.data.image_size or (SCENE_SIZE if self.data.path is None else FOLDER_SIZE)

    def check(self) -> None:
        super().check()
        size, stages = self.input_size(), len(self.model.filters)
        if size % 2 ** stages:
            raise ConfigError(
                f"config key 'data.image_size': got {size}, but model.filters "
                f"{self.model.filters!r} has {stages} pooling stages, so the side must be "
                f"divisible by {2 ** stages}")
        for key in ("digits_per_scene", "digit_scale"):
            value = getattr(self.data, key)
            if len(value) != 2 or value[0] > value[1]:
                raise ConfigError(f"config key 'data.{key}': got {value!r}, expected two "
                                  "values, least first")
