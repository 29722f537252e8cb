"""The Pipeline base class: the contract every task implements and the shared `run()`.

A run goes through these steps, in this order (`docs/pipelines.md` explains each hook):

1. `load_data()` -> `Splits`: the datasets and a `DataInfo` whose `state` is the fitted
   preprocessing (vocabularies, image shape, windowing). Data-dependent config defaults
   are filled in here, so what is logged is what was used.
2. The MLflow run starts (or the interrupted one continues); the resolved config is
   logged as params, the data fingerprint and git commit as tags.
3. `build_model(info)`, then training through the Trainer (`model.fit`), with the task's
   `callbacks()`, `augment()` and `batching()`. The trained weights and the history are
   saved to a checkpoint in `.suite/runs/<pipeline>-<key>/` **before anything else
   happens**; the key is the data fingerprint and every config value that shapes the
   model. A re-run of the same command after any later failure restores the model from
   there instead of training again (an interrupted fit resumes from its backup there).
4. The declared `baselines()` (selected by `eval.baselines`) are fitted and predict the
   test split, or their cached predictions are reused (see `suite.baselines`).
5. `predict(model, splits)` gives the model's test predictions; `score()` turns the
   model's and every baseline's predictions into metrics the same way:
   `test_<metric>` and `baseline_<name>_<metric>`.
6. `figures()` and `artifacts()` are logged to the run.
7. `serving_model()` is exported as the next version under `export.dir`, with a manifest
   holding the final metrics, the resolved config and the real signatures (described by
   `describe()`). Then the checkpoint is deleted: the export and the MLflow run hold
   the model now.

Why export comes last, from the saved model, rather than first with the metrics added
afterwards: a version directory is what TF Serving and `suite serve` pick up the moment it
appears, so it must appear complete (metrics included) and only for a model that made it
through evaluation. Writing the manifest afterwards would mean either a window in which a
served version has no metrics, or rewriting files inside a live version. Since the
trained model is already safe in its checkpoint by step 3, exporting last costs nothing.

Every failure after the MLflow run starts ends it as FAILED (KILLED on Ctrl-C) and says
where the trained model is kept.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from suite import export, plots
from suite.baselines import (Baseline, BaselineCache, BaselineResult, Comparison, compare,
                             select)
from suite.checkpoint import Checkpoint
from suite.config import Config, flatten, to_dict
from suite.data import DataInfo, Splits, fingerprint_state
from suite.tracking import Tracker, git_commit
from suite.training import Trainer, weights_digest

log = logging.getLogger(__name__)

RUN_ROOT = Path(".suite") / "runs"
SUITE_VERSION = importlib.metadata.version("suite")
# Keys that do not change which trained weights are valid: how a run is shown and
# executed, what it is compared with and where it is exported. Changing them (say, XLA off
# after a failure under XLA) still restores the trained model.
_NOT_MODEL = ("trainer.verbose", "trainer.resume", "trainer.jit_compile", "trainer.cache_mb",
              "trainer.strategy", "eval.", "export.")


@dataclasses.dataclass
class RunResult:
    """What one `suite run <pipeline>` produced."""

    pipeline: str
    metrics: dict[str, float]
    export_dir: Path
    run_id: str | None
    main_metric: str
    baseline_metric: str                   # the strongest baseline's, "" when none scored
    tracking_errors: list[str]
    experiment_id: str | None = None
    restored: bool = False                 # the model came from a checkpoint, not training
    baselines_reused: list[str] = dataclasses.field(default_factory=list)
    baselines_failed: list[str] = dataclasses.field(default_factory=list)
    baseline_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # when computed
    registered: Any = None                 # the `suite.experiments.champion.Decision`
    comparison: Comparison | None = None   # the main metric against the strongest baseline
    seconds: float = 0.0                   # the whole run, data to export

    @property
    def beaten_by(self) -> list[str]:
        return list(self.comparison.beaten_by) if self.comparison else []

    @property
    def main_value(self) -> float | None:
        return self.metrics.get(self.main_metric)

    @property
    def baseline_value(self) -> float | None:
        return self.metrics.get(self.baseline_metric)


class Pipeline:
    """A task pipeline: data -> model -> training -> baselines -> evaluation -> export.

    Subclasses set `name`, `config_cls` and `main_metric` (and `main_baseline` where the
    task has an ablation) and implement
    `load_data`, `build_model`, `predict`, `score`, `serving_model` and `describe`; the
    other hooks have defaults. `run()` is shared; the module docstring lists its steps.

    Every result is shown against the strongest baseline on the main metric (`compare`);
    `main_baseline` is the ablation the task is about (no attention, no skips), shown
    beside it, never instead; None where the task has none.

    Args:
        config: the pipeline's config; defaults to `config_cls()`. Its `eval.baselines`
            is checked against the declared baselines here, before any work.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type[Config]]
    main_metric: ClassVar[str]            # e.g. "accuracy" -> test_accuracy
    main_baseline: ClassVar[str | None] = None  # the ablation: one of the declared baselines
    higher_is_better: ClassVar[bool] = True  # of the main metric: accuracy, BLEU up; CER down
    monitor: ClassVar[str] = "val_loss"   # what early stopping watches (see `monitor_for`)
    monitor_mode: ClassVar[str] = "auto"

    def __init__(self, config: Config | None = None):
        self.config = config if config is not None else self.config_cls()
        self.trainer = Trainer(self.config.trainer)
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.selected_baselines = select(self.baselines(), self.config.eval.baselines)
        self.failed_baselines: list[str] = []

    # --- the task: implemented by each pipeline ---------------------------------------

    def load_data(self) -> Splits:
        """The splits, with the fitted preprocessing in `info.state`; fills data-dependent
        config defaults (left `None` by the user) with the values it used."""
        raise NotImplementedError

    def build_model(self, info: DataInfo) -> keras.Model:
        """The compiled, built Keras model (called under `self.trainer.scope()`)."""
        raise NotImplementedError

    def baselines(self) -> list[Baseline]:
        """The declared baselines, from the simplest to the most complex (on a tie of the
        main metric the simpler one counts as the strongest); cheap: a list of
        declarations, nothing is fitted."""
        return []

    def predict(self, model: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        """The model's test-split predictions, in the form `score` reads."""
        raise NotImplementedError

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        """Metrics (`{"accuracy": ...}`, no prefix) of one set of test predictions; the same
        function scores the model and every baseline."""
        raise NotImplementedError

    def figures(self, model: keras.Model, splits: Splits,
                predictions: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
        """Task figures (matplotlib) by name; learning curves are added by `run()`.

        `predictions` holds the model's (`"test"`) and each baseline's
        (`"baseline_<name>"`) test predictions.
        """
        return {}

    def artifacts(self, model: keras.Model, splits: Splits,
                  predictions: dict[str, dict[str, np.ndarray]]) -> dict[str, str]:
        """Text artifacts (tables, reports) by their path in the MLflow run."""
        return {}

    def serving_model(self, model: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        """The export, built from the model and `info.state`: raw input in, final answer
        out, as a `serving_default` endpoint (and any others)."""
        raise NotImplementedError

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        """`serving_default`'s inputs for two test examples, as a client sends them
        (encoded image or WAV bytes, text, a window in raw units): the input example of
        the MLflow model logged with the run, and the request its check predicts."""
        raise NotImplementedError(f"{self.name} defines no serving_example")

    def describe(self, info: DataInfo) -> dict[str, dict]:
        """What the exported signatures' tensors are, beyond name, dtype and shape:
        `{signature: {"inputs": {name: {"kind": ..., "description": ...}}, "outputs":
        {...}}}`. Input kinds choose the `suite predict` adapter (`suite.predict`)."""
        return {}

    def manifest_extra(self, info: DataInfo) -> dict[str, Any]:
        """More facts for the manifest (e.g. decoding settings), for people and clients."""
        return {}

    def callbacks(self, info: DataInfo, splits: Splits) -> list[keras.callbacks.Callback]:
        """Task callbacks during training, e.g. a per-epoch metric on a validation sample.
        Values a callback puts in `logs` at the end of an epoch are logged to MLflow as
        epoch metrics."""
        return []

    def augment(self, info: DataInfo):
        """An optional per-batch training augmentation `(x, y) -> (x, y)`: it sees inputs
        and targets together, so a mask can be flipped with its image."""
        return None

    def batching(self, info: DataInfo):
        """An optional `(dataset, batch_size) -> batches` replacing `Dataset.batch`."""
        return None

    def monitor_for(self, info: DataInfo) -> tuple[str, str]:
        """What early stopping and tuning watch on this data, and which way is better
        (`min`, `max`): the class's `monitor` and `monitor_mode` unless the data rules
        them out (a folder without labels has no validation precision)."""
        mode = self.monitor_mode
        if mode not in ("min", "max"):
            mode = "min" if "loss" in self.monitor or "error" in self.monitor else "max"
        return self.monitor, mode

    # --- helpers for pipelines ----------------------------------------------------------

    def compare(self, metrics: dict[str, float]) -> Comparison:
        """The model's main test metric in `metrics` against the strongest baseline's."""
        return compare(metrics, self.main_metric, self.higher_is_better,
                       [b.name for b in self.baselines()], ablation=self.main_baseline)

    def dataset_name(self, info: DataInfo) -> str:
        """A short name of the run's data: the folder or file a user gave, or the
        embedded set's name (`info.source` up to its first parenthesis or semicolon)."""
        path = getattr(self.config.data, "path", None)
        if path:
            return Path(path).resolve().name or str(path)
        name = info.source.removeprefix("embedded:").strip()
        for stop in ("(", ";"):
            name = name.split(stop)[0].strip()
        return name or self.name

    def fit_network(self, build, splits: Splits, workdir: Path, *, augment=None,
                    batch=None) -> keras.Model:
        """Builds and trains a baseline network through the Trainer, as the model is
        trained, keeping its backup and trained weights in `workdir`.

        Args:
            build: `() -> compiled keras.Model`, called under the strategy's scope.
            splits: the data.
            workdir: the baseline's cache directory.
            augment, batch: as for the model.
        """
        trainer = self.trainer.local()  # a cluster's chief trains baselines alone
        with trainer.scope():
            net = build()
        monitor, mode = self.monitor_for(splits.info)
        trainer.fit_or_restore(net, Checkpoint(Path(workdir) / "model"), splits.train,
                               splits.val, monitor=monitor, mode=mode,
                               augment=augment, batch=batch, decode=splits.decode)
        return net

    # --- the shared template ----------------------------------------------------------

    def fit(self, splits: Splits, checkpoint: Checkpoint,
            tracker: Tracker) -> tuple[keras.Model, bool]:
        """Builds the model and trains it (or restores it from `checkpoint`), logging each
        epoch to `tracker`; returns the model and whether it was restored. `run()` and
        each tuning trial train through here."""
        info = splits.info
        with self.trainer.scope():
            model = self.build_model(info)
        self.model_parameters = model.count_params()
        say(self.name, f"training {model.name}: {self.model_parameters:,} parameters")
        monitor, mode = self.monitor_for(info)
        self.history, self.epochs, restored = self.trainer.fit_or_restore(
            model, checkpoint, splits.train, splits.val, monitor=monitor,
            mode=mode, augment=self.augment(info), batch=self.batching(info),
            decode=splits.decode,
            callbacks=[*self.callbacks(info, splits), tracker.keras_callback()])
        if not restored and self.trainer.is_chief:
            say(self.name, f"saved the trained model in {checkpoint.directory}")
        if self.trainer.multi_worker:
            if not restored:
                say(self.name,
                    f"{self.trainer.task.name}: trained weights {weights_digest(model)}")
            if self.trainer.is_chief:
                model = self._local_twin(model, info)
        return model, restored

    def _local_twin(self, model: keras.Model, info: DataInfo) -> keras.Model:
        """The trained model rebuilt outside the cluster's strategy, for evaluation and
        export in the chief alone (under the strategy, `predict` would shard its input
        across workers that have stopped)."""
        trainer, self.trainer = self.trainer, self.trainer.local()
        try:
            with self.trainer.scope():
                twin = self.build_model(info)
        finally:
            self.trainer = trainer
        twin.set_weights(model.get_weights())
        return twin

    def checkpoint(self, info: DataInfo) -> Checkpoint:
        """Where this exact data, fitted preprocessing and model config keeps its trained
        model (the preprocessing is fitted again on a re-run: if it came out different, the
        old weights would not match it, so it is part of the key)."""
        params = {k: v for k, v in flatten(self.config).items()
                  if not any(k == p or k.startswith(p) for p in _NOT_MODEL)}
        key = json.dumps([self.name, info.fingerprint, fingerprint_state(info.state), params],
                         sort_keys=True, default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return Checkpoint(RUN_ROOT / f"{self.name}-{digest}")

    def run(self, parent_run_id: str | None = None) -> RunResult | None:
        """Runs the whole pipeline and records it in MLflow (nested under `parent_run_id`,
        e.g. a tuning run, if given); returns what it produced. A worker of a cluster other
        than the chief only trains, and returns None."""
        self.trainer.strategy  # first: a cluster's strategy must exist before other TF work,
        # and an unusable one fails here, before any work
        started = time.perf_counter()
        keras.utils.set_random_seed(self.config.trainer.seed)
        splits = self.load_data()
        info = splits.info
        self.splits = splits
        say(self.name, f"data: {info.source}; "
            + ", ".join(f"{k} {v}" for k, v in info.sizes.items())
            + (f"; {len(info.skipped)} input(s) skipped" if info.skipped else ""))

        if not self.trainer.is_chief:  # it keeps no checkpoint and logs nothing: the
            # Trainer writes nothing for a worker, and the tracker is never started
            _, restored = self.fit(splits, Checkpoint(RUN_ROOT / f"{self.name}-worker"),
                                   Tracker(self.name))
            say(self.name, f"{self.trainer.task.name} "
                + ("had nothing to train: the chief restored the trained model"
                   if restored else "finished training")
                + "; the chief evaluates, exports and logs the run")
            return None

        self.failed_baselines = []
        checkpoint = self.checkpoint(info)
        earlier_run = checkpoint.run_id() if self.config.trainer.resume and checkpoint.started \
            else None
        commit = git_commit()
        tracker = Tracker(self.name)
        tracker.start(run_name=f"{self.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}",
                      run_id=earlier_run, parent_run_id=parent_run_id)
        continued = earlier_run is not None and tracker.run_id == earlier_run
        try:
            return self._run(splits, checkpoint, tracker, commit, continued, started)
        except BaseException:
            tracker.end("KILLED" if isinstance(sys.exc_info()[1], KeyboardInterrupt)
                        else "FAILED")
            if checkpoint.trained:
                again = ("the same command again" if self.config.trainer.resume else
                         "the same command again without --set trainer.resume=false")
                say(self.name, f"the trained model is kept in {checkpoint.directory}: run "
                               f"{again} to evaluate and export it without training")
            raise

    def _run(self, splits: Splits, checkpoint: Checkpoint, tracker: Tracker,
             commit: str | None, continued: bool, started: float) -> RunResult:
        info = splits.info
        if tracker.run_id:
            checkpoint.note_run_id(tracker.run_id)
        params = flatten(self.config)
        if continued:  # the run holds these from its first attempt; MLflow refuses a change
            # of a param, so the values of this attempt go to tags
            now = {k: v for k, v in params.items()
                   if any(k == p or k.startswith(p) for p in _NOT_MODEL)}
            params = {k: v for k, v in params.items() if k not in now}
            tracker.set_tags({"resumed": "true",
                              **{f"resumed.{k}": str(v) for k, v in now.items()}})
        tracker.log_params(params)
        tracker.set_tags({"pipeline": self.name, "git_commit": commit or "unknown",
                          "suite_version": SUITE_VERSION,
                          "data_fingerprint": info.fingerprint, "data_source": info.source,
                          "data_skipped": len(info.skipped)})
        if info.skipped:
            tracker.log_text("\n".join(info.skipped) + "\n", "reports/skipped_inputs.txt")
        dataset = self.dataset_name(info)
        if not continued:  # the first attempt logged it
            tracker.log_dataset(dataset, info.fingerprint,
                                getattr(self.config.data, "path", None), info.sizes,
                                info.source)

        model, restored = self.fit(splits, checkpoint, tracker)

        results = self._baselines(splits, tracker)
        say(self.name, "evaluating on the test split")
        predictions = {"test": self.predict(model, splits)}
        predictions.update({f"baseline_{r.name}": r.predictions for r in results})
        self.predictions = predictions
        metrics = {f"{prefix}_{metric}": float(value)
                   for prefix, p in predictions.items()
                   for metric, value in self.score(p, splits).items()}
        tracker.log_metrics(metrics)
        comparison = self.compare(metrics)
        say(self.name, comparison.line())
        if comparison.beaten:  # a result, not an error: the run goes on and exits 0
            say(self.name, comparison.warning())
        tracker.set_tags({"strongest_baseline": comparison.strongest or "-",
                          **({"beaten_by": ",".join(comparison.beaten_by)}
                             if comparison.beaten else {})})

        figures = {"learning_curves": plots.learning_curves(self.history, self.epochs)}
        figures.update(self.figures(model, splits, predictions))
        for name, figure in figures.items():
            tracker.log_figure(figure, name)
        for path, text in self.artifacts(model, splits, predictions).items():
            tracker.log_text(text, f"reports/{path}")

        manifest = self._manifest(info, metrics, tracker.run_id, commit, comparison)
        export_dir = export.export(self.serving_model(model, info), self.config.export.dir,
                                   self.name, manifest, self.describe(info))
        checkpoint.clear()  # exported: a later failure must not restore and export it again
        tracker.set_tags({"export_dir": export_dir})
        tracker.log_artifacts(export_dir, "saved_model")
        model_uri = tracker.log_model(export_dir, lambda: self.serving_example(splits))
        champion = None
        if model_uri and self.config.export.register:
            champion = tracker.register(model_uri, self.champion_candidate(metrics, info))
        seconds = time.perf_counter() - started
        sizes = ", ".join(f"{k} {v}" for k, v in info.sizes.items())
        tracker.set_description(
            f"{comparison.line()} · data: {dataset} ({sizes}; fingerprint {info.fingerprint})"
            f" · {_duration(seconds)}, finished "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
        tracker.end("FINISHED")
        return RunResult(
            pipeline=self.name, metrics=metrics, export_dir=export_dir, run_id=tracker.run_id,
            main_metric=f"test_{self.main_metric}",
            baseline_metric=(f"baseline_{comparison.strongest}_{self.main_metric}"
                             if comparison.strongest else ""),
            tracking_errors=list(tracker.errors), experiment_id=tracker.experiment_id,
            restored=restored, baselines_reused=[r.name for r in results if r.reused],
            baselines_failed=list(self.failed_baselines),
            baseline_seconds={r.name: r.seconds for r in results},
            registered=champion, comparison=comparison, seconds=seconds,
        )

    def _baselines(self, splits: Splits, tracker: Tracker) -> list[BaselineResult]:
        """Each selected baseline's test predictions, computed or reused. A baseline that
        fails (a statsmodels fit that does not converge, say) is reported and left out:
        the model is fine, and the run says what is missing."""
        cache, params = BaselineCache(self.name), flatten(self.config)
        results = []
        tags = {f"baseline.{b.name}": "not selected" for b in self.baselines()}
        for baseline in self.selected_baselines:
            say(self.name, f"baseline {baseline.name}: {baseline.description}".rstrip(": "))
            try:
                result = cache.run(baseline, splits, params, tracker.run_id,
                                   seed=self.config.trainer.seed)
            except Exception as e:
                message = f"{type(e).__name__}: {e}"
                say(self.name, f"  warning: baseline {baseline.name} failed and is left out "
                               f"({message})")
                tags[f"baseline.{baseline.name}"] = f"failed: {message}"[:500]
                self.failed_baselines.append(baseline.name)
                continue
            if result.reused:
                say(self.name, f"  reused its test predictions from run {result.run_id} "
                               f"(saves {result.seconds:.0f}s)")
            tags[f"baseline.{baseline.name}"] = (f"reused from run {result.run_id}"
                                                 if result.reused else "computed")
            results.append(result)
        tags["baselines_computed"] = ",".join(r.name for r in results if not r.reused) or "-"
        tags["baselines_reused"] = ",".join(r.name for r in results if r.reused) or "-"
        tracker.set_tags(tags)
        return results

    def _manifest(self, info: DataInfo, metrics: dict, run_id: str | None,
                  commit: str | None, comparison: Comparison) -> dict:
        return {
            "pipeline": self.name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "signature_name": "serving_default",
            "labels": info.classes,
            **self.manifest_extra(info),
            "metrics": metrics,
            "summary": comparison.summary(),
            "config": to_dict(self.config),
            "mlflow_run_id": run_id,
            "data_fingerprint": info.fingerprint,
            "data_source": info.source,
            "git_commit": commit,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }

    def champion_candidate(self, metrics: dict[str, float], info: DataInfo):
        """This run's claim to the `champion` alias: its main test metric, which way is
        better, and the data it was measured on."""
        from suite.experiments.champion import Candidate

        metric = f"test_{self.main_metric}"
        return Candidate(metric=metric, value=metrics.get(metric),
                         higher_is_better=self.higher_is_better,
                         data_fingerprint=info.fingerprint)


def _duration(seconds: float) -> str:
    """`41 s`, `12.5 min`."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def say(pipeline: str, message: str) -> None:
    """One progress line on stderr, prefixed with the pipeline's name."""
    print(f"[{pipeline}] {message}", file=sys.stderr)
