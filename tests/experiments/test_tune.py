"""`suite tune`: trials as nested runs, a best config `suite run --config` accepts, resume,
and clear errors for a bad search space."""

from __future__ import annotations

import mlflow
import pytest

from suite.cli import main
from suite.pipeline import Pipeline
from tests.tiny import tiny_run_args

SPACE = """
[trainer]
learning_rate = { min = 1e-4, max = 1e-2, sampling = "log" }
batch_size = [16, 32]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    (tmp_path / "space.toml").write_text(SPACE)
    return tmp_path


def _runs(workdir, kind: str):
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("image-classification")
    return client.search_runs([experiment.experiment_id], f"tags.run_kind = '{kind}'")


def test_two_trials_nest_under_one_parent_and_the_best_config_reruns(workdir, capsys,
                                                                    monkeypatch):
    tiny = tiny_run_args("image-classification", workdir)
    args = ["tune", "image-classification", "--space", "space.toml", *tiny,
            "--out", "best.toml", "--trials", "2"]
    fit, calls = Pipeline.fit, []

    def interrupted_second_trial(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fit(self, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(Pipeline, "fit", interrupted_second_trial)
        assert main(args) == 130
    assert not (workdir / "best.toml").exists()
    assert main(args) == 0  # resumes: the first trial is not run again
    out = capsys.readouterr().out
    assert "tuning finished: 2 trial(s)" in out and "best.toml" in out

    (parent,) = _runs(workdir, "tuning")
    trials = [t for t in _runs(workdir, "trial") if t.info.status == "FINISHED"]
    assert len(trials) == 2 and len({t.data.tags["trial_id"] for t in trials}) == 2
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent.info.run_id}
    assert all("val_accuracy" in t.data.metrics and not any(
        k.startswith("test_") for k in t.data.metrics) for t in trials)  # never the test split
    assert {t.data.params["trainer.batch_size"] in ("16", "32") for t in trials} == {True}
    assert parent.data.params["tune.algorithm"] == "random"
    assert "test_accuracy" in parent.data.metrics  # the best config's, reported once
    (final,) = _runs(workdir, "run")
    assert final.data.tags["mlflow.parentRunId"] == parent.info.run_id

    assert main(args) == 0  # a finished tuning reports its result without training again
    assert "its test metric: test_accuracy" in capsys.readouterr().out
    assert len(_runs(workdir, "run")) == 1 and len(_runs(workdir, "trial")) == 3

    best = (workdir / "best.toml").read_text()
    assert "learning_rate = " in best and "batch_size = " in best
    assert main(["run", "image-classification", "--config", "best.toml"]) == 0


@pytest.mark.parametrize("space, message", [
    ("[trainer]\nlearning_rat = [0.1]\n", "unknown"),
    ("[trainer]\nlearning_rate = { min = 1e-4, max = 100.0 }\n", "learning_rate"),
    ("[trainer]\nlearning_rate = { min = 0.0, max = 0.1, sampling = 'log' }\n", "min > 0"),
    ("[trainer]\nepochs = 5\n", "a fixed value belongs in --config or --set"),
    ("[trainer]\noptimizer = ['adam', 'adagrad']\n", "optimizer"),
    ("[trainer\n", "not valid TOML"),
    ("[model]\nfilters = [[16], [32]]\n", "choices must be numbers, strings or booleans"),
    ("", "no keys to search"),
])
def test_a_bad_space_is_refused_before_any_run(workdir, capsys, space, message):
    (workdir / "space.toml").write_text(space)
    assert main(["tune", "image-classification", "--space", "space.toml"]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "mlflow.db").exists()
    assert not (workdir / ".suite").exists()


@pytest.mark.parametrize("algorithm", ["hyperband", "bayesian"])
def test_the_other_algorithms_finish_and_write_a_best_config(workdir, capsys, algorithm):
    tiny = tiny_run_args("image-classification", workdir)
    assert main(["tune", "image-classification", "--space", "space.toml", *tiny,
                 "--set", "trainer.epochs=3", "--trials", "2", "--algorithm", algorithm,
                 "--out", "best.toml"]) == 0
    assert "tuning finished: 2 trial(s)" in capsys.readouterr().out
    trials = _runs(workdir, "trial")
    assert len(trials) == 2
    if algorithm == "hyperband":  # its brackets set the epochs, up to the base config's
        assert {int(t.data.params["trainer.epochs"]) for t in trials} <= {1, 2, 3}
    assert "learning_rate = " in (workdir / "best.toml").read_text()


def test_segmentation_tunes_with_balanced_class_weights(workdir, capsys):
    """The class weights are learned from the training masks that every trial loads."""
    from tests.pipelines.test_image_segmentation import TINY

    assert main(["tune", "image-segmentation", "--space", "space.toml", *TINY,
                 "--set", "model.class_weights=balanced", "--out", "best.toml",
                 "--trials", "1"]) == 0
    assert "tuning finished: 1 trial(s)" in capsys.readouterr().out


def test_retrieval_tunes_on_a_folder_without_labels_on_its_validation_loss(workdir, capsys):
    """A flat folder has no validation precision: the trials are scored on val_loss."""
    from tests.pipelines.test_document_retrieval import TINY, topic_folder

    flat = workdir / "flat"
    flat.mkdir()
    for path in topic_folder(workdir / "topics", per_topic=15).glob("*/*.txt"):
        (flat / f"{path.parent.name}-{path.name}").write_text(path.read_text())
    assert main(["tune", "document-retrieval", "--space", "space.toml", "--data", str(flat),
                 *TINY, "--out", "best.toml", "--trials", "1"]) == 0
    out = capsys.readouterr().out
    assert "best val_loss " in out and "nan" not in out.lower()
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    experiment = client.get_experiment_by_name("document-retrieval")
    (trial,) = client.search_runs([experiment.experiment_id], "tags.run_kind = 'trial'")
    assert trial.data.metrics["best_val_loss"] > 0


def test_the_best_config_file_reads_back_to_the_same_config(tmp_path):
    from suite import registry
    from suite.config import flatten, load_config
    from suite.experiments.tune import write_toml

    cls = registry.get("speech-to-text")  # tuples, booleans, floats and strings
    config = load_config(cls.config_cls, overrides=[
        "model.conv_filters=16,8", "model.bidirectional=false", "trainer.learning_rate=3e-4",
        "data.test_accent=en-us", "data.speed=120,180"])
    path = tmp_path / "best.toml"
    write_toml(config, path)
    assert flatten(load_config(cls.config_cls, path)) == flatten(config)
    assert not list(tmp_path.glob(".*.partial"))
