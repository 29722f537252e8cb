"""MLflow tracking: one experiment per pipeline, one run per `suite run`.

A tracking failure never costs the trained model: every call is guarded, the first
failure is reported and switches tracking off for the rest of the run, and the pipeline
goes on to evaluate and export. `Tracker.errors` holds what went wrong.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
from pathlib import Path

import keras

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else MLflow's SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def git_commit(path: str | Path = Path(__file__).parent) -> str | None:
    """The git commit of the working tree at `path` (default: the suite's own source), or
    None outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class Tracker:
    """Logs one pipeline run to MLflow, guarding every call.

    Args:
        experiment: the MLflow experiment, one per pipeline (its CLI name).
        uri: the tracking URI; defaults to `tracking_uri()`.

    Example:
        >>> with Tracker("image-classification") as tracker:
        ...     tracker.start(run_name="cnn")
        ...     tracker.log_params({"trainer.epochs": 3})
        ...     tracker.log_metrics({"test_accuracy": 0.99})
    """

    def __init__(self, experiment: str, uri: str | None = None):
        self.experiment = experiment
        self.uri = uri or tracking_uri()
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.errors: list[str] = []
        self._mlflow = None

    @property
    def active(self) -> bool:
        """True while a run is open and no call has failed."""
        return self.run_id is not None and not self.errors

    def start(self, run_name: str | None = None, run_id: str | None = None,
              parent_run_id: str | None = None, kind: str = "run") -> str | None:
        """Opens a run (or re-opens `run_id`, to continue an interrupted one), nested under
        `parent_run_id` if given, tagged `run_kind` = `kind` (`run`, `tuning`, `trial`);
        returns its id."""
        def _start():
            import mlflow

            self._mlflow = mlflow
            mlflow.set_tracking_uri(self.uri)
            self.experiment_id = mlflow.set_experiment(self.experiment).experiment_id
            # Marks the experiment as a training one. The 3.17 UI still opens on its GenAI
            # view unless the address carries `workflowType=machine_learning`, which the
            # addresses `suite ui` and the run report print do.
            mlflow.set_experiment_tag("mlflow.experimentKind", "custom_model_development")
            nested = parent_run_id is not None
            if run_id is not None:
                try:
                    return mlflow.start_run(run_id=run_id, nested=nested).info.run_id
                except Exception:  # the run is gone or the store changed: start afresh
                    log.info("cannot continue MLflow run %s; starting a new run", run_id)
            return mlflow.start_run(run_name=run_name, nested=nested,
                                    parent_run_id=parent_run_id,
                                    tags={"run_kind": kind}).info.run_id

        self.run_id = self._guard("start a run", _start)
        return self.run_id

    def log_params(self, params: dict) -> None:
        """Logs the flattened config (`None` becomes the string 'None')."""
        self._call("log params", lambda m: m.log_params({k: str(v) for k, v in params.items()}))

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        """Logs finite numeric metrics; NaN/inf values are skipped and noted in the log."""
        finite = {k: float(v) for k, v in metrics.items()
                  if v is not None and math.isfinite(float(v))}
        if len(finite) < len(metrics):
            log.warning("not logged (not finite): %s", sorted(set(metrics) - set(finite)))
        self._call("log metrics", lambda m: m.log_metrics(finite, step=step))

    def set_tags(self, tags: dict) -> None:
        """Sets run tags (git commit, data fingerprint, export path, ...)."""
        self._call("set tags", lambda m: m.set_tags({k: str(v) for k, v in tags.items()
                                                     if v is not None}))

    def log_dataset(self, name: str, digest: str, source: str | None,
                    sizes: dict[str, int] | None = None, description: str = "") -> None:
        """Logs the run's data as an MLflow dataset input: `name`, the data fingerprint as
        its `digest`, and where it came from (`source`: a path a user gave, or None for an
        embedded set, recorded by its `description`). The Runs table's Dataset column and
        the run page show it; the split sizes are its tags."""
        def _log(mlflow):
            import warnings

            from mlflow.data.code_dataset_source import CodeDatasetSource
            from mlflow.data.dataset_source_registry import resolve_dataset_source
            from mlflow.data.meta_dataset import MetaDataset

            if source is None:
                origin = CodeDatasetSource(tags={"embedded": description or name})
            else:
                with warnings.catch_warnings():  # a local path matches two source kinds
                    warnings.simplefilter("ignore")
                    origin = resolve_dataset_source(str(Path(source).resolve()))
            mlflow.log_input(MetaDataset(origin, name=name, digest=digest),
                             context="training",
                             tags={k: str(v) for k, v in (sizes or {}).items()})

        self._call("log the dataset", _log)

    def set_description(self, text: str) -> None:
        """Sets the run's description (the `mlflow.note.content` tag the UI shows)."""
        self.set_tags({"mlflow.note.content": text})

    def log_figure(self, figure, name: str) -> None:
        """Logs a matplotlib figure as `figures/<name>.png`."""
        self._call("log figure", lambda m: m.log_figure(figure, f"figures/{name}.png"))

    def log_text(self, text: str, path: str) -> None:
        """Logs a text artifact (a table, a report) at `path`."""
        self._call("log text", lambda m: m.log_text(text, path))

    def log_artifacts(self, local_dir: str | Path, artifact_path: str) -> None:
        """Logs a directory, e.g. the exported SavedModel."""
        self._call("log artifacts", lambda m: m.log_artifacts(str(local_dir), artifact_path))

    def log_model(self, export_dir: str | Path, make_example) -> str | None:
        """Logs the export as this run's MLflow model `model`: a pyfunc over the SavedModel
        (`suite.experiments.savedmodel_pyfunc`), its signature inferred from the example
        `make_example()` returns (the serving inputs of a few test examples), which is also
        its input example. Making the example is part of the guarded call: a failure there
        is a tracking error, never a lost run. Returns the model URI (`models:/<id>`), or
        None if tracking is off.

        Inputs of one value per example (bytes, strings) go in as DataFrame columns, so
        MLflow's schema knows bytes as `binary` (base64 in JSON); windows and other arrays
        as tensors."""
        def _log(mlflow):
            import pandas as pd

            from suite.experiments import savedmodel_pyfunc

            example = make_example()
            columns = all(getattr(v, "ndim", 1) == 1 for v in example.values())
            info = mlflow.pyfunc.log_model(
                name="model", python_model=savedmodel_pyfunc.__file__,
                artifacts={"saved_model": str(export_dir)},
                input_example=pd.DataFrame(example) if columns else example,
                pip_requirements=_model_requirements())
            return info.model_uri

        return self._call("log the model", _log)

    def register(self, model_uri: str, candidate):
        """Registers `model_uri` under the experiment's (pipeline's) name and moves the
        `champion` alias to it if `candidate` beats the champion; returns the
        `suite.experiments.champion.Decision`, or None if tracking is off."""
        def _register(mlflow):
            from suite.experiments import champion

            return champion.register(mlflow.MlflowClient(self.uri), self.experiment,
                                     model_uri, self.run_id, candidate)

        return self._call("register the model", _register)

    def end(self, status: str = "FINISHED") -> None:
        """Closes the run with `status` (`FINISHED`, `FAILED`, `KILLED`)."""
        if self.run_id is None or self._mlflow is None:
            return
        try:  # even after a failure: a run left open would block the next one in-process
            self._mlflow.end_run(status="FAILED" if self.errors else status)
        except Exception as e:
            log.error("MLflow could not end the run at %s: %s", self.uri, e)

    def keras_callback(self) -> keras.callbacks.Callback:
        """A callback logging every epoch's `loss`, `val_loss`, ... at step = epoch."""
        return _EpochLogger(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Ends the run FINISHED, FAILED on an error, or KILLED on Ctrl-C."""
        self.end("FINISHED" if exc_type is None else
                 "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")
        return False

    def _call(self, what: str, fn):
        return self._guard(what, lambda: fn(self._mlflow)) if self.active else None

    def _guard(self, what: str, fn):
        if self.errors:
            return None
        try:
            return fn()
        except Exception as e:  # the store is the user's: any failure is reported, not fatal
            message = f"MLflow could not {what} at {self.uri}: {type(e).__name__}: {e}"
            log.error("%s; tracking is off for the rest of this run", message)
            self.errors.append(message)
            return None


def _model_requirements() -> list[str]:
    """What the pyfunc model needs installed: TensorFlow and the text ops at the versions
    that exported it, and MLflow."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for package in ("tensorflow", "tensorflow-text", "mlflow"):
        try:
            requirements.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pass
    return requirements


class _EpochLogger(keras.callbacks.Callback):
    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_metrics(dict(logs or {}), step=epoch)
