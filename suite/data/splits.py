"""Train/val/test splits: the `Splits` a pipeline's `load_data` returns, and how to make them."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class DataInfo:
    """What the model and the export need to know about the data.

    Args:
        fingerprint: a content hash of the data (logged as an MLflow tag; keys the saved
            model of an unfinished run and the baseline cache).
        sizes: the number of examples per split.
        classes: class names, index = class id (classification tasks).
        source: where the data came from, for people (a path or "embedded: ...").
        skipped: input files or lines that were skipped, with the reason.
        state: the fitted preprocessing, a dataclass of the pipeline's own (vocabularies,
            tokenizer models, image shape, windowing, ...). The model and the export are
            both built from this one object, so serving preprocesses as training did.
    """

    fingerprint: str
    sizes: dict[str, int]
    classes: list[str] = dataclasses.field(default_factory=list)
    source: str = ""
    skipped: list[str] = dataclasses.field(default_factory=list)
    state: Any = None


@dataclasses.dataclass
class Splits:
    """`tf.data` datasets per split, plus their `DataInfo`.

    Each dataset holds unbatched `(inputs, targets)` examples, or, when `decode` is set,
    cheap records (file paths, encoded bytes) that `decode` turns into examples. Records
    let the Trainer shuffle a large data set before decoding it, with no shuffle buffer of
    decoded images; `examples(name)` gives the decoded examples of a split.

    Args:
        train, val, test: the datasets.
        info: what the model and the export need to know.
        decode: an optional `record -> (inputs, targets)` function, traceable by tf.data.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    info: DataInfo
    decode: Callable | None = None
    _arrays: dict = dataclasses.field(default_factory=dict, init=False, repr=False)

    def examples(self, name: str) -> tf.data.Dataset:
        """The decoded `(inputs, targets)` examples of the split `name`."""
        ds = getattr(self, name)
        if self.decode is None:
            return ds
        return ds.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """All decoded `(inputs, targets)` of the split `name` as two numpy arrays (for
        examples of fixed shape), decoded once and kept: baselines, scores and figures of
        a run read the same arrays."""
        if name not in self._arrays:
            xs, ys = [], []
            for x, y in self.examples(name).batch(256).as_numpy_iterator():
                xs.append(x)
                ys.append(y)
            self._arrays[name] = (np.concatenate(xs), np.concatenate(ys))
        return self._arrays[name]


def stratified_split(labels, val_fraction: float, test_fraction: float, seed: int,
                     limit: int | None = None) -> dict[str, np.ndarray]:
    """Indices of a stratified train/val/test split (each class kept in proportion).

    Args:
        labels: one class id per example.
        val_fraction: the share of all examples for validation (0 for none).
        test_fraction: the share of all examples for the test split.
        seed: the split's random seed; the same seed gives the same split.
        limit: if given, a stratified subset of at most this many examples is split.

    Returns:
        `{"train": idx, "val": idx, "test": idx}`, each sorted.
    """
    from sklearn.model_selection import train_test_split  # training only, not prediction

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    if limit is not None and limit < len(idx):
        idx, _ = train_test_split(idx, train_size=limit, random_state=seed,
                                  stratify=_stratify(labels[idx], limit / len(idx)))
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed,
                                  stratify=_stratify(labels[idx], test_fraction))
    val = np.array([], dtype=int)
    if val_fraction > 0:
        share = val_fraction / (1.0 - test_fraction)
        rest, val = train_test_split(rest, test_size=share, random_state=seed,
                                     stratify=_stratify(labels[rest], share))
    return {"train": np.sort(rest), "val": np.sort(val), "test": np.sort(test)}


def _stratify(labels: np.ndarray, share: float):
    """Stratify where it is possible: every class has two examples and each side of the
    split gets at least one per class; otherwise split at random."""
    _, counts = np.unique(labels, return_counts=True)
    smaller = min(share, 1.0 - share) * len(labels)
    possible = len(counts) and counts.min() >= 2 and int(smaller) >= len(counts)
    return labels if possible else None
