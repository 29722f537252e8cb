"""Shared fixtures: every test runs in its own working directory with its own MLflow store."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    """A fresh working directory: saved_models/, mlflow.db and .suite/ land here."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        import mlflow

        mlflow.set_tracking_uri(uri)  # the suite sets it process-wide; start each test clean
    except ImportError:
        pass
    monkeypatch.setenv("CI", "1")  # quiet Keras progress output
    yield tmp_path
    try:
        import mlflow

        while mlflow.active_run():
            mlflow.end_run()
    except ImportError:
        pass
