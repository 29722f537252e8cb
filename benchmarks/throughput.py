"""Training throughput of every pipeline: the suite's Trainer with each speed switch off
and on, against a plain `model.fit` of the same model, in one run.

For each registered pipeline it loads the data once (a smaller size than the default
where the default takes long, see `SIZES`) and trains the pipeline's own model for
`--epochs` epochs (the first is excluded: it traces and compiles) in these ways:

* plain fit: the model compiled as Keras does by default (`jit_compile="auto"`, which is
  no XLA on a CPU; float32) and `model.fit` on the data mapped, shuffled and batched
  one step after another, as a user would write it;
* Trainer: `Trainer.fit` with both switches off: its input pipeline (parallel decoding,
  an in-memory cache of decoded examples, prefetching) and callbacks;
* Trainer + XLA: `trainer.jit_compile=true`;
* Trainer + mixed: `trainer.mixed_precision=auto` (bfloat16 on a CPU with AMX or
  AVX512-BF16, float16 on a GPU, else float32, so the row repeats the Trainer's);
* Trainer + XLA + mixed: both;
* multi-worker loop: `Trainer.fit_loop`, the loop that multi-worker training uses, in
  one process with both switches off, to compare it with `fit`.

Throughput is training examples per second; the ratio is to plain fit. The summary
gives each pipeline's best Trainer setting, which the pipelines' configs can choose. A way
that has not finished two epochs within `--row-seconds` is stopped and shown as over the
budget: XLA compiles anew for every new batch shape, and the sequence pipelines, which
pad each batch to its own longest example, meet a new shape in most batches.

    python benchmarks/throughput.py [--pipeline NAME ...] [--epochs 3] [--row-seconds 90]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

from common import EpochTimer, isolate  # noqa: I001  (sets the environment first)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from suite import registry  # noqa: E402
from suite.config import TrainerConfig, load_config  # noqa: E402
from suite.training import Trainer, cpu_has_fast_bfloat16  # noqa: E402

# Data sizes that keep an epoch to seconds on 2 cores (the model is each default's).
SIZES = {
    "image-segmentation": ["data.scenes=1500"],
    "translation": ["data.limit=8000"],
    "document-retrieval": ["model.pretrain_epochs=0"],
    "speech-to-text": ["data.utterances=480", "data.eval_utterances=8",
                       "data.val_utterances=8"],
}
TRAINER_ROWS = (("Trainer", "false", "false"), ("Trainer + XLA", "true", "false"),
                ("Trainer + mixed", "false", "auto"), ("Trainer + XLA + mixed", "true", "auto"))
TARGET, FLOOR = 1.3, 0.95


class Budget(EpochTimer):
    """An `EpochTimer` that stops training once `seconds` have passed (checked after each
    batch); `rate` is NaN unless two epochs finished."""

    async_safe = True  # it reads a clock and sets a flag: `fit` need not wait on each batch

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.deadline = time.perf_counter() + self.seconds

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() > self.deadline:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if not self.model.stop_training:
            super().on_epoch_end(epoch, logs)


def build(pipeline, trainer: Trainer, info):
    """The pipeline's model, compiled by `trainer`, with the same initial weights each time."""
    pipeline.trainer = trainer
    keras.utils.set_random_seed(trainer.config.seed)
    with trainer.scope():
        return pipeline.build_model(info)


def plain_fit(pipeline, config, splits, examples: int, seconds: float) -> float:
    trainer = Trainer(dataclasses.replace(config, jit_compile="auto", mixed_precision="false"))
    net = build(pipeline, trainer, splits.info)
    ds = splits.train.map(splits.decode) if splits.decode else splits.train
    ds = ds.shuffle(min(examples, 10_000), seed=config.seed)
    batch = pipeline.batching(splits.info)
    ds = batch(ds, config.batch_size) if batch else ds.batch(config.batch_size)
    timer = Budget(seconds)
    net.fit(ds, epochs=config.epochs, verbose=0, callbacks=[timer])
    return timer.rate(examples)


