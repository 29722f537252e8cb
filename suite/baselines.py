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
import math
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


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The model's main test metric against the strongest baseline's.

    Args:
        metric: the main metric's name without prefix (`accuracy`, `mase`).
        value: the model's `test_<metric>` (None or NaN when it has none).
        higher_is_better: the metric's direction.
        strongest: the baseline with the best value, the simpler one on a tie; None when
            no baseline has a finite value.
        strongest_value: its value.
        beaten_by: every baseline that scores strictly better than the model, best first.
        scores: each baseline's finite value, by name, simplest first.
        ablation: the pipeline's `main_baseline` (the ablation its task is about) and its
            value, shown beside the strongest, never instead of it; None when not scored.
    """

    metric: str
    value: float | None
    higher_is_better: bool
    strongest: str | None
    strongest_value: float | None
    beaten_by: tuple[str, ...]
    scores: dict[str, float]
    ablation: tuple[str, float] | None = None

    @property
    def beaten(self) -> bool:
        return bool(self.beaten_by)

    @property
    def margin(self) -> float | None:
        """How much better the model is than the strongest baseline, in the metric's
        direction (negative: the baseline is better); None without both values."""
        if self.strongest is None or not _finite(self.value):
            return None
        gap = self.value - self.strongest_value
        return gap if self.higher_is_better else -gap

    def verdict(self) -> str:
        """`wins (margin +0.0083)`, `BEATEN by ets (margin -0.0780)`, `ties`, or `-`; the
        margin is the model's lead over the strongest baseline, in the metric's
        direction."""
        margin = self.margin
        text = "-" if margin is None else f" (margin {margin:+.4f})"
        if self.beaten:
            return f"BEATEN by {', '.join(self.beaten_by)}" + ("" if margin is None else text)
        if margin is None:
            return "-"
        return "ties" if margin == 0 else "wins" + text

    def line(self) -> str:
        """One line: the model's value against the strongest baseline's, and the verdict."""
        model = "-" if not _finite(self.value) else f"{self.value:.4f}"
        if self.strongest is None:
            text = f"test_{self.metric} {model}; no baseline scored"
        else:
            text = (f"test_{self.metric} {model} vs strongest baseline {self.strongest} "
                    f"{self.strongest_value:.4f}: {self.verdict()}")
        if self.ablation is not None and self.ablation[0] != self.strongest:
            text += f"; ablation {self.ablation[0]} {self.ablation[1]:.4f}"
        return text

    def warning(self) -> str | None:
        """The one WARNING line of a run some baseline beats, or None."""
        if not self.beaten:
            return None
        direction = "higher" if self.higher_is_better else "lower"
        model = "no value" if not _finite(self.value) else f"{self.value:.4f}"
        names = ", ".join(f"{n} ({self.scores[n]:.4f})" for n in self.beaten_by)
        verb = "beats" if len(self.beaten_by) == 1 else "beat"
        return (f"WARNING: baseline{'s' * (len(self.beaten_by) > 1)} {names} {verb} the "
                f"model on test_{self.metric}: the model has {model} ({direction} is better)")

    def summary(self) -> dict[str, Any]:
        """The comparison as the manifest records it."""
        return {"metric": f"test_{self.metric}", "value": self.value,
                "higher_is_better": self.higher_is_better,
                "strongest_baseline": self.strongest,
                "strongest_baseline_value": self.strongest_value,
                "margin": self.margin, "beaten_by": list(self.beaten_by),
                "ablation": None if self.ablation is None else
                {"baseline": self.ablation[0], "value": self.ablation[1]},
                "line": self.line()}


def compare(metrics: dict[str, float], metric: str, higher_is_better: bool,
            order: list[str] | tuple[str, ...] = (), ablation: str | None = None
            ) -> Comparison:
    """Compares `test_<metric>` with every `baseline_<name>_<metric>` in `metrics`.

    Args:
        metrics: a run's metrics, as MLflow and the manifest name them.
        metric: the main metric without prefix.
        higher_is_better: its direction.
        order: baseline names from the simplest to the most complex (a pipeline declares
            its baselines in that order); on a tie the simpler one is the strongest.
            When given, only these names are baselines (a longer metric such as
            `unseen_accent_cer` also ends in `_cer`); when empty, every
            `baseline_<name>_<metric>` key counts, in name order.
        ablation: the pipeline's `main_baseline`, reported beside the strongest.

    Example:
        >>> compare({"test_mase": 0.53, "baseline_naive_mase": 1.2,
        ...          "baseline_ets_mase": 0.45}, "mase", False, ["naive", "ets"]).line()
        'test_mase 0.5300 vs strongest baseline ets 0.4500: BEATEN by ets (margin -0.0800)'
    """
    suffix = f"_{metric}"
    found = {key[len("baseline_"):-len(suffix)]: float(value)
             for key, value in metrics.items()
             if key.startswith("baseline_") and key.endswith(suffix)
             and len(key) > len("baseline_") + len(suffix) and _finite(value)}
    if order:  # `baseline_unidirectional_unseen_accent_cer` ends in `_cer` too
        found = {name: v for name, v in found.items() if name in order}
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(found, key=lambda n: (rank.get(n, len(rank)), n))
    scores = {n: found[n] for n in names}
    sign = 1.0 if higher_is_better else -1.0
    strongest = None
    for name in names:  # simplest first: a later one must be strictly better to take over
        if strongest is None or sign * scores[name] > sign * scores[strongest]:
            strongest = name
    value = metrics.get(f"test_{metric}")
    value = float(value) if value is not None else None
    if _finite(value):
        beaten = [n for n in names if sign * scores[n] > sign * value]
    else:
        beaten = list(names)
    beaten.sort(key=lambda n: -sign * scores[n])
    return Comparison(
        metric=metric, value=value, higher_is_better=higher_is_better, strongest=strongest,
        strongest_value=scores[strongest] if strongest is not None else None,
        beaten_by=tuple(beaten), scores=scores,
        ablation=(ablation, scores[ablation]) if ablation in scores else None)


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
