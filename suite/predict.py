"""Prediction from an export alone: raw inputs -> the signature's tensors -> text.

`suite predict` (and any later server) needs no training code: it reads the SavedModel
and its manifest, and the adapters here, chosen by the `kind` the manifest gives each
input and output, do the rest. Adding a kind is one entry in `INPUT_KINDS` (and, for an
output a person should read differently, one in `render`).

Input kinds:
    encoded_image    a path to an image file; its bytes are fed as a string
    encoded_audio    a path to an audio file; its bytes are fed as a string
    text             the command-line string itself
    numeric_window   a path to a CSV with a time column; the manifest's `columns` are read
                     by name, gaps filled by the training `missing` policy, and the last
                     `lookback` rows fed as float32

Outputs a person reads differently are rendered by kind: `label` (with
`class_probabilities`), `text`, `quantiles` (a forecast table), `class_map` (written as a
coloured PNG beside each input image, `scene.png` -> `scene.mask.png`, with each class's
share printed) and `similarity_scores` (search results, ranked, with their
`document_labels`, `document_snippets` and `document_sources`); anything else is printed
as arrays.

This module imports TensorFlow, numpy, pandas and Pillow only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from suite.data.validation import DataError


class PredictionInputError(ValueError):
    """An input that cannot be turned into the model's tensors, naming it and why."""


def _file_bytes(items: list[str], spec: dict) -> tuple[tf.Tensor, list[dict]]:
    blobs = []
    for item in items:
        try:
            blobs.append(Path(item).read_bytes())
        except OSError as e:
            raise PredictionInputError(f"cannot read {item!r}: {e.strerror}") from None
    return tf.constant(blobs, tf.string), [{} for _ in items]


def _text(items: list[str], spec: dict) -> tuple[tf.Tensor, list[dict]]:
    return tf.constant(items, tf.string), [{} for _ in items]


def _numeric_window(items: list[str], spec: dict) -> tuple[tf.Tensor, list[dict]]:
    from suite.data.series import csv_columns, read_csv

    columns, lookback = list(spec["columns"]), int(spec["lookback"])
    windows, notes = [], []
    for item in items:
        try:
            header = csv_columns(item)
        except DataError as e:
            raise PredictionInputError(str(e)) from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise PredictionInputError(
                f"{item}: the model reads the column(s) {', '.join(map(repr, columns))}; "
                f"missing {', '.join(map(repr, missing))} (the file has "
                f"{', '.join(map(repr, header))})")
        time_column = spec.get("time_column")
        try:
            series = read_csv(item, time_column if time_column in header else None,
                              columns[0], tuple(columns[1:]), spec.get("frequency"),
                              spec.get("missing", "interpolate"))
        except DataError as e:
            raise PredictionInputError(str(e)) from None
        if len(series.values) < lookback:
            raise PredictionInputError(f"{item}: {len(series.values)} rows; the model needs "
                                       f"the last {lookback}")
        windows.append(series.values[-lookback:])
        notes.append({"last_timestamp": series.index[-1]})
    return tf.constant(np.stack(windows), tf.float32), notes


INPUT_KINDS = {
    "encoded_image": _file_bytes,
    "encoded_audio": _file_bytes,
    "text": _text,
    "numeric_window": _numeric_window,
}


def prepare(signature: dict, items: list[str]) -> tuple[dict[str, tf.Tensor], list[dict]]:
    """The signature's input tensors for command-line `items`, one example per item.

    Args:
        signature: the manifest's description of one signature (`inputs`, `outputs`).
        items: file paths or strings, as the input's kind reads them.

    Returns:
        `(feeds, notes)`: the tensors by input name, and per item what the renderer
        needs to know about it (e.g. the last timestamp of a history).

    Raises:
        PredictionInputError: for an unreadable item, or a signature whose inputs the
            command line cannot fill.
    """
    inputs = signature["inputs"]
    if len(inputs) != 1:
        raise PredictionInputError(
            f"this signature takes {len(inputs)} inputs ({', '.join(inputs)}); the command "
            "line fills signatures of one input")
    (name, spec), = inputs.items()
    kind = spec.get("kind")
    if kind not in INPUT_KINDS:
        raise PredictionInputError(
            f"input {name!r} is of kind {kind!r}; `suite predict` reads "
            f"{', '.join(INPUT_KINDS)}")
    tensor, notes = INPUT_KINDS[kind](items, spec)
    return {name: tensor}, notes


