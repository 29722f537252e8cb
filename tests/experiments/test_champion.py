"""The champion rule: a better run moves the alias, a worse one does not, a run on other
data does not compete; and `suite champion` says who holds it and why."""

from __future__ import annotations

import mlflow
import pytest

from suite.cli import main
from suite.experiments.champion import ALIAS, Candidate, champion_version, decide, register


def claim(value, fingerprint="data-a", higher=True, metric="test_accuracy"):
    return Candidate(metric=metric, value=value, higher_is_better=higher,
                     data_fingerprint=fingerprint)


@pytest.mark.parametrize("new, current, wins, why", [
    (claim(0.9), None, True, "first version"),
    (claim(0.95), claim(0.9), True, "0.9500 beats version 1's 0.9000 (higher is better)"),
    (claim(0.85), claim(0.9), False, "does not beat"),
    (claim(0.9), claim(0.9), False, "does not beat"),  # a tie keeps the champion
    (claim(0.99, fingerprint="data-b"), claim(0.9), False, "other data"),
    (claim(0.2, higher=False, metric="test_cer"), claim(0.3, higher=False, metric="test_cer"),
     True, "lower is better"),
    (claim(0.4, higher=False, metric="test_cer"), claim(0.3, higher=False, metric="test_cer"),
     False, "does not beat"),
    (claim(float("nan")), claim(0.9), False, "no finite test_accuracy"),
    (claim(0.5), claim(None), True, "has no finite"),
])
def test_the_rule(new, current, wins, why):
    took, reason = decide(new, current, "1" if current else None)
    assert took is wins
    assert why in reason


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("image-classification")
    return mlflow.MlflowClient(uri)


def echo(model_input: list[str]) -> list[str]:
    return model_input


def _register(client, candidate: Candidate, metrics=None):
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics or {})
        model_uri = mlflow.pyfunc.log_model(name="model", python_model=echo,
                                            pip_requirements=[]).model_uri
    return register(client, "image-classification", model_uri, run.info.run_id, candidate)


def test_registering_moves_the_alias_only_for_a_better_run_on_the_same_data(store, capsys):
    first = _register(store, claim(0.90))
    assert first.champion and first.version == "1"
    worse = _register(store, claim(0.85))
    assert not worse.champion and worse.champion_version == "1"
    other_data = _register(store, claim(0.99, fingerprint="data-b"))
    assert not other_data.champion
    better = _register(store, claim(0.95), {"test_accuracy": 0.95, "baseline_mlp_accuracy": 0.97,
                                            "baseline_logistic_regression_accuracy": 0.93})
    assert better.champion and better.version == "4"
    assert str(champion_version(store, "image-classification").version) == "4"
    decision = store.get_model_version("image-classification", "3").tags["champion_decision"]
    assert decision.startswith("did not take the champion alias") and "other data" in decision

    assert main(["champion", "image-classification"]) == 0
    out = capsys.readouterr().out
    assert "champion is version 4" in out and "test_accuracy 0.9500 on data data-a" in out
    assert "beats version 1's 0.9000" in out
    assert ("against its baselines: test_accuracy 0.9500 vs strongest baseline mlp 0.9700: "
            "BEATEN by mlp (margin -0.0200)") in out  # the champion, and still beaten
    assert "[mlp 0.9700: BEATEN by mlp (margin -0.0200)]" in out
    assert f"models:/image-classification@{ALIAS}" in out


def test_champion_of_a_pipeline_without_versions(store, capsys):
    assert main(["champion", "forecasting"]) == 0
    assert "no champion" in capsys.readouterr().out


def test_serving_from_an_empty_registry_says_so(store, tmp_path, capsys):
    assert main(["serve", "--from-registry", "--model-dir", str(tmp_path / "champions")]) == 1
    assert "no champions in the registry" in capsys.readouterr().err
