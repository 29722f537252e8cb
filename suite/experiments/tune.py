"""`suite tune`: KerasTuner over a pipeline's config keys, every trial an MLflow run.

The search space is a TOML file of config sections whose keys hold a range or choices:

    [trainer]
    learning_rate = { min = 1e-4, max = 1e-2, sampling = "log" }
    batch_size = [32, 64, 128]
    [model]
    dropout = { min = 0.0, max = 0.5, step = 0.1 }

Every key and value is checked against the pipeline's config before any training, as
`--set` is. Each trial trains the base config (`--config`, `--set`) with the trial's values
and scores the pipeline's validation metric (`Pipeline.monitor_for` the data, best epoch):
trials never see the test split. Trials are nested MLflow runs (`run_kind` = `trial`)
under one parent run (`tuning`); the best trial's config is written as TOML that `suite run
--config` accepts, then run once in full (a normal nested run: baselines, test metrics,
export), and its test metric is reported on the parent.

Interrupted, the same command resumes: KerasTuner's state (finished trials, the trial in
flight) lives in `.suite/tune/<pipeline>-<key>/` with the parent run's id, and a trial's
training resumes from its checkpoint as any run does.

Hyperband sets `trainer.epochs` per trial from its brackets (up to the base config's
`trainer.epochs`), each trial training from scratch; `--trials` caps the trials of every
algorithm.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import tomllib
from pathlib import Path

import keras
import keras_tuner as kt

from suite.config import Config, ConfigError, flatten, load_config, set_value, validate
from suite.pipeline import Pipeline, say
from suite.tracking import Tracker, git_commit

TUNE_ROOT = Path(".suite") / "tune"
ALGORITHMS = ("random", "hyperband", "bayesian")


@dataclasses.dataclass
class Dimension:
    """One searched config key: a numeric range or a list of choices."""

    key: str
    choices: list | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False

    def add_to(self, hp: kt.HyperParameters) -> None:
        if self.choices is not None:
            hp.Choice(self.key, self.choices)
        elif self.integer:
            hp.Int(self.key, int(self.low), int(self.high), step=int(self.step or 1),
                   sampling="log" if self.log else "linear")
        else:
            hp.Float(self.key, self.low, self.high, step=self.step,
                     sampling="log" if self.log else "linear")

    def extremes(self) -> list:
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclasses.dataclass
class FinalRun:
    """The best config's full run."""

    run_id: str | None
    main_metric: str
    main_value: float | None
    baseline_metric: str
    baseline_value: float | None
    export_dir: str


def _final_run(path: Path, values: dict) -> FinalRun | None:
    """The full run a finished tuning already made of these best `values`, if any: a
    finished tuning run again reports it instead of training it again."""
    if not path.is_file():
        return None
    recorded = json.loads(path.read_text())
    if recorded.pop("values") != json.loads(json.dumps(values, default=str)):
        return None
    return FinalRun(**recorded)


@dataclasses.dataclass
class TuneResult:
    """What a tuning run found and where it is recorded."""

    pipeline: str
    objective: str
    direction: str
    best_value: float
    best_values: dict
    best_config: Path
    trials: int
    parent_run_id: str | None
    final: FinalRun | None = None


def read_space(path: str | Path, base: Config) -> list[Dimension]:
    """The dimensions of a search-space TOML file, each checked against `base`.

    Raises:
        ConfigError: naming the file and key, for a file that is not TOML, an unknown key,
            a value that is not a range or choices, or a bound/choice the key refuses.
    """
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"search space {str(path)!r}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"search space {str(path)!r} is not valid TOML: {e}") from None
    dims = []
    for section, keys in raw.items():
        if not isinstance(keys, dict):
            raise ConfigError(f"search space {path}: {section!r} must be a [section] of keys")
        for name, spec in keys.items():
            dims.append(_dimension(f"{section}.{name}", spec, base, str(path)))
    if not dims:
        raise ConfigError(f"search space {path}: no keys to search")
    return dims


def _dimension(key: str, spec, base: Config, source: str) -> Dimension:
    current = flatten(base).get(key)
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"search space {source}: {key!r} has no choices")
        if not all(isinstance(v, (bool, int, float, str)) for v in spec):
            raise ConfigError(f"search space {source}: {key!r} choices must be numbers, "
                              f"strings or booleans (KerasTuner's Choice), got {spec!r}")
        dim = Dimension(key, choices=list(spec))
    elif isinstance(spec, dict) and {"min", "max"} <= set(spec) <= {"min", "max", "step",
                                                                      "sampling"}:
        low, high = spec["min"], spec["max"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (low, high)) or low >= high:
            raise ConfigError(f"search space {source}: {key!r} needs numbers min < max, "
                              f"got {low!r} and {high!r}")
        sampling = spec.get("sampling", "linear")
        if sampling not in ("linear", "log") or (sampling == "log" and low <= 0):
            raise ConfigError(f"search space {source}: {key!r} sampling must be 'linear' or "
                              f"'log' (log needs min > 0), got {sampling!r}")
        integer = isinstance(current, int) and not isinstance(current, bool) or (
            current is None and isinstance(low, int) and isinstance(high, int))
        dim = Dimension(key, low=low, high=high, step=spec.get("step"),
                        log=sampling == "log", integer=integer)
    else:
        raise ConfigError(f"search space {source}: {key!r} must be a list of choices or "
                          f"{{ min = ..., max = ... [, step = ...] [, sampling = 'log'] }}, "
                          f"got {spec!r} (a fixed value belongs in --config or --set)")
    for value in dim.extremes():  # the config refuses what it would refuse from --set
        probe = copy.deepcopy(base)
        set_value(probe, key, value, source=source)
        validate(probe)
    return dim


