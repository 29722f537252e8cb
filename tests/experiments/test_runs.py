"""`suite runs`: the comparison table on a store with known runs."""

from __future__ import annotations

import mlflow
import pytest

from suite.cli import main


def _log_run(name: str, params: dict, metrics: dict, kind: str = "run") -> str:
    mlflow.set_experiment(name)
    with mlflow.start_run(tags={"run_kind": kind}) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
    return run.info.run_id


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    common = {"trainer.epochs": 5, "model.filters": "(32,)"}
    ids = {
        "slow": _log_run("image-classification", {**common, "trainer.learning_rate": 0.001},
                         {"test_accuracy": 0.91, "baseline_logistic_regression_accuracy": 0.95,
                          "baseline_mlp_accuracy": 0.93}),
        "fast": _log_run("image-classification", {**common, "trainer.learning_rate": 0.01},
                         {"test_accuracy": 0.97, "baseline_logistic_regression_accuracy": 0.95,
                          "baseline_mlp_accuracy": 0.96}),
        "trial": _log_run("image-classification", {**common, "trainer.learning_rate": 0.1},
                          {"val_accuracy": 0.5}, kind="trial"),
        "forecast": _log_run("forecasting", {"trainer.epochs": 3},
                             {"test_mase": 0.8, "baseline_seasonal_naive_mase": 1.1,
                              "baseline_ets_mase": 0.7}),
    }
    return ids


def _rows(out: str, run_id: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(run_id[:12])]


def test_the_table_shows_the_params_that_differ_and_the_metric_beside_the_strongest_baseline(
        store, capsys):
    assert main(["runs", "image-classification"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("run id"))
    assert "trainer.learning_rate" in header
    assert "trainer.epochs" not in header and "model.filters" not in header  # the same
    assert header.split()[-5:] == ["test_accuracy", "strongest", "baseline", "value", "result"]
    (fast,) = _rows(out, store["fast"])
    assert fast.split()[-7:] == ["0.01", "0.9700", "mlp", "0.9600", "wins", "(margin",
                                 "+0.0100)"]
    (slow,) = _rows(out, store["slow"])  # the strongest of that run, and both that beat it
    assert " ".join(slow.split()).endswith(
        "0.9100 logistic_regression 0.9500 BEATEN by logistic_regression, mlp (margin -0.0400)")
    assert not _rows(out, store["trial"])  # trials are left out
    lines = out.splitlines()
    assert lines.index(fast) < lines.index(slow)  # newest first


def test_sort_by_the_main_metric_puts_the_best_first_in_its_direction(store, capsys):
    assert main(["runs", "image-classification", "--sort", "test_accuracy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out.index(_rows("\n".join(out), store["fast"])[0]) < out.index(
        _rows("\n".join(out), store["slow"])[0])
    assert main(["runs", "image-classification", "--sort", "test_accuracy ASC"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out.index(_rows("\n".join(out), store["slow"])[0]) < out.index(
        _rows("\n".join(out), store["fast"])[0])


def test_where_filters_on_params_and_limit_caps_the_rows(store, capsys):
    assert main(["runs", "image-classification", "--where",
                 "params.trainer.learning_rate = '0.001'"]) == 0
    out = capsys.readouterr().out
    assert _rows(out, store["slow"]) and not _rows(out, store["fast"])
    assert main(["runs", "image-classification", "--limit", "1"]) == 0
    assert "(1 run)" in capsys.readouterr().out


def test_all_pipelines_get_a_table_each(store, capsys):
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "image-classification (2 runs)" in out and "forecasting (1 run)" in out
    (forecast,) = _rows(out, store["forecast"])  # lower is better: ETS beats the model
    assert " ".join(forecast.split()).endswith("0.8000 ets 0.7000 BEATEN by ets (margin -0.1000)")


@pytest.mark.parametrize("args, message", [
    (["--where", "params.x === 'y'"], "the store refused the query"),
    (["--sort", "test_accuracy SIDEWAYS"], "expected METRIC [ASC|DESC]"),
])
def test_a_bad_filter_or_sort_is_a_usage_error(store, capsys, args, message):
    assert main(["runs", "image-classification", *args]) == 2
    assert message in capsys.readouterr().err
