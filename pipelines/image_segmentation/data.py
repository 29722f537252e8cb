"""Image-segmentation data: composed digit scenes (embedded) or an images/ + masks/ folder.

A folder holds `images/` and `masks/` whose files pair up by stem (`images/cat_1.jpg` with
`masks/cat_1.png`). A mask is a single-channel PNG (grey or palette) of class ids, or with
`data.mask_format=trimap` an Oxford-IIIT Pets trimap (1 foreground, 2 background, 3 border
-> classes 0, 1, 2). An optional `classes.txt` beside the two folders names the classes,
one per line. Every pair is checked before training: a missing mask, an unreadable file,
an image and mask of different sizes or a class id beyond the classes names both files and
is skipped and counted (or stops the run, per `data.on_error`).

Masks are read here with PIL (palette PNGs give their indices, not colours) and resized to
the model's size with nearest-neighbour sampling, never interpolated; images are decoded
in the input pipeline by `suite.data.images.decode_image`, which the exported model runs
too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from suite.data import (DataError, DataInfo, Skipped, Splits, fingerprint_arrays,
                        fingerprint_files, stratified_split)
from suite.data.images import IMAGE_EXTENSIONS, ImageState, decode_image

from pipelines.image_segmentation import scenes
from pipelines.image_segmentation.config import FOLDER_SIZE, SCENE_SIZE

TRIMAP_CLASSES = ["foreground", "background", "border"]
_MASK_MODES = {"L", "P", "I", "I;16", "1"}


@dataclasses.dataclass
class SegmentationState(ImageState):
    """What the model and the export share: the input shape and the number of classes;
    for `model.class_weights=balanced`, the training pixels of each class too (learned
    from the training masks by `with_class_pixels`)."""

    num_classes: int
    class_pixels: tuple[int, ...] | None = None


def with_class_pixels(splits: Splits) -> Splits:
    """`splits` whose state also counts the training pixels of each class."""
    _, masks = splits.arrays("train")
    counts = np.bincount(masks.ravel(), minlength=splits.info.state.num_classes)
    splits.info.state = dataclasses.replace(splits.info.state,
                                            class_pixels=tuple(int(c) for c in counts))
    return splits  # the decoded training arrays stay cached for the baselines


def default_shape(config) -> tuple[int, int]:
    """`(size, channels)` when the config leaves them unset: 64x64 grey scenes, 128 RGB."""
    embedded = config.path is None
    return (SCENE_SIZE if embedded else FOLDER_SIZE), (1 if embedded else 3)


def load(config) -> Splits:
    """The splits named by the `data` config: composed scenes when `path` is unset, else a
    folder. `config.image_size` and `config.channels` must be resolved (not `None`)."""
    if config.path is None:
        return load_scenes(config)
    return load_folder(config)


def scene_counts(config) -> dict[str, int]:
    """How many scenes each split gets: `data.scenes` (at most `data.limit`) shared by the
    split fractions, at least one per split."""
    total = min(config.scenes, config.limit or config.scenes)
    val = max(1, round(total * config.val_fraction)) if config.val_fraction > 0 else 0
    test = max(1, round(total * config.test_fraction))
    return {"train": max(1, total - val - test), "val": val, "test": test}


def load_scenes(config) -> Splits:
    """Scenes composed from scikit-learn's digits; each split draws from its own digits.

    The 1,797 digit images are split (stratified by digit) by the same fractions as the
    scenes, so test scenes hold only digit images that no training scene holds.
    """
    digits, labels = scenes.load_digits_pool()
    pools = stratified_split(labels, config.val_fraction, config.test_fraction, config.seed)
    size, channels = config.image_size, config.channels
    arrays = {}
    for n, (name, count) in enumerate(scene_counts(config).items()):
        pool = pools[name] if len(pools[name]) else pools["train"]
        arrays[name] = scenes.compose_scenes(
            digits[pool], labels[pool], count, size, seed=config.seed * 1009 + n,
            per_scene=tuple(config.digits_per_scene), scale=tuple(config.digit_scale),
            noise=config.noise, clutter=config.clutter,
            max_overlap=config.max_overlap) if count else (
            np.zeros((0, size, size), np.uint8), np.zeros((0, size, size), np.uint8))
    state = SegmentationState(size, size, channels, len(scenes.CLASSES))
    info = DataInfo(
        fingerprint=fingerprint_arrays(*(a for pair in arrays.values() for a in pair)),
        sizes={k: len(v[0]) for k, v in arrays.items()},
        classes=list(scenes.CLASSES),
        source="embedded: scenes composed from scikit-learn digits",
        state=state,
    )

    def decode(image, mask):
        pixels = tf.cast(image, tf.float32)[..., None] / 255.0
        if channels == 3:
            pixels = tf.tile(pixels, (1, 1, 3))
        return pixels, tf.cast(mask, tf.int32)

    make = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in arrays.items()}
    return Splits(make["train"], make["val"], make["test"], info, decode=decode)


def load_folder(config) -> Splits:
    """An `images/` + `masks/` folder: pairs checked, masks resized, images by path."""
    root = Path(config.path)
    skipped = Skipped(config.on_error)
    pairs, ids, classes = scan_pairs(root, config.mask_format, config.num_classes, skipped)
    size, channels = config.image_size, config.channels
    masks = np.stack([resize_mask(m, size) for m in ids]) if ids else None
    idx = stratified_split(np.zeros(len(pairs), np.int32), config.val_fraction,
                           config.test_fraction, config.seed, config.limit)
    image_paths = np.asarray([str(i) for i, _ in pairs])
    state = SegmentationState(size, size, channels, len(classes))
    info = DataInfo(
        fingerprint=fingerprint_files([p for pair in pairs for p in pair], root),
        sizes={k: len(i) for k, i in idx.items()},
        classes=classes,
        source=f"folder: {root}",
        skipped=list(skipped.items),
        state=state,
    )

    def decode(path, mask):
        return decode_image(tf.io.read_file(path), (size, size), channels), \
            tf.cast(mask, tf.int32)

    make = {k: tf.data.Dataset.from_tensor_slices((image_paths[i], masks[i]))
            for k, i in idx.items()}
    return Splits(make["train"], make["val"], make["test"], info, decode=decode)


def scan_pairs(root: Path, mask_format: str, num_classes: int | None, skipped: Skipped):
    """Pairs `images/` with `masks/` by stem and checks every pair.

    Args:
        root: the folder holding `images/`, `masks/` and optionally `classes.txt`.
        mask_format: `"ids"` or `"trimap"`.
        num_classes: the number of classes, or `None` to take it from `classes.txt`, else
            from the largest id found.
        skipped: the collector of bad pairs.

    Returns:
        `(pairs, masks, classes)`: `(image_path, mask_path)` of each good pair, its mask's
        class ids (a 2-D uint8 array at the image's size) and the class names.
    """
    images_dir, masks_dir = root / "images", root / "masks"
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(f"data.path {str(root)!r}: no {folder.name}/ folder; expected "
                            "images/ and masks/ with matching file names")
    names = _class_names(root, mask_format, num_classes)
    images = {p.stem: p for p in sorted(images_dir.iterdir())
              if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS}
    masks = {p.stem: p for p in sorted(masks_dir.iterdir())
             if p.is_file() and p.suffix.lower() == ".png"}
    for stem in sorted(set(masks) - set(images)):
        skipped.report(masks[stem], "a mask with no image of the same name in images/")
    found = []
    for stem, image_path in images.items():
        mask_path = masks.get(stem)
        if mask_path is None:
            skipped.report(image_path, f"no mask {stem}.png in {masks_dir}")
            continue
        ids = _checked_pair(image_path, mask_path, mask_format, names, skipped)
        if ids is not None:
            found.append(((image_path, mask_path), ids))
    if names is None:  # inferred: the largest id found
        count = max((int(ids.max()) for _, ids in found), default=0) + 1
        names = [str(i) for i in range(max(count, 2))]
    if len(found) < 3:
        first = f"; the first skipped: {skipped.items[0]}" if skipped.items else ""
        raise DataError(f"data.path {str(root)!r}: {len(found)} usable image/mask pair(s), "
                        f"{len(skipped)} skipped; expected at least 3 (one per split){first}")
    return [p for p, _ in found], [ids for _, ids in found], names


def _class_names(root: Path, mask_format: str, num_classes: int | None) -> list[str] | None:
    listed = root / "classes.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        if num_classes is not None and num_classes != len(names):
            raise DataError(f"{listed} names {len(names)} classes but data.num_classes is "
                            f"{num_classes}; make them agree or unset data.num_classes")
        if len(names) < 2:
            raise DataError(f"{listed}: {len(names)} class name(s); expected at least 2")
        return names
    if mask_format == "trimap":
        if num_classes not in (None, 3):
            raise DataError(f"data.num_classes {num_classes} with data.mask_format=trimap; "
                            "a trimap has 3 classes")
        return list(TRIMAP_CLASSES)
    return [str(i) for i in range(num_classes)] if num_classes is not None else None


def _checked_pair(image_path: Path, mask_path: Path, mask_format: str,
                  names: list[str] | None, skipped: Skipped) -> np.ndarray | None:
    pair = f"{image_path} and its mask {mask_path}"
    try:
        with Image.open(image_path) as image:
            image.verify()
            image_size = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        skipped.report(image_path, f"not a readable image ({type(e).__name__}: {e}); "
                                   f"mask {mask_path} left out with it")
        return None
    try:
        with Image.open(mask_path) as mask:
            mask.load()
            mode, mask_size = mask.mode, mask.size
            ids = np.asarray(mask) if mode in _MASK_MODES else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        skipped.report(mask_path, f"not a readable mask ({type(e).__name__}: {e}); "
                                  f"image {image_path} left out with it")
        return None
    if ids is None:
        skipped.report(mask_path, f"mask of {image_path} is a {mode} image; expected one "
                                  "channel of class ids (grey or palette PNG)")
        return None
    if mask_size != image_size:
        skipped.report(mask_path, f"{pair} differ in size: image {image_size[0]}x"
                                  f"{image_size[1]}, mask {mask_size[0]}x{mask_size[1]}")
        return None
    ids = ids.astype(np.int64)
    if mask_format == "trimap":
        bad = ids[(ids < 1) | (ids > 3)]
        if bad.size:
            skipped.report(mask_path, f"trimap of {image_path} holds the value {int(bad[0])}; "
                                      "expected 1, 2 or 3")
            return None
        ids = ids - 1
    if names is not None and ids.max() >= len(names):
        skipped.report(mask_path, f"mask of {image_path} holds class id {int(ids.max())}, "
                                  f"beyond the {len(names)} classes (ids 0-{len(names) - 1})")
        return None
    if ids.max() > 254:
        skipped.report(mask_path, f"mask of {image_path} holds class id {int(ids.max())}; "
                                  "at most 255 classes are supported")
        return None
    return ids.astype(np.uint8)


def resize_mask(ids: np.ndarray, size: int) -> np.ndarray:
    """A mask of class ids resized to `size x size` by nearest neighbour (never blended)."""
    if ids.shape == (size, size):
        return ids
    return np.asarray(Image.fromarray(ids, mode="L").resize((size, size), Image.NEAREST))

