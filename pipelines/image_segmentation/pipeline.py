"""The image-segmentation pipeline: a U-Net vs its no-skip ablation and a per-pixel majority,
with an export that takes image bytes and answers at the image's own size."""

from __future__ import annotations

import re

import keras
import numpy as np
import tensorflow as tf

from suite import plots
from suite.baselines import Baseline
from suite.data import DataInfo, Splits
from suite.data.augment import joint_affine
from suite.data.images import decode_image_with_size, encoded_examples, image_endpoints
from suite.metrics import SegmentationLoss, segmentation_scores
from suite.pipeline import Pipeline
from suite.training import Trainer

from pipelines.image_segmentation import data, model
from pipelines.image_segmentation import plots as seg_plots
from pipelines.image_segmentation.config import ImageSegmentationConfig

OUTSIDE = 255  # the class-map value of padding beyond an image in a batch of several sizes
GRID_EXAMPLES = 6


class ImageSegmentationPipeline(Pipeline):
    """Labels every pixel with a U-Net; composed digit scenes by default, images/ + masks/
    folders with --data."""

    name = "image-segmentation"
    config_cls = ImageSegmentationConfig
    main_metric = "mean_iou"
    main_baseline = "no_skip"
    monitor = "val_mean_iou"
    monitor_mode = "max"

    # --- data and model -----------------------------------------------------------------

    def load_data(self) -> Splits:
        cfg = self.config.data
        size, channels = data.default_shape(cfg)
        cfg.image_size = cfg.image_size or size
        cfg.channels = cfg.channels or channels
        splits = data.load(cfg)
        if self.config.model.class_weights == "balanced":
            splits = data.with_class_pixels(splits)
        return splits

    def build_model(self, info: DataInfo) -> keras.Model:
        return self._compiled(model.build_unet(info.state.shape, info.state.num_classes,
                                               self.config.model), info)

    def _compiled(self, net: keras.Model, info: DataInfo, trainer: Trainer | None = None):
        cfg = self.config.model
        weights = class_weights(info.state.class_pixels) if cfg.class_weights == "balanced" \
            else None
        loss = SegmentationLoss(dice_weight=cfg.dice_weight, class_weights=weights)
        iou = keras.metrics.MeanIoU(info.state.num_classes, sparse_y_pred=False,
                                    name="mean_iou")
        return (trainer or self.trainer).compile(net, loss=loss, metrics=[iou])

    def augment(self, info: DataInfo):
        cfg = self.config.data
        return joint_affine(cfg.flip, cfg.rotation, cfg.zoom, cfg.translation,
                            seed=self.config.trainer.seed)

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        return [
            Baseline("majority", fit=self._fit_majority, predict=self._predict_majority,
                     description="each pixel position's most frequent training class"),
            Baseline("no_skip", fit=self._fit_no_skip, predict=self._predict_net,
                     depends_on=("trainer", "model"),
                     description="the same encoder-decoder without skip connections, "
                                 "trained alike"),
        ]

    def _fit_no_skip(self, splits: Splits, workdir):
        info = splits.info
        return self.fit_network(
            lambda: self._compiled(model.build_unet(info.state.shape, info.state.num_classes,
                                                    self.config.model, skips=False), info),
            splits, workdir, augment=self.augment(info))

    def _predict_net(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        x, _ = splits.arrays("test")
        probabilities = net.predict(x, batch_size=self.config.trainer.batch_size, verbose=0)
        return {"class_map": np.argmax(probabilities, axis=-1).astype(np.uint8)}

    def _fit_majority(self, splits: Splits, workdir):
        _, masks = splits.arrays("train")
        classes = splits.info.state.num_classes
        counts = np.zeros((classes, *masks.shape[1:]), np.int64)
        for c in range(classes):
            counts[c] = np.sum(masks == c, axis=0)
        return np.argmax(counts, axis=0).astype(np.uint8)

    def _predict_majority(self, fitted: np.ndarray, splits: Splits) -> dict[str, np.ndarray]:
        _, masks = splits.arrays("test")
        return {"class_map": np.broadcast_to(fitted, masks.shape).copy()}

    def predict(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        return self._predict_net(net, splits)

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        _, masks = splits.arrays("test")
        classes = splits.info.classes
        matrix = segmentation_scores.confusion_matrix(masks, predictions["class_map"],
                                                      len(classes))
        metrics = segmentation_scores.scores(matrix)
        present = matrix.sum(axis=1) > 0
        for name, iou, shown in zip(classes, segmentation_scores.per_class_iou(matrix),
                                    present):
            if shown:
                metrics[f"iou_{_metric_name(name)}"] = float(iou)
        return metrics


    def figures(self, net, splits: Splits, predictions) -> dict:
        images, masks = splits.arrays("test")
        classes = splits.info.classes
        palette = seg_plots.class_palette(len(classes))
        shown = np.linspace(0, len(images) - 1, min(GRID_EXAMPLES, len(images))).astype(int)
        columns = {"U-Net": predictions["test"]["class_map"][shown]}
        if "baseline_no_skip" in predictions:
            columns["no skips"] = predictions["baseline_no_skip"]["class_map"][shown]
        test = segmentation_scores.scores(segmentation_scores.confusion_matrix(
            masks, predictions["test"]["class_map"], len(classes)))
        figures = {"test_examples": seg_plots.segmentation_grid(
            images[shown], masks[shown], columns, classes, palette,
            title=f"test split: U-Net mean IoU {test['mean_iou']:.3f}")}
        matrices = {label: segmentation_scores.confusion_matrix(
            masks, predictions[key]["class_map"], len(classes))
            for label, key in (("U-Net", "test"), ("no skips", "baseline_no_skip"),
                               ("majority", "baseline_majority")) if key in predictions}
        present = next(iter(matrices.values())).sum(axis=1) > 0
        figures["per_class_iou"] = plots.grouped_bars(
            [c for c, p in zip(classes, present) if p],
            {label: list(segmentation_scores.per_class_iou(m)[present])
             for label, m in matrices.items()},
            "IoU", title="per-class IoU on the test split")
        return figures

    # --- export -------------------------------------------------------------------------

    def manifest_extra(self, info: DataInfo) -> dict:
        return {"palette": seg_plots.class_palette(info.state.num_classes),
                "outside_value": OUTSIDE}

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        return {"images": encoded_examples(splits.arrays("test")[0])}

    def describe(self, info: DataInfo) -> dict:
        h, w, _ = info.state.shape
        palette = seg_plots.class_palette(info.state.num_classes)
        outputs = {
            "class_map": {"kind": "class_map", "labels": list(info.classes),
                          "palette": palette, "outside_value": OUTSIDE,
                          "description": "the class id of every pixel, at each input image's "
                                         f"own size; in a batch of several sizes, pixels "
                                         f"beyond an image's own size are {OUTSIDE}"},
            "probabilities": {"kind": "class_probabilities_map",
                              "description": f"per-pixel class probabilities at the model's "
                                             f"{h}x{w}"},
            "class_pixels": {"kind": "class_areas", "labels": list(info.classes),
                             "description": "how many pixels of each image's class map "
                                            "belong to each class"},
            "image_size": {"kind": "image_size",
                           "description": "each input image's own [height, width]"},
        }
        return image_endpoints(info.state.shape, outputs)

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        h, w, c = info.state.shape
        classes = info.state.num_classes

        def at_size(probabilities, size, padded_size):
            """The class map of one image at its own size, padded to `padded_size`."""
            resized = tf.image.resize(probabilities, size, method="bilinear")
            class_map = tf.cast(tf.argmax(resized, axis=-1), tf.int32)
            pixels = tf.math.bincount(class_map, minlength=classes, maxlength=classes,
                                      dtype=tf.int32)
            padded = tf.pad(class_map, [[0, padded_size[0] - size[0]],
                                        [0, padded_size[1] - size[1]]],
                            constant_values=OUTSIDE)
            return tf.cast(padded, tf.uint8), pixels

        def answer(pixels, sizes):
            probabilities = tf.cast(net(pixels, training=False), tf.float32)
            padded_size = tf.reduce_max(tf.concat([sizes, [[0, 0]]], axis=0), axis=0)
            class_map, class_pixels = tf.map_fn(
                lambda args: at_size(args[0], args[1], padded_size), (probabilities, sizes),
                fn_output_signature=(tf.TensorSpec([None, None], tf.uint8),
                                     tf.TensorSpec([classes], tf.int32)))
            return {"class_map": class_map, "probabilities": probabilities,
                    "class_pixels": class_pixels, "image_size": sizes}

        def from_bytes(images):
            pixels, sizes = tf.map_fn(
                lambda b: decode_image_with_size(b, (h, w), c), images,
                fn_output_signature=(tf.TensorSpec((h, w, c), tf.float32),
                                     tf.TensorSpec([2], tf.int32)))
            return answer(pixels, sizes)

        def from_pixels(pixels):
            sizes = tf.tile([[h, w]], [tf.shape(pixels)[0], 1])
            return answer(pixels, sizes)

        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.add_endpoint("serving_default", from_bytes,
                             input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        archive.add_endpoint("predict_pixels", from_pixels,
                             input_signature=[tf.TensorSpec([None, h, w, c], tf.float32,
                                                            name="pixels")])
        return archive


def _metric_name(name: str) -> str:
    """A class name as an MLflow metric-name part (letters, digits, `_`, `-`, `.`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


def class_weights(pixels) -> list[float]:
    """`1 / sqrt(share)` of each class's training pixels, scaled so that the average pixel
    weighs 1; a class with no training pixel gets the largest weight.

    Args:
        pixels: the training pixels of each class (`SegmentationState.class_pixels`).
    """
    counts = np.asarray(pixels, dtype=float)
    share = counts / counts.sum()
    weights = np.where(share > 0, 1.0 / np.sqrt(np.maximum(share, 1e-12)), 0.0)
    weights[share == 0] = weights.max()
    return list(weights / np.sum(weights * share))
