"""Image-classification data: scikit-learn's digits (embedded) or a folder of class folders."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from suite.data import (DataInfo, Skipped, Splits, fingerprint_arrays, fingerprint_files,
                        stratified_split)
from suite.data.images import decode_image, scan_class_folders

DIGITS_SIZE = 8
FOLDER_SIZE = 64


def image_shape(config) -> tuple[int, int, int]:
    """`(height, width, channels)` of the model input for this data config."""
    embedded = config.path is None
    size = config.image_size or (DIGITS_SIZE if embedded else FOLDER_SIZE)
    channels = config.channels or (1 if embedded else 3)
    return size, size, channels


def load(config) -> Splits:
    """The splits named by the `data` config: digits when `path` is unset, else a folder."""
    if config.path is None:
        return load_digits_splits(config)
    return load_folder_splits(config)


def load_digits_splits(config) -> Splits:
    """scikit-learn's 1,797 8x8 digit images (16 grey levels), scaled to [0, 1]."""
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[..., None]
    labels = digits.target.astype(np.int32)
    shape = image_shape(config)
    if shape != (DIGITS_SIZE, DIGITS_SIZE, 1):
        images = tf.image.resize(images, shape[:2], antialias=True).numpy()
        images = np.repeat(images, shape[2], axis=-1) if shape[2] == 3 else images
    idx = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed,
                           config.limit)
    make = {k: tf.data.Dataset.from_tensor_slices((images[i], labels[i])) for k, i in idx.items()}
    info = DataInfo(
        fingerprint=fingerprint_arrays(digits.images, digits.target),
        sizes={k: len(i) for k, i in idx.items()},
        classes=[str(c) for c in digits.target_names],
        source="embedded: scikit-learn digits",
        extra={"image_shape": shape},
    )
    return Splits(make["train"], make["val"], make["test"], info)


def load_folder_splits(config) -> Splits:
    """A folder with one sub-folder per class; unreadable images are skipped or stop the run."""
    skipped = Skipped(config.on_error)
    paths, labels, classes = scan_class_folders(config.path, skipped)
    shape = image_shape(config)
    idx = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed,
                           config.limit)
    paths_arr = np.asarray(paths)

    def dataset(i):
        ds = tf.data.Dataset.from_tensor_slices((paths_arr[i], labels[i]))
        return ds.map(lambda p, y: (decode_image(tf.io.read_file(p), shape[:2], shape[2]), y),
                      num_parallel_calls=tf.data.AUTOTUNE)

    info = DataInfo(
        fingerprint=fingerprint_files(paths, config.path),
        sizes={k: len(i) for k, i in idx.items()},
        classes=classes,
        source=f"folder: {config.path}",
        skipped=list(skipped.items),
        extra={"image_shape": shape},
    )
    return Splits(dataset(idx["train"]), dataset(idx["val"]), dataset(idx["test"]), info)


def to_numpy(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """All `(images, labels)` of an unbatched dataset as two arrays."""
    xs, ys = [], []
    for x, y in ds.batch(256).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
