"""The run contract: a trained model is never lost, baselines are declared and reused,
task callbacks reach MLflow, and every failure ends the MLflow run."""

import keras
import mlflow
import numpy as np
import pytest

from pipelines.image_classification.config import ImageClassificationConfig
from pipelines.image_classification.pipeline import ImageClassificationPipeline
from suite import export
from suite.cli import main
from suite.config import ConfigError, load_config

TINY = ["trainer.epochs=2", "data.limit=200", "trainer.early_stopping_patience=0"]


def _pipeline(*overrides, cls=ImageClassificationPipeline):
    return cls(load_config(ImageClassificationConfig, overrides=[*TINY, *overrides]))


def _run(pipeline):
    """`pipeline.run()`, whose MLflow record must be complete."""
    result = pipeline.run()
    assert result.tracking_errors == []
    return result


def _runs():
    return mlflow.search_runs(experiment_names=["image-classification"])


def test_a_failure_after_training_keeps_the_model_and_a_rerun_restores_it(workdir, capsys,
                                                                          monkeypatch):
    def broken_figures(self, model, splits, predictions):
        raise RuntimeError("matplotlib broke")

    first = _pipeline()
    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="matplotlib broke"):
        patch.setattr(ImageClassificationPipeline, "figures", broken_figures)
        first.run()
    err = capsys.readouterr().err
    assert "the trained model is kept in .suite/runs/image-classification-" in err
    runs = _runs()
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FAILED"
    assert not (workdir / "saved_models").exists()
    checkpoints = list((workdir / ".suite" / "runs").glob("*/model.weights.h5"))
    assert len(checkpoints) == 1

    second = _pipeline()
    fit_calls = []
    original_fit = second.trainer.fit
    second.trainer.fit = lambda *a, **k: fit_calls.append(1) or original_fit(*a, **k)
    result = _run(second)
    assert result.restored and fit_calls == []                    # not trained again
    assert "Restored the trained model from" in capsys.readouterr().err
    runs = _runs()
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"  # the same run, continued
    assert runs.iloc[0]["run_id"] == result.run_id
    assert second.history == first.history and second.epochs == first.epochs  # the curves too
    assert export.read_manifest(result.export_dir)["metrics"] == result.metrics
    assert not list((workdir / ".suite" / "runs").iterdir())     # exported: nothing left to resume
    # the restored weights are the trained ones: the same test predictions
    np.testing.assert_array_equal(second.predictions["test"]["class_id"],
                                  first.predictions["test"]["class_id"])
    assert set(result.baselines_reused) == {"mlp", "logistic_regression"}


def _fail_once_after_training(monkeypatch):
    def broken_figures(self, model, splits, predictions):
        raise RuntimeError("matplotlib broke")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="matplotlib broke"):
        patch.setattr(ImageClassificationPipeline, "figures", broken_figures)
        _run(_pipeline())


def _counting_fits(pipeline):
    calls = []
    original_fit = pipeline.trainer.fit
    pipeline.trainer.fit = lambda *a, **k: calls.append(1) or original_fit(*a, **k)
    return calls


def test_a_rerun_restores_only_for_the_same_model_config(workdir, monkeypatch, capsys):
    _fail_once_after_training(monkeypatch)
    other = _pipeline("model.conv_dropout=0.2")
    fits = _counting_fits(other)
    assert not _run(other).restored and fits == [1]       # another model: trained

    # how the run is shown, executed, compared and exported do not change the model
    same = _pipeline("eval.baselines=none", "export.dir=elsewhere", "trainer.jit_compile=false")
    fits = _counting_fits(same)
    result = _run(same)
    assert result.restored and fits == []
    runs = _runs().set_index("run_id")
    assert runs.loc[result.run_id, "status"] == "FINISHED"   # the failed run, continued
    assert runs.loc[result.run_id, "params.eval.baselines"] == "all"  # as first logged
    assert runs.loc[result.run_id, "tags.resumed.eval.baselines"] == "none"
    assert (workdir / "elsewhere" / "image-classification" / "1" / "saved_model.pb").is_file()


def test_resume_false_trains_afresh_and_says_how_to_keep_the_model(workdir, monkeypatch,
                                                                    capsys):
    _fail_once_after_training(monkeypatch)
    capsys.readouterr()
    fresh = _pipeline("trainer.resume=false")
    fits = _counting_fits(fresh)
    assert not _run(fresh).restored and fits == [1]
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(ImageClassificationPipeline, "figures",
                      lambda *a: (_ for _ in ()).throw(RuntimeError("again")))
        _pipeline("trainer.resume=false").run()
    assert "run the same command again without --set trainer.resume=false" in \
        capsys.readouterr().err


def test_an_error_before_training_ends_the_mlflow_run_as_failed(workdir):
    (workdir / ".suite").write_text("a file where the state folder goes")
    with pytest.raises(OSError):
        _run(_pipeline())
    runs = _runs()
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FAILED"


def test_baselines_are_reused_when_only_the_model_changes(workdir, capsys):
    first = _run(_pipeline())
    assert first.baselines_reused == []
    second = _run(_pipeline("model.conv_dropout=0.2"))
    assert sorted(second.baselines_reused) == ["logistic_regression", "mlp"]
    for key in ("baseline_mlp_accuracy", "baseline_logistic_regression_accuracy"):
        assert second.metrics[key] == first.metrics[key]
    runs = _runs().set_index("run_id")
    assert runs.loc[first.run_id, "tags.baselines_computed"] == "logistic_regression,mlp"
    assert runs.loc[second.run_id, "tags.baselines_reused"] == "logistic_regression,mlp"
    assert runs.loc[second.run_id, "tags.baseline.mlp"] == f"reused from run {first.run_id}"
    # a change the MLP depends on trains it again; logistic regression is still reused
    third = _run(_pipeline("model.conv_dropout=0.2", "model.mlp_hidden=32"))
    assert third.baselines_reused == ["logistic_regression"]


