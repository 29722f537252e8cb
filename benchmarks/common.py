"""What every benchmark shares: an isolated working directory and a timed pipeline run."""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CI", "1")  # no progress bars inside a benchmark
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import keras  # noqa: E402

from suite.config import load_config  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch; `rate(examples)` is the throughput after the first epoch
    (which traces and compiles)."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def rate(self, examples: int) -> float:
        """Examples per second over the epochs after the first (NaN with one epoch)."""
        later = self.times[1:]
        return examples / statistics.mean(later) if later else float("nan")


def isolate(name: str) -> str:
    """Moves into a fresh temporary directory with its own MLflow store."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{name}-")
    os.chdir(workdir)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    return workdir


def timed_run(pipeline_cls, overrides=()):
    """Runs a pipeline as `suite run` does; returns (result, pipeline, fit seconds, total).

    The model's fit also leaves its CPU seconds (all threads of this process) in
    `pipeline.fit_cpu_seconds`: on a machine shared with other jobs the wall time is an
    upper bound of the time alone, and CPU seconds / cores a lower bound.
    """
    pipeline = pipeline_cls(load_config(pipeline_cls.config_cls, overrides=list(overrides)))
    fit_seconds = []
    fit = pipeline.trainer.fit

    def timed_fit(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        history = fit(*args, **kwargs)
        fit_seconds.append(time.perf_counter() - start)
        if len(fit_seconds) == 1:
            pipeline.fit_cpu_seconds = time.process_time() - cpu
        return history

    pipeline.trainer.fit = timed_fit
    start = time.perf_counter()
    result = pipeline.run()
    return result, pipeline, fit_seconds[0], time.perf_counter() - start


def rerun_report(pipeline_cls, overrides, change):
    """Runs the pipeline again with `change` (model keys only) in the same working
    directory, so its baselines are reused; prints the time saved. Returns the result."""
    result, _, _, total = timed_run(pipeline_cls, [*overrides, *change])
    saved = sum(result.baseline_seconds[name] for name in result.baselines_reused)
    print(f"\nsecond run with {' '.join(change)}: {total:.0f}s in all; baselines reused: "
          f"{', '.join(result.baselines_reused) or 'none'}, which saved {saved:.0f}s of "
          "baseline fitting and prediction")
    return result
