"""The image-classification pipeline: CNN vs an MLP and logistic regression, bytes-in export."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from suite import plots
from suite.data import DataInfo, Splits
from suite.data.images import decode_image
from suite.pipeline import Pipeline
from suite.training import Trainer

from pipelines.image_classification import data, model
from pipelines.image_classification.config import ImageClassificationConfig


class ImageClassificationPipeline(Pipeline):
    """Classifies images with a CNN; digits by default, a class-per-folder dataset with --data."""

    name = "image-classification"
    config_cls = ImageClassificationConfig
    main_metric = "accuracy"
    main_baseline = "logistic_regression"
    monitor = "val_accuracy"
    monitor_mode = "max"

    def load_data(self) -> Splits:
        return data.load(self.config.data)

    def build_model(self, info: DataInfo) -> keras.Model:
        return self._compiled(model.build_cnn(info.extra["image_shape"], len(info.classes),
                                              self.config.model), self.trainer)

    @staticmethod
    def _compiled(net: keras.Model, trainer: Trainer) -> keras.Model:
        return trainer.compile(net, loss="sparse_categorical_crossentropy",
                               metrics=["accuracy"])

    def augment(self, info: DataInfo):
        cfg, seed = self.config.data, self.config.trainer.seed
        layers = []
        if cfg.flip != "none":
            layers.append(keras.layers.RandomFlip(cfg.flip, seed=seed))
        if cfg.rotation > 0:
            layers.append(keras.layers.RandomRotation(cfg.rotation, fill_mode="constant",
                                                      seed=seed))
        if cfg.zoom > 0:
            layers.append(keras.layers.RandomZoom(cfg.zoom, fill_mode="constant", seed=seed))
        if cfg.translation > 0:
            layers.append(keras.layers.RandomTranslation(cfg.translation, cfg.translation,
                                                         fill_mode="constant", seed=seed))
        if not layers:
            return None
        pipeline = keras.layers.Pipeline(layers)

        def augment(x, y):
            return tf.clip_by_value(pipeline(x, training=True), 0.0, 1.0), y

        return augment

    def evaluate(self, net: keras.Model, splits: Splits) -> dict[str, float]:
        x_train, y_train = data.to_numpy(splits.train)
        x_test, y_test = data.to_numpy(splits.test)
        y_pred = _predict(net, x_test, self.config.trainer.batch_size)
        self._test_predictions = (y_test, y_pred)
        metrics = _scores("test", y_test, y_pred)

        shape, classes = splits.info.extra["image_shape"], len(splits.info.classes)
        print(f"[{self.name}] training the MLP baseline", file=sys.stderr)
        mlp_trainer = Trainer(self.trainer.config)
        with mlp_trainer.scope():
            mlp = self._compiled(model.build_mlp(shape, classes, self.config.model),
                                 mlp_trainer)
        mlp_trainer.fit(mlp, splits.train, splits.val, monitor=self.monitor,
                        mode=self.monitor_mode, augment=self.augment(splits.info))
        metrics |= _scores("baseline_mlp", y_test,
                           _predict(mlp, x_test, self.config.trainer.batch_size))

        logreg = LogisticRegression(max_iter=2000, random_state=self.config.trainer.seed)
        logreg.fit(x_train.reshape(len(x_train), -1), y_train)
        metrics |= _scores("baseline_logistic_regression", y_test,
                           logreg.predict(x_test.reshape(len(x_test), -1)))
        return metrics

    def figures(self, net: keras.Model, splits: Splits) -> dict:
        y_true, y_pred = self._test_predictions
        classes = splits.info.classes
        matrix = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
        accuracy = accuracy_score(y_true, y_pred)
        return {"confusion_matrix": plots.confusion_matrix(
            matrix, classes, title=f"CNN on the test split: accuracy {accuracy:.2%}")}

    def signature(self, info: DataInfo) -> dict:
        h, w, c = info.extra["image_shape"]
        return {
            "inputs": {"images": {"dtype": "string", "shape": [None],
                                  "description": "encoded image bytes (PNG, JPEG, BMP, GIF); "
                                                 f"decoded, resized to {h}x{w}x{c}, scaled"}},
            "outputs": {
                "probabilities": {"dtype": "float32", "shape": [None, len(info.classes)]},
                "class_id": {"dtype": "int32", "shape": [None]},
                "label": {"dtype": "string", "shape": [None]},
            },
            "endpoints": {"predict_pixels": {"pixels": {"dtype": "float32",
                                                        "shape": [None, h, w, c]}}},
        }

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        h, w, c = info.extra["image_shape"]
        labels = tf.constant(info.classes)

        def answer(pixels):
            probabilities = tf.cast(net(pixels, training=False), tf.float32)
            class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"probabilities": probabilities, "class_id": class_id,
                    "label": tf.gather(labels, class_id)}

        def from_bytes(images):
            pixels = tf.map_fn(lambda b: decode_image(b, (h, w), c), images,
                               fn_output_signature=tf.TensorSpec((h, w, c), tf.float32))
            return answer(pixels)

        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.add_endpoint("serving_default", from_bytes,
                             input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        archive.add_endpoint("predict_pixels", answer,
                             input_signature=[tf.TensorSpec([None, h, w, c], tf.float32,
                                                            name="pixels")])
        return archive

    @classmethod
    def predict_inputs(cls, manifest: dict, inputs: list[str]) -> dict[str, tf.Tensor]:
        blobs = []
        for item in inputs:
            try:
                blobs.append(Path(item).read_bytes())
            except OSError as e:
                raise ValueError(f"cannot read image {item!r}: {e.strerror}") from None
        return {"images": tf.constant(blobs)}

    @classmethod
    def format_predictions(cls, manifest: dict, inputs: list[str], outputs: dict) -> str:
        labels = [b.decode() for b in outputs["label"].numpy()]
        confidence = outputs["probabilities"].numpy().max(axis=-1)
        width = max(len(i) for i in inputs)
        return "\n".join(f"{i:<{width}}  {label}  ({p:.1%})"
                         for i, label, p in zip(inputs, labels, confidence))


def _predict(net: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.argmax(net.predict(x, batch_size=batch_size, verbose=0), axis=-1)


def _scores(prefix: str, y_true, y_pred) -> dict[str, float]:
    return {f"{prefix}_accuracy": float(accuracy_score(y_true, y_pred)),
            f"{prefix}_macro_f1": float(f1_score(y_true, y_pred, average="macro"))}