def test_eval_baselines_selects_them(workdir, capsys):
    result = _run(_pipeline("eval.baselines=none"))
    assert set(result.metrics) == {"test_accuracy", "test_macro_f1"}
    assert result.baseline_value is None
    result = _run(_pipeline("eval.baselines=logistic_regression"))
    assert "baseline_logistic_regression_accuracy" in result.metrics
    assert "baseline_mlp_accuracy" not in result.metrics
    with pytest.raises(ConfigError, match=r"'eval.baselines': got 'mlp,knn', expected all, "
                                          r"none or a comma-separated list of "
                                          r"logistic_regression, mlp"):
        _pipeline("eval.baselines=mlp,knn")
    assert main(["run", "image-classification", "--set", "eval.baselines=knn"]) == 2
    assert "'eval.baselines': got 'knn'" in capsys.readouterr().err


def test_a_failing_baseline_is_left_out_and_reported(workdir, capsys, monkeypatch):
    def broken(self, splits, workdir):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(ImageClassificationPipeline, "_fit_logistic_regression", broken)
    result = _run(_pipeline())
    assert result.baselines_failed == ["logistic_regression"]
    assert "baseline_logistic_regression_accuracy" not in result.metrics
    assert "baseline logistic_regression failed and is left out (LinAlgError: singular " \
           "matrix)" in capsys.readouterr().err
    run = _runs().iloc[0]
    assert run["tags.baseline.logistic_regression"] == "failed: LinAlgError: singular matrix"
    assert run["status"] == "FINISHED"


class _Probe(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["val_probe"] = 10.0 + epoch


class _ProbedPipeline(ImageClassificationPipeline):
    def callbacks(self, info, splits):
        return [_Probe()]


def test_task_callbacks_log_epoch_metrics_to_mlflow(workdir):
    result = _run(_pipeline(cls=_ProbedPipeline))
    history = mlflow.MlflowClient().get_metric_history(result.run_id, "val_probe")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 10.0), (1, 11.0)]


def test_a_baseline_that_beats_the_model_is_said_everywhere(workdir, capsys):
    """A one-epoch CNN on 140 digits against logistic regression: a result, not an error."""
    result = _run(_pipeline("trainer.epochs=1", "eval.baselines=logistic_regression"))
    assert result.tracking_errors == []
    lr = result.metrics["baseline_logistic_regression_accuracy"]
    assert lr > result.metrics["test_accuracy"]
    assert result.beaten_by == ["logistic_regression"]
    assert result.baseline_metric == "baseline_logistic_regression_accuracy"
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert warnings == [
        f"[image-classification] WARNING: baseline logistic_regression ({lr:.4f}) beats the "
        f"model on test_accuracy: the model has {result.metrics['test_accuracy']:.4f} "
        "(higher is better)"]

    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.tags["beaten_by"] == "logistic_regression"
    assert run.data.tags["strongest_baseline"] == "logistic_regression"
    summary = export.read_manifest(result.export_dir)["summary"]
    assert summary["beaten_by"] == ["logistic_regression"]
    assert summary["strongest_baseline_value"] == lr and summary["margin"] < 0

    import dataclasses

    from suite.cli import _summary

    metrics = {"test_accuracy": 0.99, "baseline_logistic_regression_accuracy": 0.9}
    winner = dataclasses.replace(result, metrics=metrics,
                                 comparison=_pipeline().compare(metrics))
    table = _summary([result, winner], []).splitlines()
    beaten_row, winning_row = (line for line in table if line.startswith("image-"))
    assert "BEATEN by logistic_regression (margin -" in beaten_row
    assert "wins (margin +" in winning_row and "BEATEN" not in winning_row
    assert table[-1] == "BEATEN: a baseline scores better than the model in image-classification"


def test_the_mlflow_run_holds_the_dataset_and_a_one_line_description(workdir, tmp_path):
    from PIL import Image

    folder = tmp_path / "pets"
    for label, shade in (("cats", 40), ("dogs", 200)):
        (folder / label).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (8, 8), shade + i).save(folder / label / f"{i}.png")
    for source, name in ((None, "scikit-learn digits"), (folder, "pets")):
        extra = [f"data.path={source}", "data.image_size=8"] if source else []
        pipeline = _pipeline("eval.baselines=logistic_regression", *extra)
        result = _run(pipeline)
        run = mlflow.MlflowClient().get_run(result.run_id)
        (dataset,) = run.inputs.dataset_inputs
        info = export.read_manifest(result.export_dir)
        assert dataset.dataset.name == name
        assert dataset.dataset.digest == info["data_fingerprint"]
        assert (dataset.dataset.source_type, str(folder) in dataset.dataset.source) == (
            ("local", True) if source else ("code", False))
        tags = {t.key: t.value for t in dataset.tags}
        assert {k: tags[k] for k in ("train", "val", "test")} == {
            k: str(v) for k, v in pipeline.splits.info.sizes.items()}
        description = run.data.tags["mlflow.note.content"]
        assert "\n" not in description
        assert description.startswith(result.comparison.line() + f" · data: {name} (train ")
        assert f"fingerprint {info['data_fingerprint']}) · " in description
        assert " UTC" in description and " s, finished " in description