def _with(base: Config, values: dict) -> Config:
    """A copy of `base` with `values` set (each checked against its key)."""
    config = copy.deepcopy(base)
    for key, value in values.items():
        set_value(config, key, value)
    return config


def tune(cls: type[Pipeline], space: str | Path, *, trials: int = 10,
         algorithm: str = "random", config_path: str | None = None,
         overrides: list[str] = (), out: str | Path | None = None,
         seed: int | None = None) -> TuneResult:
    """Runs the search, writes the best config and runs it once in full.

    Args:
        cls: the pipeline class.
        space: the search-space TOML file.
        trials: at most this many trials.
        algorithm: `random`, `hyperband` or `bayesian`.
        config_path, overrides: the base config, as for `suite run`.
        out: the best config's TOML path (default `<pipeline>-best.toml`).
        seed: the search's seed (default: the base config's `trainer.seed`).
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if trials < 1:
        raise ConfigError(f"--trials {trials}: at least 1")
    base = load_config(cls.config_cls, config_path, overrides)
    dims = read_space(space, base)
    out = Path(out or f"{cls.name}-best.toml")
    probe = cls(copy.deepcopy(base))  # what the data lets the trials be scored on
    keras.utils.set_random_seed(base.trainer.seed)
    objective, direction = probe.monitor_for(probe.load_data().info)
    key = hashlib.sha256(json.dumps([cls.name, algorithm, flatten(base), [
        dataclasses.asdict(d) for d in dims]], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    workdir = TUNE_ROOT / f"{cls.name}-{key}"
    workdir.mkdir(parents=True, exist_ok=True)

    parent = Tracker(cls.name)
    id_file = workdir / "parent_run_id"
    earlier = id_file.read_text().strip() if id_file.is_file() else None
    parent.start(run_name=f"tune-{cls.name}-{algorithm}", run_id=earlier, kind="tuning")
    if parent.run_id:
        id_file.write_text(parent.run_id)
    with parent:  # ends FINISHED, FAILED, or KILLED on Ctrl-C
        if earlier is None or parent.run_id != earlier:
            parent.log_params({"tune.algorithm": algorithm, "tune.trials": trials,
                               "tune.objective": objective, "tune.direction": direction,
                               **{f"space.{d.key}": _describe(d) for d in dims}})
        parent.set_tags({"pipeline": cls.name, "git_commit": git_commit()})
        tuner = _SuiteTuner(cls, base, parent, objective,
                            _oracle(algorithm, objective, base, dims, trials, direction, seed),
                            directory=str(workdir), project_name="keras_tuner")
        say(cls.name, f"tuning {', '.join(d.key for d in dims)} on {objective} "
                      f"({direction}), {algorithm}, up to {trials} trials; state in {workdir}")
        tuner.search()
        best = tuner.oracle.get_best_trials(1)
        if not best or best[0].score is None:
            raise RuntimeError(f"no trial finished with a {objective}; see the trial runs")
        values = {d.key: best[0].hyperparameters.get(d.key) for d in dims}
        write_toml(_with(base, values), out)
        parent.log_metrics({f"best_{objective}": best[0].score})
        parent.log_text(out.read_text(), "best_config.toml")
        done = workdir / "final_run.json"
        final = _final_run(done, values)
        if final is None:
            say(cls.name, f"best {objective} {best[0].score:.4f} with "
                          + ", ".join(f"{k}={v}" for k, v in values.items())
                          + f"; written to {out}; running it in full")
            result = cls(load_config(cls.config_cls, out)).run(parent_run_id=parent.run_id)
            final = FinalRun(result.run_id, result.main_metric, result.main_value,
                             result.baseline_metric, result.baseline_value,
                             str(result.export_dir))
            parent.log_metrics({final.main_metric: final.main_value}
                               if final.main_value is not None else {})
            parent.set_tags({"best_run_id": final.run_id, "best_config": str(out)})
            done.write_text(json.dumps({"values": values, **dataclasses.asdict(final)},
                                       default=str))
    return TuneResult(pipeline=cls.name, objective=objective, direction=direction,
                      best_value=best[0].score, best_values=values, best_config=out,
                      trials=len(tuner.oracle.trials), parent_run_id=parent.run_id,
                      final=final)


def summary(result: TuneResult) -> str:
    """What `suite tune` prints at the end."""
    lines = [f"\n[{result.pipeline}] tuning finished: {result.trials} trial(s); best "
             f"{result.objective} {result.best_value:.4f} ({result.direction})"]
    lines += [f"  {k} = {v!r}" for k, v in result.best_values.items()]
    lines.append(f"  best config: {result.best_config} (re-run: suite run {result.pipeline} "
                 f"--config {result.best_config})")
    final = result.final
    if final is not None and final.main_value is not None:
        lines.append(f"  its test metric: {final.main_metric} {final.main_value:.4f} "
                     f"(strongest baseline {final.baseline_metric or '-'} "
                     + ("-" if final.baseline_value is None else f"{final.baseline_value:.4f}")
                     + f"); exported to {final.export_dir}")
    if result.parent_run_id:
        lines.append(f"  MLflow parent run {result.parent_run_id}")
    return "\n".join(lines)


def write_toml(config: Config, path: str | Path) -> None:
    """Writes the keys of `config` that differ from its class's defaults as TOML sections
    (`suite run --config` reads them back to the same config), with tomli-w. Written whole
    or not at all."""
    import tomli_w

    defaults = flatten(type(config)())
    sections: dict[str, dict] = {}
    for key, value in flatten(config).items():
        if value == defaults.get(key) or value is None:
            continue
        head, _, tail = key.partition(".")
        sections.setdefault(head, {})[tail] = list(value) if isinstance(value, tuple) else value
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(tomli_w.dumps(sections))
    partial.replace(path)


def _describe(d: Dimension) -> str:
    if d.choices is not None:
        return f"choice {d.choices}"
    return (f"{'int' if d.integer else 'float'} [{d.low}, {d.high}]"
            + (f" step {d.step}" if d.step else "") + (" log" if d.log else ""))


def _oracle(algorithm: str, objective: str, base: Config, dims: list[Dimension], trials: int,
            direction: str, seed: int | None) -> kt.Oracle:
    hp = kt.HyperParameters()
    for d in dims:
        d.add_to(hp)
    common = dict(objective=kt.Objective(objective, direction), hyperparameters=hp,
                  allow_new_entries=False, tune_new_entries=True,
                  seed=base.trainer.seed if seed is None else seed)
    if algorithm == "hyperband":
        oracle = kt.oracles.HyperbandOracle(max_epochs=base.trainer.epochs, factor=3,
                                            **common)
        oracle.max_trials = trials  # the base Oracle stops creating trials past this
        return oracle
    if algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=trials, **common)
    return kt.oracles.RandomSearchOracle(max_trials=trials, **common)


class _SuiteTuner(kt.Tuner):
    """A KerasTuner tuner whose trial is a pipeline's training on the trial's config."""

    def __init__(self, cls: type[Pipeline], base: Config, parent: Tracker, objective: str,
                 oracle, **kwargs):
        super().__init__(oracle, **kwargs)
        self.cls, self.base, self.parent, self.objective = cls, base, parent, objective

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        config = _with(self.base, values)
        if "tuner/epochs" in trial.hyperparameters.values:
            config.trainer.epochs = int(trial.hyperparameters.get("tuner/epochs"))
        validate(config)
        say(self.cls.name, f"trial {trial.trial_id}: "
                           + ", ".join(f"{k}={v}" for k, v in values.items()))
        return {self.objective: self._train(config, trial.trial_id)}

    def _train(self, config: Config, trial_id: str) -> float:
        pipeline = self.cls(config)
        keras.utils.set_random_seed(config.trainer.seed)
        splits = pipeline.load_data()
        checkpoint = pipeline.checkpoint(splits.info)
        earlier = checkpoint.run_id() if checkpoint.started else None
        tracker = Tracker(self.cls.name)
        tracker.start(run_name=f"trial-{trial_id}", run_id=earlier,
                      parent_run_id=self.parent.run_id, kind="trial")
        with tracker:
            if tracker.run_id:
                checkpoint.note_run_id(tracker.run_id)
            if earlier is None or tracker.run_id != earlier:
                tracker.log_params(flatten(config))
            tracker.set_tags({"pipeline": self.cls.name, "trial_id": trial_id,
                              "data_fingerprint": splits.info.fingerprint})
            pipeline.fit(splits, checkpoint, tracker)
            value = _best(pipeline.history.get(self.objective, []),
                          self.oracle.objective.direction)
            tracker.log_metrics({f"best_{self.objective}": value})
        checkpoint.clear()  # the trial is recorded; the best config is retrained in full
        return value


def _best(values: list[float], direction: str) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return float("nan")
    return min(finite) if direction == "min" else max(finite)
