"""Image folders and the in-graph image decoder shared by training and serving.

Class folders are listed and checked here rather than read with Keras'
`image_dataset_from_directory`: that utility fails mid-epoch with a bare
`InvalidArgumentError` on the first corrupt file, and its decoding is not the one the
exported graph runs. Checking every file up front lets a bad one be named and skipped
(or stop the run) before training, and `decode_image` keeps training and serving identical.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from suite.data.validation import DataError, Skipped

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_DECODABLE = {"PNG", "JPEG", "BMP", "GIF"}  # what tf.io.decode_image reads


@dataclasses.dataclass
class ImageState:
    """The preprocessing an image model and its export share: the decoded image's shape."""

    height: int
    width: int
    channels: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.channels


def encoded_examples(pixels: np.ndarray, count: int = 2) -> np.ndarray:
    """The first `count` images of a `[n, h, w, c]` float array in [0, 1] as PNG bytes:
    what a client sends an image model (`Pipeline.serving_example`)."""
    return np.array([tf.io.encode_png(tf.image.convert_image_dtype(image, tf.uint8,
                                                                   saturate=True)).numpy()
                     for image in pixels[:count]], dtype=object)


def image_endpoints(shape: tuple[int, int, int], outputs: dict) -> dict[str, dict]:
    """The descriptions (`Pipeline.describe`) of an image model's two endpoints:
    `serving_default` on encoded image bytes and `predict_pixels` on float pixels, both
    returning `outputs` (described the same way).

    Args:
        shape: `(height, width, channels)` of the model input.
        outputs: output name -> `{"kind": ..., "description": ...}`.
    """
    h, w, c = shape
    return {
        "serving_default": {
            "inputs": {"images": {"kind": "encoded_image",
                                  "description": "encoded image bytes (PNG, JPEG, BMP, GIF); "
                                                 f"decoded, resized to {h}x{w}x{c} and scaled "
                                                 "to [0, 1] inside the model"}},
            "outputs": outputs},
        "predict_pixels": {
            "inputs": {"pixels": {"kind": "pixels",
                                  "description": f"{h}x{w}x{c} float pixels in [0, 1]"}},
            "outputs": outputs},
    }


def decode_image(data: tf.Tensor, size: tuple[int, int], channels: int) -> tf.Tensor:
    """Decodes one encoded image (PNG/JPEG/BMP/GIF bytes) to float32 in [0, 1], resized.

    The same function runs in the training input pipeline and inside the exported
    serving graph, so a client's bytes are treated exactly as the training files were.

    Args:
        data: a scalar string tensor of encoded image bytes.
        size: `(height, width)` of the output.
        channels: 1 (grayscale) or 3 (RGB); images are converted as needed.
    """
    return decode_image_with_size(data, size, channels)[0]


def decode_image_with_size(data: tf.Tensor, size: tuple[int, int],
                           channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """`decode_image`, also returning the image's own `[height, width]` (int32), for a
    model whose answer goes back to the input's size (a segmentation's class map)."""
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    own_size = tf.shape(image)[:2]
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.image.resize(image, size, antialias=True)
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), (*size, channels)), own_size


def scan_class_folders(root: str | Path, skipped: Skipped):
    """Lists a folder with one sub-folder per class, checking every image.

    A file that is not a readable image is reported through `skipped` (which skips or
    stops per `data.on_error`); a class folder with no readable image is reported and
    left out of the classes.

    Args:
        root: the dataset folder.
        skipped: the collector of bad inputs.

    Returns:
        `(paths, labels, class_names)`: readable image paths, their class ids (numpy),
        and the sorted class names.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.path {str(root)!r} is not a directory of class folders")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels, names = [], [], []
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        good = [p for p in files if _readable(p, skipped)]
        if not good:
            skipped.report(class_dir, "class folder has no readable image")
            continue
        paths += good
        labels += [len(names)] * len(good)
        names.append(class_dir.name)
    if len(names) < 2:
        raise DataError(
            f"data.path {str(root)!r}: found {len(names)} class folder(s) with images "
            f"({', '.join(names) or 'none'}); expected at least 2, one sub-folder per class "
            f"holding {'/'.join(IMAGE_EXTENSIONS)} files"
        )
    return [str(p) for p in paths], np.asarray(labels, dtype=np.int32), names


def _readable(path: Path, skipped: Skipped) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
            if image.format not in _DECODABLE:
                raise ValueError(f"{image.format} data, which the model's decoder cannot read")
            if image.mode == "CMYK":
                raise ValueError("CMYK colours, which the model's decoder cannot read")
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        skipped.report(path, f"not a readable image ({type(e).__name__}: {e})")
        return False
