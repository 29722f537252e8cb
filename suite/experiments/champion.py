"""The Model Registry: every run's export is a version of the model named after its
pipeline; the alias `champion` marks the best one.

The rule: a new version takes `champion` only if its main test metric beats the current
champion's in the metric's direction (accuracy, BLEU, mIoU, precision up; MASE, CER
down), measured on the same data (the same data fingerprint). A run on other data does
not compete: its number is not comparable. The first version of a model is champion.
Each version carries tags with its metric, data fingerprint, run and the decision taken
when it was registered, so `suite champion <pipeline>` can say who holds the alias and
why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import shutil
from pathlib import Path

ALIAS = "champion"
FETCHED = ".fetched_from_registry"


@dataclasses.dataclass
class Candidate:
    """A version's claim: its main test metric and the data it was measured on."""

    metric: str                      # e.g. "test_accuracy"
    value: float | None
    higher_is_better: bool
    data_fingerprint: str

    def tags(self) -> dict[str, str]:
        return {"metric": self.metric, "metric_value": repr(self.value),
                "higher_is_better": str(self.higher_is_better).lower(),
                "data_fingerprint": self.data_fingerprint}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Candidate:
        value = tags.get("metric_value")
        return cls(metric=tags.get("metric", "?"),
                   value=None if value in (None, "None") else float(value),
                   higher_is_better=tags.get("higher_is_better", "true") == "true",
                   data_fingerprint=tags.get("data_fingerprint", "?"))


@dataclasses.dataclass
class Decision:
    """What registering one version did."""

    name: str
    version: str
    champion: bool                   # this version holds the alias now
    reason: str
    champion_version: str            # who holds it after the decision


def decide(new: Candidate, current: Candidate | None, current_version: str | None
           ) -> tuple[bool, str]:
    """Whether `new` takes the alias from `current` (None: no champion yet), and why."""
    if current is None:
        return True, "the first version with a main metric"
    if new.value is None or not math.isfinite(new.value):
        return False, f"it has no finite {new.metric}"
    if new.data_fingerprint != current.data_fingerprint:
        return False, (f"it was measured on other data (fingerprint {new.data_fingerprint}; "
                       f"the champion's is {current.data_fingerprint}), so it does not "
                       "compete")
    if new.metric != current.metric:
        return False, f"it reports {new.metric}, the champion {current.metric}"
    if current.value is None or not math.isfinite(current.value):
        return True, f"version {current_version} has no finite {current.metric}"
    better = new.value > current.value if new.higher_is_better else new.value < current.value
    word = "higher" if new.higher_is_better else "lower"
    if better:
        return True, (f"{new.metric} {new.value:.4f} beats version {current_version}'s "
                      f"{current.value:.4f} ({word} is better)")
    return False, (f"{new.metric} {new.value:.4f} does not beat version {current_version}'s "
                   f"{current.value:.4f} ({word} is better)")


def register(client, name: str, model_uri: str, run_id: str | None,
             candidate: Candidate) -> Decision:
    """Registers `model_uri` as a new version of `name`, applies the rule and records the
    decision on the version.

    Args:
        client: an `mlflow.MlflowClient` on the store the run went to.
        name: the registered model's name (the pipeline's).
        model_uri: the run's logged model (`models:/<model id>`).
        run_id: the run that produced it.
        candidate: its main metric and data fingerprint.
    """
    import mlflow

    with contextlib.redirect_stderr(io.StringIO()):  # its own notices: the run reports this
        version = mlflow.register_model(model_uri, name, tags={**candidate.tags(),
                                                               "run_id": str(run_id)}).version
    current = champion_version(client, name)
    current_claim = Candidate.from_tags(current.tags) if current is not None else None
    wins, reason = decide(candidate, current_claim,
                          current.version if current is not None else None)
    if wins:
        client.set_registered_model_alias(name, ALIAS, version)
    client.set_model_version_tag(name, version, "champion_decision",
                                 ("took the champion alias: " if wins else
                                  "did not take the champion alias: ") + reason)
    return Decision(name=name, version=str(version), champion=wins, reason=reason,
                    champion_version=str(version) if wins else str(current.version))


