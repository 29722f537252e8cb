"""The Pipeline base class: the contract every task implements and the shared `run()`."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

import keras
import tensorflow as tf

from suite import export, plots
from suite.config import Config, flatten, to_dict
from suite.data import DataInfo, Splits
from suite.tracking import Tracker, git_commit
from suite.training import Trainer

log = logging.getLogger(__name__)

BACKUP_ROOT = Path(".suite") / "backups"
_RUN_CONTROL = ("trainer.verbose", "trainer.resume")  # how a run is shown, not what it trains


@dataclasses.dataclass
class RunResult:
    """What one `suite run <pipeline>` produced."""

    pipeline: str
    metrics: dict[str, float]
    export_dir: Path
    run_id: str | None
    main_metric: str
    baseline_metric: str
    tracking_errors: list[str]
    experiment_id: str | None = None

    @property
    def main_value(self) -> float | None:
        return self.metrics.get(self.main_metric)

    @property
    def baseline_value(self) -> float | None:
        return self.metrics.get(self.baseline_metric)


class Pipeline:
    """A task pipeline: data -> model -> training -> evaluation -> figures -> export.

    Subclasses set `name`, `config_cls`, `main_metric` and `main_baseline`, and implement
    the five task methods; `run()` is shared. Metric names follow DESIGN.md:
    `test_<metric>` for the model and `baseline_<baseline>_<metric>` for each baseline.

    Args:
        config: the pipeline's config; defaults to `config_cls()`.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type[Config]]
    main_metric: ClassVar[str]            # e.g. "accuracy" -> test_accuracy
    main_baseline: ClassVar[str]          # e.g. "logistic_regression"
    monitor: ClassVar[str] = "val_loss"   # what early stopping watches
    monitor_mode: ClassVar[str] = "auto"

    def __init__(self, config: Config | None = None):
        self.config = config if config is not None else self.config_cls()
        self.trainer = Trainer(self.config.trainer)
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []

    # --- the task: implemented by each pipeline ---------------------------------------

    def load_data(self) -> Splits:
        """The train/val/test splits and what the model needs to know about them."""
        raise NotImplementedError

    def build_model(self, info: DataInfo) -> keras.Model:
        """The compiled, built Keras model (built under `self.trainer.scope()`)."""
        raise NotImplementedError

    def evaluate(self, model: keras.Model, splits: Splits) -> dict[str, float]:
        """`test_*` metrics of the model and `baseline_*` metrics of the baselines."""
        raise NotImplementedError

    def figures(self, model: keras.Model, splits: Splits) -> dict[str, Any]:
        """Task figures (matplotlib) by name; learning curves are added by `run()`."""
        return {}

    def artifacts(self) -> dict[str, str]:
        """Text artifacts (tables, reports) by their path in the MLflow run."""
        return {}

    def serving_model(self, model: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        """The export: raw input in, final answer out, as a `serving_default` endpoint."""
        raise NotImplementedError

    def signature(self, info: DataInfo) -> dict[str, dict]:
        """The manifest's description of the serving inputs and outputs."""
        return {}

    def augment(self, info: DataInfo):
        """An optional per-batch training augmentation `(x, y) -> (x, y)`."""
        return None

    def batching(self, info: DataInfo):
        """An optional `(dataset, batch_size) -> batches` replacing `Dataset.batch`."""
        return None

    # --- `suite predict`: how command-line inputs meet the exported signature ----------

    @classmethod
    def predict_inputs(cls, manifest: dict, inputs: list[str]) -> dict[str, tf.Tensor]:
        """Turns command-line inputs (file paths, strings) into the signature's tensors."""
        raise NotImplementedError

    @classmethod
    def format_predictions(cls, manifest: dict, inputs: list[str], outputs: dict) -> str:
        """Renders the signature's outputs for a person, one block per input."""
        raise NotImplementedError

    # --- the shared template ----------------------------------------------------------

    def backup_dir(self, info: DataInfo) -> Path:
        """Where an interrupted run of this exact config and data keeps its state."""
        params = {k: v for k, v in flatten(self.config).items() if k not in _RUN_CONTROL}
        key = json.dumps([self.name, info.fingerprint, params], sort_keys=True, default=str)
        return BACKUP_ROOT / f"{self.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def run(self) -> RunResult:
        """Runs the whole pipeline and records it in MLflow; returns what it produced."""
        keras.utils.set_random_seed(self.config.trainer.seed)
        self.trainer.strategy  # an unusable strategy fails here, before any work
        splits = self.load_data()
        info = splits.info
        print(f"[{self.name}] data: {info.source}; "
              + ", ".join(f"{k} {v}" for k, v in info.sizes.items())
              + (f"; {len(info.skipped)} input(s) skipped" if info.skipped else ""),
              file=sys.stderr)

        backup = self.backup_dir(info)
        self.trainer.backup_dir = backup
        resumed = self.config.trainer.resume and self.trainer.resume_epoch() > 0
        commit = git_commit()
        tracker = Tracker(self.name)
        tracker.start(run_name=f"{self.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}",
                      run_id=_read_run_id(backup) if resumed else None)
        if tracker.run_id and self.config.trainer.resume:
            backup.mkdir(parents=True, exist_ok=True)
            (backup / "mlflow_run_id").write_text(tracker.run_id)
        params = flatten(self.config)
        if resumed:  # the run holds them already; only these may differ
            params = {k: v for k, v in params.items() if k not in _RUN_CONTROL}
        tracker.log_params(params)
        tracker.set_tags({"pipeline": self.name, "git_commit": commit,
                          "data_fingerprint": info.fingerprint, "data_source": info.source,
                          "data_skipped": len(info.skipped)})
        if info.skipped:
            tracker.log_text("\n".join(info.skipped) + "\n", "data/skipped.txt")
        try:
            with self.trainer.scope():
                model = self.build_model(info)
            print(f"[{self.name}] training {model.name}: {model.count_params():,} parameters",
                  file=sys.stderr)
            history = self.trainer.fit(
                model, splits.train, splits.val, monitor=self.monitor, mode=self.monitor_mode,
                callbacks=[tracker.keras_callback()], augment=self.augment(info),
                batch=self.batching(info),
            )
            self.history, self.epochs = history.history, list(history.epoch)
            print(f"[{self.name}] evaluating against the baselines", file=sys.stderr)
            metrics = self.evaluate(model, splits)
            tracker.log_metrics(metrics)
            figures = {"learning_curves": plots.learning_curves(self.history, self.epochs)}
            figures.update(self.figures(model, splits))
            for name, figure in figures.items():
                tracker.log_figure(figure, name)
            for path, text in self.artifacts().items():
                tracker.log_text(text, path)
            manifest = self._manifest(info, metrics, tracker.run_id, commit)
            export_dir = export.export(self.serving_model(model, info), self.config.export.dir,
                                       self.name, manifest)
            tracker.set_tags({"export_dir": export_dir})
            tracker.log_artifacts(export_dir, "saved_model")
        except KeyboardInterrupt:
            tracker.end("KILLED")
            raise
        except BaseException:
            tracker.end("FAILED")
            raise
        tracker.end("FINISHED")
        return RunResult(
            pipeline=self.name, metrics=metrics, export_dir=export_dir, run_id=tracker.run_id,
            main_metric=f"test_{self.main_metric}",
            baseline_metric=f"baseline_{self.main_baseline}_{self.main_metric}",
            tracking_errors=list(tracker.errors),
            experiment_id=tracker.experiment_id,
        )

    def _manifest(self, info: DataInfo, metrics: dict, run_id: str | None,
                  commit: str | None) -> dict:
        return {
            "pipeline": self.name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "signature_name": "serving_default",
            **self.signature(info),
            "labels": info.classes,
            "metrics": metrics,
            "config": to_dict(self.config),
            "mlflow_run_id": run_id,
            "data_fingerprint": info.fingerprint,
            "data_source": info.source,
            "git_commit": commit,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }


def _read_run_id(backup: Path) -> str | None:
    """The MLflow run an interrupted run of this config logged to, if it noted one."""
    try:
        return (backup / "mlflow_run_id").read_text().strip() or None
    except OSError:
        return None
