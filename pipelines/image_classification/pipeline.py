"""The image-classification pipeline: CNN vs an MLP and logistic regression, bytes-in export."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from suite import plots
from suite.baselines import Baseline
from suite.data import DataInfo, Splits
from suite.data.images import decode_image, encoded_examples, image_endpoints
from suite.pipeline import Pipeline
from suite.training import Trainer

from pipelines.image_classification import data, model
from pipelines.image_classification.config import ImageClassificationConfig


class ImageClassificationPipeline(Pipeline):
    """Classifies images with a CNN; digits by default, a class-per-folder dataset with --data."""

    name = "image-classification"
    config_cls = ImageClassificationConfig
    main_metric = "accuracy"
    monitor = "val_accuracy"
    monitor_mode = "max"

    # --- data and model -----------------------------------------------------------------

    def load_data(self) -> Splits:
        cfg = self.config.data
        size, channels = data.default_shape(cfg)
        cfg.image_size = cfg.image_size or size
        cfg.channels = cfg.channels or channels
        return data.load(cfg)

    def build_model(self, info: DataInfo) -> keras.Model:
        return self._compiled(model.build_cnn(info.state.shape, len(info.classes),
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

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        return [
            Baseline("logistic_regression", fit=self._fit_logistic_regression,
                     predict=self._predict_logistic_regression, depends_on=("trainer.seed",),
                     description="multinomial logistic regression on the raw pixels"),
            Baseline("mlp", fit=self._fit_mlp, predict=self._predict_net,
                     depends_on=("trainer", "model.mlp_hidden", "model.dropout", "model.l2"),
                     description="a dense network on the raw pixels, trained alike"),
        ]

    def _fit_mlp(self, splits: Splits, workdir):
        info = splits.info
        return self.fit_network(
            lambda: self._compiled(model.build_mlp(info.state.shape, len(info.classes),
                                                   self.config.model), self.trainer),
            splits, workdir, augment=self.augment(info))

    def _predict_net(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        x, _ = splits.arrays("test")
        probabilities = net.predict(x, batch_size=self.config.trainer.batch_size, verbose=0)
        return {"class_id": np.argmax(probabilities, axis=-1).astype(np.int32)}

    def _fit_logistic_regression(self, splits: Splits, workdir):
        from sklearn.linear_model import LogisticRegression

        x, y = splits.arrays("train")
        return LogisticRegression(max_iter=2000, random_state=self.config.trainer.seed).fit(
            x.reshape(len(x), -1), y)

    def _predict_logistic_regression(self, fitted, splits: Splits) -> dict[str, np.ndarray]:
        x, _ = splits.arrays("test")
        return {"class_id": fitted.predict(x.reshape(len(x), -1)).astype(np.int32)}

    def predict(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        return self._predict_net(net, splits)

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        _, y = splits.arrays("test")
        pred = predictions["class_id"]
        return {"accuracy": accuracy_score(y, pred),
                "macro_f1": f1_score(y, pred, average="macro", zero_division=0)}


    def figures(self, net, splits: Splits, predictions) -> dict:
        from sklearn.metrics import confusion_matrix

        _, y_true = splits.arrays("test")
        y_pred = predictions["test"]["class_id"]
        classes = splits.info.classes
        matrix = confusion_matrix(y_true, y_pred, labels=range(len(classes)))
        accuracy = float(np.mean(y_true == y_pred))
        return {"confusion_matrix": plots.confusion_matrix(
            matrix, classes, title=f"CNN on the test split: accuracy {accuracy:.2%}")}

    # --- export -------------------------------------------------------------------------

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        return {"images": encoded_examples(splits.arrays("test")[0])}

    def describe(self, info: DataInfo) -> dict:
        return image_endpoints(info.state.shape, {
            "probabilities": {"kind": "class_probabilities",
                              "description": "one probability per label"},
            "class_id": {"kind": "class_id"},
            "label": {"kind": "label"}})

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        h, w, c = info.state.shape
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
