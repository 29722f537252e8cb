"""Every registered pipeline's run has the same shape (docs/experiments.md, "What MLflow holds"),
and its MLflow model loads back through pyfunc and predicts its own input example."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from suite import registry
from suite.cli import main
from suite.config import flatten, load_config
from suite.experiments import champion
from suite.experiments.champion import ALIAS
from suite.experiments.savedmodel_pyfunc import column_array
from suite.export import read_manifest
from suite.serving.servable import Servable
from tests.tiny import tiny_run_args

TAGS = ("pipeline", "git_commit", "data_fingerprint", "data_source", "suite_version",
        "baselines_reused", "baselines_computed", "export_dir", "run_kind",
        "strongest_baseline", "mlflow.note.content")


@pytest.mark.slow
@pytest.mark.parametrize("name", registry.names())
def test_a_run_has_the_shared_shape_and_its_model_loads_through_pyfunc(name, tmp_path,
                                                                        monkeypatch):
    cls = registry.get(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    simplest = cls().baselines()[0].name  # declared simplest first: the cheapest to fit
    args = tiny_run_args(name, tmp_path)[:-2] + ["--set", f"eval.baselines={simplest}"]
    assert main(["run", name, *args]) == 0

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name(name)
    (run,) = client.search_runs([experiment.experiment_id])
    data = run.data

    # params: the resolved, flattened config, every key of it
    assert set(data.params) == set(flatten(load_config(cls.config_cls)))
    # per-epoch metrics under the shared names, test and baseline metrics by the scheme
    for epoch_metric in ("loss", "val_loss"):
        assert len(client.get_metric_history(run.info.run_id, epoch_metric)) >= 1
    assert f"test_{cls.main_metric}" in data.metrics
    assert f"baseline_{simplest}_{cls.main_metric}" in data.metrics
    # tags
    missing = [t for t in TAGS if t not in data.tags]
    assert not missing, f"{name}: tags missing {missing}"
    assert data.tags["run_kind"] == "run" and data.tags["pipeline"] == name
    assert data.tags["strongest_baseline"] == simplest  # the only one selected
    assert data.tags["mlflow.note.content"].startswith(f"test_{cls.main_metric} ")
    # the data as a dataset input, its digest the fingerprint
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.digest == data.tags["data_fingerprint"]
    # artifacts: figures, reports and the export, each under its folder
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "saved_model"} <= top <= {"figures", "reports", "saved_model"}
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/learning_curves.png" in figures
    assert all(path.endswith(".png") for path in figures)
    export = {a.path for a in client.list_artifacts(run.info.run_id, "saved_model")}
    assert {"saved_model/saved_model.pb", "saved_model/suite.json"} <= export

    # the MLflow model: registered, champion (the first version), loads and predicts
    version = client.get_model_version_by_alias(name, ALIAS)
    assert version.run_id == run.info.run_id
    model = mlflow.pyfunc.load_model(f"models:/{name}@{ALIAS}")
    signature = read_manifest(data.tags["export_dir"])["signatures"]["serving_default"]
    assert set(model.metadata.get_input_schema().input_names()) == set(signature["inputs"])
    assert set(model.metadata.get_output_schema().input_names()) == set(signature["outputs"])
    example = model.input_example
    outputs = model.predict(example)
    rows = len(example) if hasattr(example, "columns") else len(next(iter(example.values())))
    assert outputs and all(len(np.asarray(v)) == rows for v in outputs.values())

    # `suite serve --from-registry` fetches the champion into the serving layout
    own, stale = tmp_path / "champions" / name / "99", tmp_path / "champions" / name / "0"
    own.mkdir(parents=True)  # a user's own export there is left alone
    stale.mkdir()
    (stale / champion.FETCHED).write_text("models:/old\n")  # a former champion goes
    fetched = champion.fetch(client, [name], tmp_path / "champions",
                             f"sqlite:///{tmp_path}/mlflow.db")
    assert own.is_dir() and not stale.exists()
    assert fetched[name] == tmp_path / "champions" / name / str(version.version)
    served = Servable(name, int(version.version), fetched[name])
    feeds = ({c: column_array(example[c]) for c in example.columns}
             if hasattr(example, "columns") else dict(example))
    answer = served.predict("serving_default", feeds)
    assert set(answer) == set(outputs)
