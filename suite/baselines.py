"""Declared baselines and the cache that reuses their results across runs.

A pipeline declares each baseline as a `Baseline`: its name, how to fit it on the
splits, how to predict the test split with the fitted baseline, and which config keys
it depends on. The pipeline scores baseline predictions with the same `score` it uses
for the model, so every number in a comparison is computed the same way.

A baseline's test predictions are cached under `.suite/baselines/<pipeline>/` keyed by
the data fingerprint, the values of the config keys it depends on and its `version`;
a later run with the same key reuses them instead of fitting again (changing only the
model's config does not retrain a no-attention translator). A network baseline trains
through the Trainer inside its cache directory, with its own backup and saved weights,
so an interrupted run resumes it too.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

log = logging.getLogger(__name__)

BASELINE_ROOT = Path(".suite") / "baselines"
PREDICTIONS = "predictions.npz"
META = "meta.json"
_NOT_RESULTS = ("trainer.verbose", "trainer.resume")  # how a run is shown, not what it fits


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A baseline a pipeline compares its model with.

    Args:
        name: the metric prefix `baseline_<name>_...`; letters, digits and underscores.
        fit: `(splits, workdir) -> fitted`; `workdir` is this baseline's cache directory,
            where a network keeps its backup and weights (see `Pipeline.fit_network`).
        predict: `(fitted, splits) -> {name: array}`, the test-split predictions in the
            form the pipeline's `score` reads (arrays of numbers or strings).
        depends_on: config keys or sections (`"trainer"`, `"model.mlp_hidden"`) whose
            values change this baseline's results; the `data` section always does.
        version: raise it when the baseline's code changes, so cached results are not
            reused.
        description: one line for people.
    """

    name: str
    fit: Callable[[Any, Path], Any]
    predict: Callable[[Any, Any], dict[str, Any]]
    depends_on: tuple[str, ...] = ()
    version: int = 1
    description: str = ""

    def __post_init__(self):
        if not self.name.replace("_", "").isalnum() or not self.name.isascii():
            raise ValueError(f"Baseline name: got {self.name!r}, expected letters, digits "
                             "and underscores")


@dataclasses.dataclass
class BaselineResult:
    """A baseline's test predictions and where they came from."""

    name: str
    predictions: dict[str, np.ndarray]
    reused: bool
    run_id: str | None          # the MLflow run that computed them
    seconds: float              # how long fitting and predicting took when computed


class BaselineCache:
    """Fits and predicts declared baselines, or reuses their cached predictions.

    Args:
        pipeline: the pipeline's name (a directory under `root`).
        root: the cache root, `.suite/baselines` in the working directory by default.
    """

    def __init__(self, pipeline: str, root: str | Path = BASELINE_ROOT):
        self.pipeline = pipeline
        self.root = Path(root)

    def key(self, baseline: Baseline, fingerprint: str, params: dict[str, Any]) -> dict:
        """What the baseline's results depend on: data, its config values and version."""
        prefixes = ("data", *baseline.depends_on)
        relevant = {k: v for k, v in sorted(params.items())
                    if k not in _NOT_RESULTS
                    and any(k == p or k.startswith(p + ".") for p in prefixes)}
        return {"pipeline": self.pipeline, "baseline": baseline.name,
                "version": baseline.version, "data_fingerprint": fingerprint,
                "config": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in relevant.items()}}

    def directory(self, key: dict) -> Path:
        """The cache directory of one baseline result."""
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
        return self.root / self.pipeline / f"{key['baseline']}-{digest.hexdigest()[:12]}"

    def run(self, baseline: Baseline, splits, params: dict[str, Any],
            run_id: str | None = None, seed: int = 0) -> BaselineResult:
        """The baseline's test predictions: cached ones if the key matches, else computed
        (and cached).

        Every random generator is seeded with `seed` before the baseline is fitted, so its
        results depend on its key alone, not on what the run did before.
        """
        key = self.key(baseline, splits.info.fingerprint, params)
        directory = self.directory(key)
        cached = self._load(directory)
        if cached is not None:
            predictions, meta = cached
            return BaselineResult(baseline.name, predictions, True, meta.get("run_id"),
                                  float(meta.get("seconds", 0.0)))
        directory.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        fitted = baseline.fit(splits, directory)
        predictions = {k: np.asarray(v) for k, v in baseline.predict(fitted, splits).items()}
        seconds = time.perf_counter() - start
        self._save(directory, predictions, {
            "key": key, "run_id": run_id, "seconds": seconds,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat()})
        return BaselineResult(baseline.name, predictions, False, run_id, seconds)

    @staticmethod
    def _load(directory: Path):
        path = directory / PREDICTIONS
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                predictions = {k: saved[k] for k in saved.files}
            meta = json.loads((directory / META).read_text())
        except (OSError, ValueError) as e:
            log.warning("ignoring the unreadable baseline cache %s: %s", directory, e)
            return None
        return predictions, meta

    @staticmethod
    def _save(directory: Path, predictions: dict, meta: dict) -> None:
        # The predictions file is renamed into place last: its presence means "complete".
        (directory / META).write_text(json.dumps(meta, indent=1, default=str) + "\n")
        tmp = directory / f".tmp-{uuid.uuid4().hex}.npz"
        try:
            with tmp.open("wb") as f:
                np.savez(f, **predictions)
            os.replace(tmp, directory / PREDICTIONS)
        finally:
            if tmp.exists():
                tmp.unlink()


def select(baselines: list[Baseline], spec: str) -> list[Baseline]:
    """The baselines `eval.baselines` selects: `all`, `none` or comma-separated names.

    Raises:
        ConfigError: naming an unknown baseline and the declared ones.
    """
    from suite.config import ConfigError

    spec = spec.strip()
    if spec == "all":
        return list(baselines)
    if spec == "none":
        return []
    names = [n.strip() for n in spec.split(",") if n.strip()]
    known = {b.name: b for b in baselines}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(
            f"config key 'eval.baselines': got {spec!r}, expected all, none or a "
            f"comma-separated list of {', '.join(known) or '(this pipeline has none)'}")
    return [known[n] for n in dict.fromkeys(names)]