def champion_version(client, name: str):
    """The `ModelVersion` holding the alias, or None (no model, or no champion yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def report(client, name: str, compare=None, versions: int = 5) -> str:
    """Who holds `champion` for `name` and why, with the newest versions' decisions.

    Args:
        client: an `mlflow.MlflowClient`.
        name: the pipeline.
        compare: the pipeline's `compare` (`metrics -> suite.baselines.Comparison`): each
            version is shown against the strongest baseline of its run.
        versions: how many of the newest versions to list.
    """
    holder = champion_version(client, name)
    if holder is None:
        return f"{name}: no champion (no registered version yet: run `suite run {name}`)"
    claim = Candidate.from_tags(holder.tags)
    value = "-" if claim.value is None else f"{claim.value:.4f}"
    lines = [f"{name}: champion is version {holder.version} (run {holder.run_id}): "
             f"{claim.metric} {value} on data {claim.data_fingerprint}",
             f"  against its baselines: {_against(client, holder.run_id, compare)}",
             f"  why: {holder.tags.get('champion_decision', '-')}",
             f"  load it: mlflow.pyfunc.load_model('models:/{name}@{ALIAS}')",
             "  newest versions:"]
    for v in client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"],
                                          max_results=versions):
        claim = Candidate.from_tags(v.tags)
        value = "-" if claim.value is None else f"{claim.value:.4f}"
        lines.append(f"    {v.version:>4}  run {v.run_id}  {claim.metric} {value}  "
                     f"[{_against(client, v.run_id, compare, short=True)}]  "
                     f"{v.tags.get('champion_decision', '-')}")
    return "\n".join(lines)


def _against(client, run_id: str | None, compare, short: bool = False) -> str:
    """The run's main metric against its strongest baseline, from the run's metrics."""
    from mlflow.exceptions import MlflowException

    if compare is None or not run_id:
        return "-"
    try:
        metrics = client.get_run(run_id).data.metrics
    except MlflowException:
        return "its run is gone"
    c = compare(metrics)
    if not short:
        return c.line()
    return "-" if c.strongest is None else f"{c.strongest} {c.strongest_value:.4f}: {c.verdict()}"


def _saved_model_path(model_dir: Path) -> str:
    """Where a downloaded pyfunc model keeps its `saved_model` artifact (MLflow names the
    copy after the export's version directory), from its MLmodel file."""
    from mlflow.models import Model

    flavor = Model.load(str(model_dir)).flavors["python_function"]
    return flavor["artifacts"]["saved_model"]["path"]


def fetch(client, names: list[str], model_dir: str | Path, tracking_uri: str
          ) -> dict[str, Path]:
    """Downloads each pipeline's champion into `<model_dir>/<name>/<version>/` (the
    SavedModel directory the serving layout expects). Versions fetched earlier that are
    no longer champion are removed; other directories there (a user's own exports) are
    left alone, marked by the `FETCHED` file only fetched versions carry.

    Returns:
        `{name: version directory}` for the names that have a champion.
    """
    import mlflow

    fetched = {}
    for name in names:
        holder = champion_version(client, name)
        if holder is None:
            continue
        target = Path(model_dir) / name / str(holder.version)
        if not (target / "saved_model.pb").is_file():
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}@{ALIAS}",
                tracking_uri=tracking_uri))
            partial = target.with_name(f".{target.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(local / _saved_model_path(local), partial)
            (partial / FETCHED).write_text(f"models:/{name}/{holder.version}\n")
            partial.rename(target)  # appears complete, as an export does
        for other in (Path(model_dir) / name).iterdir():
            if other != target and (other / FETCHED).is_file():
                shutil.rmtree(other)
        fetched[name] = target
    return fetched