def trainer_fit(pipeline, config, splits, examples: int, seconds: float,
                loop: bool = False) -> float:
    trainer = Trainer(config)
    net = build(pipeline, trainer, splits.info)
    timer = Budget(seconds)
    batch = pipeline.batching(splits.info)
    if loop:
        train = trainer.input_pipeline(splits.train, training=True, batch=batch,
                                       decode=splits.decode)
        trainer.fit_loop(net, train, None, callbacks=[timer])
    else:
        trainer.fit(net, splits.train, None, callbacks=[timer], batch=batch,
                    decode=splits.decode)
    return timer.rate(examples)


def measure(name: str, epochs: int, seconds: float) -> dict[str, float]:
    cls = registry.get(name)
    config = load_config(cls.config_cls, overrides=[
        *SIZES.get(name, []), f"trainer.epochs={epochs}", "trainer.early_stopping_patience=0",
        "trainer.reduce_lr_patience=0", "trainer.schedule=constant", "trainer.verbose=0"])
    pipeline = cls(config)
    splits = pipeline.load_data()
    examples = int(splits.train.cardinality())
    print(f"\n{name}: {examples} training examples, batch {config.trainer.batch_size}, "
          f"{epochs} epochs (the first excluded)", flush=True)
    rates = {"plain fit": plain_fit(pipeline, config.trainer, splits, examples, seconds)}
    for label, jit, mixed in TRAINER_ROWS:
        variant = dataclasses.replace(config.trainer, jit_compile=jit, mixed_precision=mixed)
        try:
            rates[label] = trainer_fit(pipeline, variant, splits, examples, seconds)
        except Exception as e:  # a switch this model cannot use: say so, measure the rest
            print(f"  {label}: failed ({type(e).__name__}: {str(e)[:200]})")
    off = dataclasses.replace(config.trainer, jit_compile="false", mixed_precision="false")
    rates["multi-worker loop"] = trainer_fit(pipeline, off, splits, examples, seconds,
                                             loop=True)
    base = rates["plain fit"]
    print(f"  {'way':<24}{'examples/s':>12}{'ratio':>8}")
    for label, rate in rates.items():
        if math.isnan(rate):
            print(f"  {label:<24}{'over the ' + f'{seconds:.0f}s budget':>20}", flush=True)
        else:
            print(f"  {label:<24}{rate:>12.1f}{rate / base:>8.2f}", flush=True)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", action="append", default=[],
                        help="a registered pipeline (default: every one)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--row-seconds", type=float, default=90.0,
                        help="stop a way that has not finished two epochs after this long")
    args = parser.parse_args(argv)
    isolate("throughput")
    gpus = tf.config.list_physical_devices("GPU")
    mixed = Trainer(TrainerConfig(mixed_precision="auto")).dtype_policy()
    print(f"{os.cpu_count()} CPU cores; "
          f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}; "
          f"fast bfloat16 on this CPU: {'yes' if cpu_has_fast_bfloat16() else 'no'}; "
          f"'mixed' is {mixed} here")
    results = {}
    start = time.perf_counter()
    for name in args.pipeline or registry.names():
        results[name] = measure(name, args.epochs, args.row_seconds)

    print(f"\nsummary ({time.perf_counter() - start:.0f}s): the Trainer's best setting against "
          f"plain fit; target >= {TARGET}x on at least three pipelines, never below {FLOOR}x")
    print(f"  {'pipeline':<22}{'best setting':<24}{'ratio':>7}{'loop / fit':>12}")
    hits = 0
    for name, rates in results.items():
        best = max((label for label, _, _ in TRAINER_ROWS
                    if not math.isnan(rates.get(label, math.nan))),
                   key=lambda label: rates[label])
        ratio = rates[best] / rates["plain fit"]
        hits += ratio >= TARGET
        print(f"  {name:<22}{best:<24}{ratio:>7.2f}"
              f"{rates['multi-worker loop'] / rates['Trainer']:>12.2f}"
              + ("  below the floor" if ratio < FLOOR else ""))
    print(f"  {hits} of {len(results)} pipelines at >= {TARGET}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
