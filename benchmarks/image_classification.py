"""Image classification on digits and on image folders: the CNN against its baselines,
and the Trainer's overhead.

Runs the default `suite run image-classification` (in a temporary directory with its own
MLflow store) on the embedded digits and prints test accuracy and macro F1 of the CNN,
the MLP and logistic regression with the training wall time. Then the same default
config on folders given with `--data` (as a user would), at each `--size`: by default a
folder of real desktop icons built from the Debian icon themes listed in
`benchmarks/debian-packages.txt` (seven icon contexts as classes, see
`image_folders.icon_folder`) and a small generated folder of shapes (600 32x32 grayscale
images, `image_folders.shapes_folder`). Last, it trains the CNN for a fixed number of
epochs through the suite's Trainer and through a plain hand-written `keras.Model.fit` on
the same arrays, and prints both throughputs (examples/s, first epoch excluded: it
traces and compiles).

    python benchmarks/image_classification.py [--folder DIR ...] [--size 32 --size 64]
                                              [--repeats 3] [--epochs 8] [--skip-digits]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from common import EpochTimer, isolate, timed_run  # noqa: I001  (sets the environment first)
import image_folders  # noqa: E402

import keras  # noqa: E402

from pipelines.image_classification import model  # noqa: E402
from pipelines.image_classification.pipeline import ImageClassificationPipeline  # noqa: E402
from suite.config import load_config  # noqa: E402
from suite.training import Trainer  # noqa: E402


ROWS = (("CNN (suite)", "test"), ("MLP baseline", "baseline_mlp"),
        ("logistic regression", "baseline_logistic_regression"))


def quality_table(title: str, overrides) -> dict:
    """Runs the pipeline with `overrides` and prints the model and baselines side by side."""
    result, pipeline, fit_s, total_s = timed_run(ImageClassificationPipeline, overrides)
    m, info = result.metrics, pipeline.splits.info
    print(f"\n{title}: {len(info.classes)} classes, train {info.sizes['train']}, val "
          f"{info.sizes['val']}, test {info.sizes['test']}, input "
          f"{'x'.join(map(str, info.state.shape))}")
    print(f"{'model':<22}{'test accuracy':>15}{'macro F1':>11}")
    for label, key in ROWS:
        print(f"{label:<22}{m[f'{key}_accuracy']:>15.4f}{m[f'{key}_macro_f1']:>11.4f}")
    history = pipeline.history
    print(f"CNN training: {fit_s:.1f}s wall for {len(pipeline.epochs)} epochs "
          f"({pipeline.model_parameters:,} parameters); best val_accuracy "
          f"{max(history['val_accuracy']):.3f}, after epoch 1 {history['val_accuracy'][0]:.3f} "
          f"(training accuracy {history['accuracy'][0]:.3f}); whole run {total_s:.1f}s on "
          f"{os.cpu_count()} CPU cores")
    return m


def default_folders(workdir: str) -> list[str]:
    """The icon folder (if the icon themes are installed) and the shapes folder."""
    folders = []
    try:
        folders.append(str(image_folders.icon_folder(f"{workdir}/icons")))
    except FileNotFoundError as e:
        print(f"skipping the icon folder: {e}")
    folders.append(str(image_folders.shapes_folder(f"{workdir}/shapes")))
    return folders


def throughput(config, splits, epochs, repeats):
    x, y = splits.arrays("train")
    shape, classes = splits.info.state.shape, len(splits.info.classes)
    cfg = load_config(type(config), overrides=[f"trainer.epochs={epochs}",
                                               "trainer.early_stopping_patience=0"])
    rates = {"suite Trainer": [], "plain keras fit": []}
    for _ in range(repeats):
        timer = EpochTimer()
        trainer = Trainer(cfg.trainer)
        with trainer.scope():
            net = model.build_cnn(shape, classes, cfg.model)
            trainer.compile(net, "sparse_categorical_crossentropy", ["accuracy"])
        trainer.fit(net, splits.train, None, callbacks=[timer], decode=splits.decode)
        rates["suite Trainer"].append(timer.rate(len(x)))

        timer = EpochTimer()
        keras.utils.set_random_seed(cfg.trainer.seed)
        net = model.build_cnn(shape, classes, cfg.model)
        net.compile(optimizer=keras.optimizers.Adam(cfg.trainer.learning_rate),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        net.fit(x, y, batch_size=cfg.trainer.batch_size, epochs=epochs, shuffle=True,
                verbose=0, callbacks=[timer])
        rates["plain keras fit"].append(timer.rate(len(x)))
    return {k: statistics.median(v) for k, v in rates.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", action="append", default=[],
                        help="a class-folder dataset (default: icons and shapes, built here)")
    parser.add_argument("--size", action="append", type=int, default=[],
                        help="image sizes to run the folders at (default: 32 and 64)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    workdir = isolate("image-classification")
    if not args.skip_digits:
        quality_table("scikit-learn digits, default config", args.overrides)
    folders = args.folder or default_folders(workdir)
    for folder in folders:
        for size in args.size or [32, 64]:
            quality_table(f"folder {folder} at {size}x{size}, default config",
                          [f"data.path={folder}", f"data.image_size={size}", *args.overrides])
    if args.skip_digits:
        return 0

    config = load_config(ImageClassificationPipeline.config_cls, overrides=args.overrides)
    pipeline = ImageClassificationPipeline(config)
    splits = pipeline.load_data()
    rates = throughput(config, splits, args.epochs, args.repeats)
    base = rates["plain keras fit"]
    print(f"\ntraining throughput, CNN on digits, {args.epochs} epochs (first excluded), "
          f"median of {args.repeats}")
    print(f"{'loop':<22}{'examples/s':>12}{'ratio':>8}")
    for name, rate in rates.items():
        print(f"{name:<22}{rate:>12.0f}{rate / base:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
