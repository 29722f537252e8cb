"""Image-classification data: scikit-learn's digits (embedded) or a folder of class folders.

Both go through the decoder the exported model runs (`suite.data.images.decode_image`):
the digits are stored as the 8-bit PNGs a user would send, and a folder's files are
read as they are. The datasets hold records (PNG bytes or file paths) that `decode`
turns into pixels, so the Trainer shuffles cheap records and decodes after.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf
from PIL import Image

from suite.data import (DataInfo, Skipped, Splits, fingerprint_arrays, fingerprint_files,
                        stratified_split)
from suite.data.images import ImageState, decode_image, scan_class_folders

DIGITS_SIZE = 8
FOLDER_SIZE = 64


def default_shape(config) -> tuple[int, int]:
    """`(size, channels)` when the config leaves them unset: 8x8 grey digits, 64x64 RGB."""
    embedded = config.path is None
    return (DIGITS_SIZE if embedded else FOLDER_SIZE), (1 if embedded else 3)


def load(config) -> Splits:
    """The splits named by the `data` config: digits when `path` is unset, else a folder.

    `config.image_size` and `config.channels` must be resolved (not `None`).
    """
    state = ImageState(config.image_size, config.image_size, config.channels)
    if config.path is None:
        return load_digits_splits(config, state)
    return load_folder_splits(config, state)


def load_digits_splits(config, state: ImageState) -> Splits:
    """scikit-learn's 1,797 8x8 digit images (16 grey levels), as 8-bit PNG records."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)
    records = np.asarray([_png(p) for p in pixels], dtype=object)
    labels = digits.target.astype(np.int32)
    idx = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed,
                           config.limit)
    info = DataInfo(
        fingerprint=fingerprint_arrays(digits.images, digits.target),
        sizes={k: len(i) for k, i in idx.items()},
        classes=[str(c) for c in digits.target_names],
        source="embedded: scikit-learn digits",
        state=state,
    )

    def decode(record, label):
        return decode_image(record, state.shape[:2], state.channels), label

    make = {k: tf.data.Dataset.from_tensor_slices((records[i].astype(bytes), labels[i]))
            for k, i in idx.items()}
    return Splits(make["train"], make["val"], make["test"], info, decode=decode)


def load_folder_splits(config, state: ImageState) -> Splits:
    """A folder with one sub-folder per class; unreadable images are skipped or stop the run."""
    skipped = Skipped(config.on_error)
    paths, labels, classes = scan_class_folders(config.path, skipped)
    idx = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed,
                           config.limit)
    paths_arr = np.asarray(paths)
    info = DataInfo(
        fingerprint=fingerprint_files(paths, config.path),
        sizes={k: len(i) for k, i in idx.items()},
        classes=classes,
        source=f"folder: {config.path}",
        skipped=list(skipped.items),
        state=state,
    )

    def decode(path, label):
        return decode_image(tf.io.read_file(path), state.shape[:2], state.channels), label

    make = {k: tf.data.Dataset.from_tensor_slices((paths_arr[i], labels[i]))
            for k, i in idx.items()}
    return Splits(make["train"], make["val"], make["test"], info, decode=decode)


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")  # uint8 2-D: grayscale
    return out.getvalue()