def render(manifest: dict, signature: dict, items: list[str], outputs: dict,
           notes: list[dict]) -> str:
    """The outputs for a person, one block per item, by the outputs' kinds."""
    kinds = {spec.get("kind"): name for name, spec in signature["outputs"].items()}
    values = {name: tensor.numpy() for name, tensor in outputs.items()}
    if "quantiles" in kinds:
        return "\n\n".join(_forecast(signature, items, values[kinds["quantiles"]], notes))
    if "class_map" in kinds:
        return "\n".join(_class_maps(signature, items, values, kinds))
    if "similarity_scores" in kinds:
        return "\n\n".join(_search_results(items, values, kinds))
    if "label" in kinds:
        labels = [_text_of(v) for v in values[kinds["label"]]]
        width = max(len(i) for i in items)
        probabilities = values.get(kinds.get("class_probabilities"))
        lines = []
        for i, (item, label) in enumerate(zip(items, labels)):
            confidence = f"  ({probabilities[i].max():.1%})" if probabilities is not None else ""
            lines.append(f"{item:<{width}}  {label}{confidence}")
        return "\n".join(lines)
    if "text" in kinds:
        texts = [_text_of(v) for v in values[kinds["text"]]]
        return "\n".join(f"{item}\n  -> {text}" for item, text in zip(items, texts))
    blocks = []
    for i, item in enumerate(items):
        rows = [f"  {name}: {_short(value[i])}" for name, value in values.items()]
        blocks.append("\n".join([item, *rows]))
    return "\n".join(blocks)


def _forecast(signature: dict, items, quantiles, notes) -> list[str]:
    import pandas as pd

    spec = next(s for s in signature["outputs"].values() if s.get("kind") == "quantiles")
    window = next(iter(signature["inputs"].values()))
    levels = spec["levels"]
    blocks = []
    for item, q, note in zip(items, quantiles, notes):
        stamps = pd.date_range(note["last_timestamp"], periods=len(q) + 1,
                               freq=window["frequency"])[1:]
        head = f"{'step':>4}  {'time':<19}" + "".join(f"{f'q{lv:g}':>11}" for lv in levels)
        rows = [f"{i + 1:>4}  {str(s)[:19]:<19}" + "".join(f"{v:>11.3f}" for v in row)
                for i, (s, row) in enumerate(zip(stamps, q))]
        blocks.append("\n".join([f"{item}: forecast of {window['columns'][0]}", head, *rows]))
    return blocks


def mask_path(item: str) -> Path:
    """Where `suite predict` writes the coloured class map of the image `item`:
    `scene.png` -> `scene.mask.png` beside it (never the input itself)."""
    path = Path(item)
    return path.with_name(f"{path.stem}.mask.png")


def _class_maps(signature: dict, items, values: dict, kinds: dict) -> list[str]:
    """Writes each image's class map as a PNG in the classes' colours beside the image;
    lists each class's share of the image."""
    from PIL import Image

    spec = signature["outputs"][kinds["class_map"]]
    labels, palette = spec["labels"], np.asarray(spec["palette"], np.uint8)
    sizes = values.get(kinds.get("image_size"))
    blocks = []
    for i, item in enumerate(items):
        class_map = values[kinds["class_map"]][i]
        if sizes is not None:
            class_map = class_map[:sizes[i][0], :sizes[i][1]]
        target = mask_path(item)
        if target.resolve() == Path(item).resolve():
            raise PredictionInputError(f"{item}: the mask would overwrite the input")
        Image.fromarray(palette[class_map]).save(target)
        counts = np.bincount(class_map.ravel(), minlength=len(labels))[:len(labels)]
        width = max(len(label) for label in labels)
        rows = [f"  {labels[c]:<{width}}  {counts[c] / class_map.size:>6.1%}  "
                f"{counts[c]:>9,} px" for c in np.argsort(-counts) if counts[c]]
        blocks.append("\n".join([f"{item} -> {target} ({class_map.shape[1]}x"
                                 f"{class_map.shape[0]})", *rows]))
    return blocks


def _search_results(items, values: dict, kinds: dict) -> list[str]:
    """Each query's nearest documents, best first: rank, similarity, label, the start of
    the text and where it came from (by the kinds `similarity_scores`, `document_labels`,
    `document_snippets`, `document_sources` and `word_count`)."""
    scores = values[kinds["similarity_scores"]]
    column = {kind: values.get(kinds.get(kind)) for kind in
              ("document_labels", "document_snippets", "document_sources", "word_count")}
    blocks = []
    for i, item in enumerate(items):
        lines = [f"query: {item}"]
        if column["word_count"] is not None and column["word_count"][i] == 0:
            lines.append("  (none of its words is in the model's vocabulary: the results "
                         "are arbitrary)")
        for r, score in enumerate(scores[i]):
            label = (_text_of(column["document_labels"][i][r])
                     if column["document_labels"] is not None else "")
            text = (_text_of(column["document_snippets"][i][r])
                    if column["document_snippets"] is not None else "")
            lines.append(f"  {r + 1:>2}. {score:6.3f}" + (f"  [{label}]" if label else "")
                         + (f"  {text}" if text else ""))
            if column["document_sources"] is not None:
                lines.append(f"      {_text_of(column['document_sources'][i][r])}")
        blocks.append("\n".join(lines))
    return blocks


def _text_of(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _short(value: np.ndarray) -> str:
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        return repr(value.tolist()) if value.ndim else _text_of(value.item())
    return np.array2string(value, precision=4, threshold=12, edgeitems=3)
