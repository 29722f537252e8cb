"""The Trainer: `model.fit` under a `tf.distribute` strategy, with XLA, mixed precision,
a prefetching tf.data input pipeline, early stopping and resumable backups.

Why multi-worker training has its own loop (`Trainer.fit_loop`), and when it can go:
Keras 3's `Model.fit` fails under `MultiWorkerMirroredStrategy` once the cluster has more
than one worker (keras-team/keras#20585: while building the model and reducing metrics it
converts `PerReplica` values eagerly, `ValueError: Attempt to convert a value
(PerReplica:{...})`). The model's own `train_step` and `test_step` work under the strategy
when called through `strategy.run` inside a `tf.function`, which is all `fit_loop` does;
around them it gives what `fit` gives: the compiled metrics reduced across workers,
validation, the Keras callbacks (early stopping with best-weight restore, learning-rate
schedules, the task's per-epoch metrics, MLflow logging), progress on the chief and a
backup to resume from. When `fit` works under the strategy upstream, delete `fit_loop`
and the multi-worker branch of `fit`: nothing else depends on them.

One loop for every strategy would be one path fewer, but `fit` is what users know and
what Keras maintains (progress bars, callbacks' batch hooks, steps per execution), and in
one process it was as fast or faster: `benchmarks/throughput.py` on 2 CPU cores put the
loop at 0.86x of `Trainer.fit` on the digits CNN, 0.99x on the U-Net, 0.80x on the
translator, 0.87x on the document auto-encoder and 1.00x on the speech model, and 1.9x
only on the small forecasting GRU (where XLA, which `fit` has too, gave 4.7x). So
single-process training keeps `fit`, and the loop serves only a cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
import uuid
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from suite.checkpoint import Checkpoint, CheckpointMismatch
from suite.cluster import Task, current_task
from suite.config import ConfigError, TrainerConfig

log = logging.getLogger(__name__)

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
LOOP_BACKUP = "multi_worker_state.npz"
_MULTI_WORKER: list[tf.distribute.Strategy] = []  # TensorFlow allows one per process


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
        self._task = None
        self._share = None  # the tf.function of `_from_chief`, traced once per input layout

    @property
    def strategy(self) -> tf.distribute.Strategy:
        """The `tf.distribute` strategy named by `trainer.strategy`, created on first use.

        `multi_worker` joins the cluster that `TF_CONFIG` describes (see `suite launch`);
        TensorFlow allows one such strategy per process, so every Trainer of a process
        shares it.
        """
        if self._strategy is None:
            name = self.config.strategy
            if name == "mirrored":
                self._strategy = tf.distribute.MirroredStrategy()
            elif name == "multi_worker":
                if self.multi_worker and self.config.jit_compile == "true" \
                        and not tf.config.list_physical_devices("GPU"):
                    raise ConfigError(
                        "trainer.jit_compile: got 'true' with trainer.strategy=multi_worker "
                        f"over {self.task.workers} workers on CPUs, expected 'auto' or "
                        "'false': XLA cannot compile the workers' collective ops on CPUs "
                        "(it can on GPUs)")
                if not _MULTI_WORKER:
                    _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
                self._strategy = _MULTI_WORKER[0]
            else:
                self._strategy = tf.distribute.get_strategy()
        return self._strategy

    @property
    def task(self) -> Task:
        """This process's place in the cluster (`TF_CONFIG`); one worker without one."""
        if self._task is None:
            self._task = current_task() if self.config.strategy == "multi_worker" else Task()
        return self._task

    @property
    def multi_worker(self) -> bool:
        """True when training is spread over several worker processes."""
        return self.task.workers > 1

    @property
    def is_chief(self) -> bool:
        """True for the process that logs, checkpoints and exports (any single process)."""
        return self.task.is_chief

    def local(self) -> "Trainer":
        """A Trainer of the same settings that trains in this process alone: what the chief
        of a cluster uses for baselines and for the model it evaluates and exports."""
        if not self.multi_worker:
            return Trainer(self.config)
        return Trainer(dataclasses.replace(self.config, strategy="default"))

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
        cbs = list(callbacks) + self.standard_callbacks(val_ds is not None, monitor, mode)
        if self.multi_worker:
            return self.fit_loop(model, train_ds, val_ds, cbs)
        if self.backup_dir is not None and self.config.resume:
            epoch = self.resume_epoch()
            if epoch:
                print(f"Resuming from the backup in {self.backup_dir} at epoch {epoch + 1}",
                      file=sys.stderr)
            # double_checkpoint: a run killed while writing the backup resumes from the one
            # before it instead of failing on a half-written file
            cbs.append(keras.callbacks.BackupAndRestore(str(self.backup_dir),
                                                        double_checkpoint=True))
        with warnings.catch_warnings():
            # Length-bucketed datasets have no known size, so Keras learns an epoch's end
            # from the data running out and warns each time that it did: expected here.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            return model.fit(
                train_ds, validation_data=val_ds, epochs=self.config.epochs, callbacks=cbs,
                verbose=self.verbosity(), shuffle=False,  # shuffled in input_pipeline
            )

    def standard_callbacks(self, validation: bool, monitor: str, mode: str) -> list:
        """Early stopping, learning-rate reduction and schedule, as configured."""
        cbs = []
        if validation and self.config.early_stopping_patience > 0:
            cbs.append(keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=self.config.early_stopping_patience,
                restore_best_weights=True,
            ))
        if validation and self.config.reduce_lr_patience > 0:
            cbs.append(keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=0.5, min_lr=1e-6,
                patience=self.config.reduce_lr_patience,
            ))
        if self.config.schedule == "cosine":
            cbs.append(keras.callbacks.LearningRateScheduler(self.cosine_rate))
        return cbs

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
        if not self.is_chief:  # a worker trains in step with the chief and keeps nothing
            self.backup_dir = None
            fitted = self.fit(model, train, val, **fit_kwargs)
            # no epoch at all: the chief had a trained model and restored it
            return fitted.history, list(fitted.epoch), not fitted.epoch
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
                if self.multi_worker:
                    self._from_chief([tf.constant(_TRAINED, tf.float64)])  # the workers' plan
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

    # --- multi-worker training: see the module docstring -------------------------------

    def fit_loop(self, model: keras.Model, train_ds: tf.data.Dataset,
                 val_ds: tf.data.Dataset | None = None, callbacks=()) -> keras.callbacks.History:
        """Trains `model` as `fit` does, with a `tf.function` loop over `strategy.run`.

        Every worker of a cluster calls it with the same model and data. The chief's
        backup (if `backup_dir` holds one) and its decisions (stop early, the learning
        rate) are sent to every worker, so the workers stay in step without sharing a
        file system. Batch-norm statistics, which each worker gathers from its own share
        of a batch, are averaged across workers after every epoch.

        Args:
            model: a compiled model, built under `scope()`.
            train_ds: batched training data (`input_pipeline`); a batch smaller than the
                number of replicas is skipped (a replica without examples would average
                its loss over nothing).
            val_ds: batched validation data, or None.
            callbacks: Keras callbacks, called at the epoch and train hooks.

        Returns:
            The `History` of the epochs this call trained.
        """
        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync

        def enough(*batch):
            return tf.shape(tf.nest.flatten(batch)[0])[0] >= replicas

        # The chief's plan comes first, before this worker creates any variable (which
        # the strategy syncs collectively): a chief that restored a trained model sends
        # _TRAINED and does nothing more.
        plan = self._from_chief([tf.constant(0.0, tf.float64)])[0]
        if float(plan) == _TRAINED:
            nothing = keras.callbacks.History()
            nothing.on_train_begin()
            return nothing
        train_dist = strategy.experimental_distribute_dataset(train_ds.filter(enough))
        val_dist = (strategy.experimental_distribute_dataset(val_ds.filter(enough))
                    if val_ds is not None else None)
        self._build_for_loop(model, train_ds)
        state = [*model.variables, *model.optimizer.variables]
        start = self._restore_loop_backup(state) if self.is_chief else 0
        start = int(self._from_chief([tf.constant(start, tf.float64)])[0])
        self._from_chief(state, assign=True)  # a resumed chief's state, or its initial one
        if start and self.is_chief:
            print(f"Resuming from the backup in {self.backup_dir} at epoch {start + 1}",
                  file=sys.stderr)

        # As in `fit`: reduce_retracing, so batches padded to ever new lengths share one
        # trace with an unknown length after the first few.
        jit = bool(model.jit_compile)
        train_step = tf.function(model.train_step, jit_compile=jit, reduce_retracing=True)
        test_step = tf.function(model.test_step, jit_compile=jit, reduce_retracing=True)
        run_train = tf.function(lambda batch: strategy.run(train_step, args=(batch,)),
                                reduce_retracing=True)
        run_test = tf.function(lambda batch: strategy.run(test_step, args=(batch,)),
                               reduce_retracing=True)
        average_statistics = self._averager(
            [v for v in model.non_trainable_variables if v.dtype.startswith("float")])

        history = keras.callbacks.History()
        cbs = keras.callbacks.CallbackList([*callbacks, history], model=model,
                                           epochs=self.config.epochs, verbose=0)
        model.stop_training = False
        cbs.on_train_begin()
        for epoch in range(start, self.config.epochs):
            began = time.perf_counter()
            cbs.on_epoch_begin(epoch)
            model.reset_metrics()
            for batch in train_dist:
                run_train(batch)
            logs = {**_results(model),
                    "learning_rate": float(keras.ops.convert_to_numpy(
                        model.optimizer.learning_rate))}
            average_statistics()
            if val_dist is not None:
                model.reset_metrics()
                for batch in val_dist:
                    run_test(batch)
                logs.update({f"val_{k}": v for k, v in _results(model).items()})
            cbs.on_epoch_end(epoch, logs)
            rate, stop = self._from_chief([tf.cast(model.optimizer.learning_rate, tf.float64),
                                           tf.constant(float(model.stop_training), tf.float64)])
            model.optimizer.learning_rate = float(rate)
            if self.is_chief:
                self._save_loop_backup(state, epoch + 1)
                if self.verbosity():
                    print(f"Epoch {epoch + 1}/{self.config.epochs} - "
                          f"{time.perf_counter() - began:.0f}s - "
                          + " - ".join(f"{k}: {v:.4g}" for k, v in logs.items()), flush=True)
            if stop:
                break
        cbs.on_train_end()
        if self.is_chief and self.backup_dir is not None:
            (self.backup_dir / LOOP_BACKUP).unlink(missing_ok=True)
        return history

    def _build_for_loop(self, model: keras.Model, train_ds: tf.data.Dataset) -> None:
        """Creates the variables of the compiled loss and metrics and of the optimizer once,
        in cross-replica context, as `fit` does before its first step (variables cannot be
        created inside `strategy.run`)."""
        x, y, weight = keras.utils.unpack_x_y_sample_weight(next(iter(train_ds.take(1))))
        with self.strategy.scope():
            y_pred = model(x, training=False)
            model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weight, training=False)
            model.compute_metrics(x, y, y_pred, sample_weight=weight)
            model.optimizer.build(model.trainable_variables)
        model.reset_metrics()

    def _from_chief(self, values: list, assign: bool = False) -> list:
        """The chief's values of `values` (tensors or variables) on every worker: an
        all-reduce in which only the first replica, the chief's, contributes. With
        `assign`, the variables are set to them."""
        strategy = self.strategy
        tensors = [tf.convert_to_tensor(v) for v in values]
        if not self.multi_worker:
            return tensors
        if self._share is None:
            def share(*tensors):
                ctx = tf.distribute.get_replica_context()
                mine = tf.cast(ctx.replica_id_in_sync_group == 0, tf.float64)
                return [ctx.all_reduce("sum", tf.cast(t, tf.float64) * mine) for t in tensors]

            self._share = tf.function(lambda *tensors: strategy.run(share, args=tensors))
        shared = strategy.experimental_local_results(self._share(*tensors))[0]
        shared = [tf.cast(s, t.dtype) for s, t in zip(shared, tensors)]
        if assign:
            for variable, value in zip(values, shared):
                variable.assign(value)
        return shared

    def _averager(self, variables: list):
        """A function setting each variable to its mean over the workers (batch-norm
        statistics); it does nothing in one process."""
        if not self.multi_worker or not variables:
            return lambda: None
        strategy = self.strategy

        def mean():
            ctx = tf.distribute.get_replica_context()
            return [ctx.all_reduce("mean", tf.identity(v.value)) for v in variables]

        means = tf.function(lambda: strategy.run(mean))

        def average():
            for variable, value in zip(variables, strategy.experimental_local_results(
                    means())[0]):
                variable.assign(value)

        return average

    def _save_loop_backup(self, state: list, epochs_done: int) -> None:
        if self.backup_dir is None or not self.config.resume:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.backup_dir / f".tmp-{uuid.uuid4().hex}.npz"
        try:
            np.savez(tmp, epoch=epochs_done,
                     **{f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(state)})
            os.replace(tmp, self.backup_dir / LOOP_BACKUP)
        finally:
            tmp.unlink(missing_ok=True)

    def _restore_loop_backup(self, state: list) -> int:
        """Loads the loop's backup into `state`; returns the epochs it had finished."""
        path = self.backup_dir / LOOP_BACKUP if self.backup_dir is not None else None
        if path is None or not self.config.resume or not path.is_file():
            return 0
        with np.load(path) as saved:
            arrays = [saved[f"v{i}"] for i in range(len(state)) if f"v{i}" in saved]
            epochs_done = int(saved["epoch"])
        if [a.shape for a in arrays] != [tuple(v.shape) for v in state]:
            log.warning("the backup %s is of another model; training afresh", path)
            return 0
        for variable, value in zip(state, arrays):
            variable.assign(value)
        return epochs_done

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


def cpu_has_fast_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this machine's CPU does bfloat16 arithmetic in hardware (Intel AMX or
    AVX512-BF16), where oneDNN runs bfloat16 convolutions and matrix products about twice
    as fast as float32. Elsewhere bfloat16 is emulated and slower than float32.

    Args:
        cpuinfo: the file listing the CPU's flags (Linux's `/proc/cpuinfo`); unreadable
            means no.
    """
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


_TRAINED = -1.0  # the plan a chief sends when it restored a trained model


def weights_digest(model: keras.Model) -> str:
    """A short hash of the model's weights: equal on two workers that trained in step."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()[:16]


def _results(model: keras.Model) -> dict[str, float]:
    """The compiled metrics' values, reduced over every replica of the strategy."""
    results = model.get_metrics_result()
    return {k: float(keras.ops.convert_to_numpy(v)) for k, v in results.items()}


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
