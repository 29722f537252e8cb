"""Image classification on digits: quality against baselines, and the Trainer's overhead.

Runs the default `suite run image-classification` (in a temporary directory with its own
MLflow store) and prints test accuracy and macro F1 of the CNN, the MLP and logistic
regression with the training wall time. Then it trains the same CNN for a fixed number of
epochs through the suite's Trainer and through a plain hand-written `keras.Model.fit` on
the same arrays, and prints both throughputs (examples/s, first epoch excluded: it traces
and compiles).

    python benchmarks/image_classification.py [--repeats 3] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import isolate, timed_run  # noqa: I001  (sets the environment first)

import keras  # noqa: E402

from pipelines.image_classification import data, model  # noqa: E402
from pipelines.image_classification.pipeline import ImageClassificationPipeline  # noqa: E402
from suite.config import load_config  # noqa: E402
from suite.training import Trainer  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def throughput(config, splits, epochs, repeats):
    x, y = data.to_numpy(splits.train)
    shape, classes = splits.info.extra["image_shape"], len(splits.info.classes)
    cfg = load_config(type(config), overrides=[f"trainer.epochs={epochs}",
                                               "trainer.early_stopping_patience=0"])
    rates = {"suite Trainer": [], "plain keras fit": []}
    for _ in range(repeats):
        timer = EpochTimer()
        trainer = Trainer(cfg.trainer)
        with trainer.scope():
            net = model.build_cnn(shape, classes, cfg.model)
            trainer.compile(net, "sparse_categorical_crossentropy", ["accuracy"])
        trainer.fit(net, splits.train, None, callbacks=[timer])
        rates["suite Trainer"].append(len(x) * (epochs - 1) / sum(timer.times[1:]))

        timer = EpochTimer()
        keras.utils.set_random_seed(cfg.trainer.seed)
        net = model.build_cnn(shape, classes, cfg.model)
        net.compile(optimizer=keras.optimizers.Adam(cfg.trainer.learning_rate),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        net.fit(x, y, batch_size=cfg.trainer.batch_size, epochs=epochs, shuffle=True,
                verbose=0, callbacks=[timer])
        rates["plain keras fit"].append(len(x) * (epochs - 1) / sum(timer.times[1:]))
    return {k: statistics.median(v) for k, v in rates.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    isolate("image-classification")
    result, pipeline, fit_s, total_s = timed_run(ImageClassificationPipeline, args.overrides)
    epochs = len(pipeline.epochs)
    m = result.metrics
    print("\nimage-classification on scikit-learn digits, default config")
    print(f"{'model':<22}{'test accuracy':>15}{'macro F1':>11}")
    for label, key in (("CNN (suite)", "test"), ("MLP baseline", "baseline_mlp"),
                       ("logistic regression", "baseline_logistic_regression")):
        print(f"{label:<22}{m[f'{key}_accuracy']:>15.4f}{m[f'{key}_macro_f1']:>11.4f}")
    print(f"CNN training: {fit_s:.1f}s wall for {epochs} epochs (early stopping); "
          f"whole run {total_s:.1f}s on {os.cpu_count()} CPU cores")

    config = load_config(ImageClassificationPipeline.config_cls, overrides=args.overrides)
    splits = data.load(config.data)
    rates = throughput(config, splits, args.epochs, args.repeats)
    base = rates["plain keras fit"]
    print(f"\ntraining throughput, CNN, {args.epochs} epochs (first excluded), "
          f"median of {args.repeats}")
    print(f"{'loop':<22}{'examples/s':>12}{'ratio':>8}")
    for name, rate in rates.items():
        print(f"{name:<22}{rate:>12.0f}{rate / base:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
