"""The Trainer: `model.fit` under a `tf.distribute` strategy, with XLA, mixed precision,
a prefetching tf.data input pipeline, early stopping and resumable backups."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
from pathlib import Path

import keras
import tensorflow as tf

from suite.checkpoint import Checkpoint, CheckpointMismatch
from suite.config import ConfigError, TrainerConfig

log = logging.getLogger(__name__)

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


class Trainer:
    """Compiles and fits Keras models the same way for every pipeline.

    Args:
        config: the `trainer` section of a pipeline config.
        backup_dir: where `BackupAndRestore` keeps the state of an unfinished run; re-running
            the same command with the same directory resumes at the interrupted epoch.
            `None` disables resuming.

    Example:
        >>> trainer = Trainer(TrainerConfig(epochs=2))
        >>> with trainer.scope():
        ...     model = build()  # layers and variables are created under the strategy
        ...     trainer.compile(model, loss="sparse_categorical_crossentropy")
        >>> history = trainer.fit(model, train_ds, val_ds, monitor="val_loss")
    """

    def __init__(self, config: TrainerConfig, backup_dir: str | Path | None = None):
        self.config = config
        self.backup_dir = Path(backup_dir) if backup_dir is not None else None
        self._strategy = None

    @property
    def strategy(self) -> tf.distribute.Strategy:
        """The `tf.distribute` strategy named by `trainer.strategy`, created on first use."""
        if self._strategy is None:
            name = self.config.strategy
            if name == "mirrored":
                self._strategy = tf.distribute.MirroredStrategy()
            elif name == "multi_worker":
                workers = _cluster_workers()
                if workers > 1:
                    raise NotImplementedError(
                        f"trainer.strategy=multi_worker with {workers} workers in TF_CONFIG: "
                        "Keras 3's Model.fit fails under MultiWorkerMirroredStrategy across "
                        "workers (keras-team/keras#20585: it converts PerReplica values "
                        "eagerly while building the model and reducing metrics). Use "
                        "'mirrored' for the devices of one machine, or one worker."
                    )
                self._strategy = tf.distribute.MultiWorkerMirroredStrategy()
            else:
                self._strategy = tf.distribute.get_strategy()
        return self._strategy

    @contextlib.contextmanager
    def scope(self):
        """Builds models inside: the strategy's scope and the configured dtype policy."""
        previous = keras.mixed_precision.dtype_policy()
        policy = self.dtype_policy()
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            with self.strategy.scope():
                yield self.strategy
        finally:
            keras.mixed_precision.set_dtype_policy(previous)

    def dtype_policy(self) -> str:
        """The Keras dtype policy `trainer.mixed_precision` asks for on this machine."""
        setting = self.config.mixed_precision
        if setting == "auto":
            if tf.config.list_physical_devices("GPU"):
                setting = "true"
            else:
                setting = "bfloat16" if cpu_has_fast_bfloat16() else "false"
        return {"true": "mixed_float16", "bfloat16": "mixed_bfloat16"}.get(setting, "float32")

    def optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh optimizer as configured (`trainer.optimizer`, `learning_rate`, ...)."""
        cls = _OPTIMIZERS[self.config.optimizer]
        kwargs = {"learning_rate": self.config.learning_rate}
        if self.config.optimizer == "adamw":
            kwargs["weight_decay"] = self.config.weight_decay
        if self.config.gradient_clip_norm is not None:
            kwargs["clipnorm"] = self.config.gradient_clip_norm
        return cls(**kwargs)

    def compile(self, model: keras.Model, loss, metrics=(), **kwargs) -> keras.Model:
        """Compiles `model` with the configured optimizer and XLA setting."""
        jit = {"auto": "auto", "true": True, "false": False}[self.config.jit_compile]
        model.compile(
            optimizer=kwargs.pop("optimizer", None) or self.optimizer(),
            loss=loss,
            metrics=list(metrics),
            jit_compile=jit,
            **kwargs,
        )
        return model

    def input_pipeline(self, ds: tf.data.Dataset, training: bool, augment=None,
                       batch=None, decode=None) -> tf.data.Dataset:
        """Decodes, caches, shuffles (training only), batches, augments and prefetches.

        A split whose decoded examples fit in `trainer.cache_mb` is decoded once, cached
        in memory and shuffled whole every epoch. A larger one is not cached: its records
        (file paths: cheap) are shuffled whole before decoding when there is a `decode`,
        otherwise the shuffle buffer holds at most `trainer.cache_mb` of examples.

        Args:
            ds: an unbatched dataset of `(inputs, targets)` examples, or of records that
                `decode` turns into examples.
            training: shuffle each epoch and apply `augment`.
            augment: an optional function applied to each training batch `(x, y) -> (x, y)`;
                it sees inputs and targets together, so it can move a mask with its image.
            batch: an optional `(dataset, batch_size) -> batched dataset` replacing the plain
                `Dataset.batch` (e.g. padding sequences in length buckets).
            decode: an optional `record -> (inputs, targets)` function.
        """
        decoded = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE) if decode else ds
        count = _cardinality(ds, 10_000)
        size = _size_in_bytes(decoded)
        budget = self.config.cache_mb * 2**20
        if size <= budget:
            ds = decoded.cache()
            if training:
                ds = ds.shuffle(count, seed=self.config.seed, reshuffle_each_iteration=True)
        elif decode is not None:
            if training:
                ds = ds.shuffle(count, seed=self.config.seed, reshuffle_each_iteration=True)
            ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        elif training:
            per_example = size / max(int(ds.cardinality()), 1)
            buffer = count if per_example == float("inf") else int(budget // per_example)
            ds = ds.shuffle(max(1, min(count, buffer)), seed=self.config.seed,
                            reshuffle_each_iteration=True)
        ds = batch(ds, self.config.batch_size) if batch else ds.batch(self.config.batch_size)
        if training and augment is not None:
            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def fit(self, model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset | None = None,
            *, monitor: str = "val_loss", mode: str = "auto", callbacks=(), augment=None,
            batch=None, decode=None) -> keras.callbacks.History:
        """Trains `model` with early stopping, best-weight restore and resumable backups.

        Args:
            model: a compiled model, built (called once) so a backup can be restored into it.
            train: unbatched `(inputs, targets)` training examples.
            val: unbatched validation examples; early stopping watches `monitor` on them.
            monitor: the metric early stopping watches, e.g. `"val_accuracy"`.
            mode: `"min"`, `"max"` or `"auto"` for `monitor`.
            callbacks: extra Keras callbacks (e.g. MLflow logging).
            augment: an optional per-batch training augmentation.
            batch: an optional batching function (see `input_pipeline`).
            decode: an optional record decoder (see `input_pipeline`).
        """
        keras.utils.set_random_seed(self.config.seed)
        train_ds = self.input_pipeline(train, training=True, augment=augment, batch=batch,
                                       decode=decode)
        if val is not None and int(val.cardinality()) == 0:
            val = None
        val_ds = (self.input_pipeline(val, training=False, batch=batch, decode=decode)
                  if val is not None else None)
        cbs = list(callbacks)
        if val_ds is not None and self.config.early_stopping_patience > 0:
            cbs.append(keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=self.config.early_stopping_patience,
                restore_best_weights=True,
            ))
        if val_ds is not None and self.config.reduce_lr_patience > 0:
            cbs.append(keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=0.5, min_lr=1e-6,
                patience=self.config.reduce_lr_patience,
            ))
        if self.config.schedule == "cosine":
            cbs.append(keras.callbacks.LearningRateScheduler(self.cosine_rate))
        if self.backup_dir is not None and self.config.resume:
            epoch = self.resume_epoch()
            if epoch:
                print(f"Resuming from the backup in {self.backup_dir} at epoch {epoch + 1}",
                      file=sys.stderr)
            cbs.append(keras.callbacks.BackupAndRestore(str(self.backup_dir)))
        return model.fit(
            train_ds, validation_data=val_ds, epochs=self.config.epochs,
            callbacks=cbs, verbose=self.verbosity(), shuffle=False,  # shuffled in input_pipeline
        )

    def fit_or_restore(self, model: keras.Model, checkpoint: Checkpoint, train, val=None,
                       **fit_kwargs) -> tuple[dict, list[int], bool]:
        """Trains `model` once: restores it from `checkpoint` if that holds a trained model,
        else fits it (resuming the checkpoint's backup) and saves it there at once.

        With `trainer.resume=false` an earlier checkpoint is thrown away and the model is
        trained afresh. Saved weights of another layout (the model's code changed since)
        are thrown away too, with a warning.

        Args:
            model: the compiled, built model.
            checkpoint: where the trained weights are (or will be) kept.
            train, val, **fit_kwargs: as for `fit`.

        Returns:
            `(history, epochs, restored)`: the per-epoch metrics, the epoch numbers and
            whether the weights came from the checkpoint rather than from training.
        """
        if not self.config.resume:
            checkpoint.discard_model()
        elif checkpoint.trained:
            try:
                history, epochs = checkpoint.restore(model)
            except CheckpointMismatch as e:
                log.warning("%s; training afresh", e)
                print(f"warning: {e}; training afresh", file=sys.stderr)
                checkpoint.discard_model()
            else:
                print(f"Restored the trained model from {checkpoint.directory} (no training)",
                      file=sys.stderr)
                return history, epochs, True
        self.backup_dir = checkpoint.backup_dir
        callbacks = [*fit_kwargs.pop("callbacks", ()), checkpoint.epoch_logger()]
        had_backup = self.config.resume and checkpoint.backup_dir.is_dir()
        try:
            fitted = self.fit(model, train, val, callbacks=callbacks, **fit_kwargs)
        except Exception as e:
            if had_backup:
                e.add_note(f"If the backup in {checkpoint.backup_dir} is damaged, delete it or "
                           "run with --set trainer.resume=false to train afresh.")
            raise
        path = checkpoint.save(model, fitted.history, list(fitted.epoch))
        log.info("saved the trained model to %s", path)
        history, epochs = checkpoint.history()
        return history, epochs, False

    def cosine_rate(self, epoch: int, rate=None) -> float:
        """The learning rate of `epoch` (from 0) under `trainer.schedule=cosine`: half a
        cosine from `learning_rate` at the first epoch towards 0 after the last."""
        progress = min(epoch, self.config.epochs) / self.config.epochs
        return 0.5 * self.config.learning_rate * (1.0 + math.cos(math.pi * progress))

    def resume_epoch(self) -> int:
        """The number of epochs an interrupted run finished, per its backup (0: none)."""
        if self.backup_dir is None:
            return 0
        meta = self.backup_dir / "training_metadata.json"
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0

    def verbosity(self) -> int:
        """Keras verbosity: a progress bar at a terminal, a line per epoch in logs, quiet in CI."""
        if self.config.verbose != "auto":
            return int(self.config.verbose)
        if os.environ.get("CI"):
            return 0
        return 1 if sys.stdout.isatty() else 2


def cpu_has_fast_bfloat16() -> bool:
    """Whether this machine's CPU does bfloat16 arithmetic in hardware (Intel AMX or
    AVX512-BF16), where oneDNN runs bfloat16 convolutions and matrix products about twice
    as fast as float32. Elsewhere bfloat16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


def _cluster_workers() -> int:
    """The number of workers (chief included) that TF_CONFIG describes; 1 without one."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    except ValueError:
        raise ConfigError(f"TF_CONFIG is not JSON: {os.environ['TF_CONFIG']!r}") from None
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def _size_in_bytes(ds: tf.data.Dataset) -> float:
    """The in-memory size of a dataset of fixed-shape elements; infinite if unknown."""
    count = int(ds.cardinality())
    if count < 0:
        return float("inf")
    per_element = 0
    for spec in tf.nest.flatten(ds.element_spec):
        if not spec.shape.is_fully_defined() or spec.dtype == tf.string:
            return float("inf")
        per_element += spec.shape.num_elements() * spec.dtype.size
    return float(count * per_element)


def _cardinality(ds: tf.data.Dataset, default: int) -> int:
    n = int(ds.cardinality())
    return n if n > 0 else default
