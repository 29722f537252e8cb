import contextlib

import mlflow
import pytest
from matplotlib.figure import Figure

from suite.tracking import Tracker


def _figure():
    figure = Figure()
    figure.subplots().plot([1, 2, 3])
    return figure


def test_a_run_holds_params_metrics_tags_figures_and_artifacts(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"pb")
    with Tracker("toy") as tracker:
        run_id = tracker.start(run_name="r1")
        tracker.log_params({"trainer.epochs": 3, "data.limit": None})
        for epoch, loss in enumerate([0.9, 0.5]):
            tracker.log_metrics({"loss": loss, "val_loss": loss + 0.1}, step=epoch)
        tracker.log_metrics({"test_accuracy": 0.97, "test_bad": float("nan")})
        tracker.set_tags({"data_fingerprint": "abc", "git_commit": None})
        tracker.log_figure(_figure(), "learning_curves")
        tracker.log_artifacts(tmp_path / "model", "saved_model")
    assert tracker.errors == []

    runs = mlflow.search_runs(experiment_names=["toy"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["run_id"] == run_id and run["status"] == "FINISHED"
    assert run["params.trainer.epochs"] == "3" and run["params.data.limit"] == "None"
    assert run["metrics.test_accuracy"] == 0.97
    assert "metrics.test_bad" not in runs.columns
    assert run["tags.data_fingerprint"] == "abc"
    history = mlflow.MlflowClient().get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5)]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "figures")}
    assert artifacts == {"figures/learning_curves.png"}
    saved = mlflow.MlflowClient().list_artifacts(run_id, "saved_model")
    assert [a.path for a in saved] == ["saved_model/saved_model.pb"]


def test_an_unreachable_store_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    tracker = Tracker("toy", uri=f"sqlite:///{blocker}/sub/mlflow.db")
    assert tracker.start() is None
    tracker.log_params({"a": 1})
    tracker.log_metrics({"b": 2.0})
    tracker.end()
    assert len(tracker.errors) == 1
    assert "MLflow could not start a run" in tracker.errors[0]


def test_a_failure_mid_run_still_closes_the_run(monkeypatch):
    tracker = Tracker("toy")
    run_id = tracker.start()

    def refuse(*args, **kwargs):
        raise RuntimeError("store went away")

    monkeypatch.setattr(mlflow, "log_params", refuse)
    tracker.log_params({"a": 1})
    tracker.end()
    assert "store went away" in tracker.errors[0]
    assert mlflow.active_run() is None
    assert mlflow.get_run(run_id).info.status == "FAILED"
    assert Tracker("toy").start() is not None  # the next run in this process can start


@pytest.mark.parametrize("raised, status", [(None, "FINISHED"), (ValueError, "FAILED"),
                                            (KeyboardInterrupt, "KILLED")])
def test_a_run_used_as_a_context_ends_by_how_its_block_ended(raised, status):
    tracker = Tracker("toy")
    run_id = tracker.start()
    with pytest.raises(raised) if raised else contextlib.nullcontext():
        with tracker:
            if raised:
                raise raised()
    assert mlflow.get_run(run_id).info.status == status
    assert mlflow.active_run() is None
