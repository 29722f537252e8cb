"""`suite runs`: a pipeline's runs side by side, as a table a person can compare.

Per pipeline, newest first (or sorted by a metric): the run, when, its status, the params
that differ between the runs shown (the ones that are the same say nothing), the main test
metric, the strongest baseline of that run with its value, and the verdict (`wins by`,
`BEATEN by`). Only pipeline runs are shown: a tuning run's trials
(validation only) and its parent are left out, and the tuning's final run of the best
config, a pipeline run, stands for them. Every run is tagged with its kind (`run_kind`:
`run`, `tuning` or `trial`) when it starts, so the filter happens in the store.
"""

from __future__ import annotations

import math

KIND_TAG = "run_kind"


class RunsQueryError(ValueError):
    """A sort or filter the store refuses, with the store's reason."""


def search(name: str, limit: int, sort: str | None, where: str | None, higher_is_better: bool):
    """The runs of pipeline `name` as a pandas DataFrame (MLflow's `search_runs` columns).

    Args:
        sort: a metric name (`test_accuracy` or `metrics.test_accuracy`), optionally
            followed by ASC or DESC; without a direction the main metric sorts best first
            and any other metric descending.
        where: an MLflow filter string, e.g. `params.trainer.epochs = '5'`.
        higher_is_better: the direction of the pipeline's main metric.
    """
    import mlflow

    order = ["attributes.start_time DESC"]
    if sort:
        column, _, direction = sort.strip().partition(" ")
        column = column if "." in column and column.split(".")[0] in (
            "metrics", "params", "attributes", "tags") else f"metrics.{column}"
        direction = direction.strip().upper() or ("DESC" if higher_is_better
                                                  or not column.startswith("metrics.test_")
                                                  else "ASC")
        if direction not in ("ASC", "DESC"):
            raise RunsQueryError(f"--sort {sort!r}: expected METRIC [ASC|DESC]")
        order = [f"{column} {direction}", *order]
    try:
        return mlflow.search_runs(
            experiment_names=[name], max_results=limit, order_by=order,
            filter_string=" and ".join([f"tags.{KIND_TAG} = 'run'", *filter(None, [where])]))
    except mlflow.exceptions.MlflowException as e:
        raise RunsQueryError(f"the store refused the query: {e.message}") from None


def differing_params(runs) -> list[str]:
    """The param columns whose values are not all the same across `runs`."""
    columns = [c for c in runs.columns if c.startswith("params.")]
    return sorted(c for c in columns if runs[c].fillna("-").nunique() > 1)


def table_rows(runs, compare) -> list[tuple]:
    """Rows (header first) of one pipeline's runs: id, start, status, differing params,
    the main metric, the strongest baseline and the verdict.

    Args:
        runs: `search`'s DataFrame.
        compare: the pipeline's `compare`, `metrics -> suite.baselines.Comparison`.
    """
    params = differing_params(runs)
    rows = []
    metric = None
    for _, run in runs.iterrows():
        metrics = {c[len("metrics."):]: v for c, v in run.items()
                   if c.startswith("metrics.") and v is not None and v == v}
        c = compare(metrics)
        metric = f"test_{c.metric}"
        rows.append((run["run_id"][:12], f"{run['start_time']:%Y-%m-%d %H:%M}", run["status"],
                     *(_text(run.get(p)) for p in params), _number(c.value),
                     c.strongest or "-", _number(c.strongest_value), c.verdict()))
    header = ("run id", "started", "status", *(p[len("params."):] for p in params),
              metric or "metric", "strongest baseline", "value", "result")
    return [header, *rows]


def _text(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _number(value) -> str:
    if value is None or value != value:
        return "-"
    return f"{float(value):.4f}"
