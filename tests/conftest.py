"""Shared fixtures: every test runs in its own working directory with its own MLflow store.

Under CI (`CI=true`, as `.ci/run` runs), a test that would be skipped because a program it
needs is missing (espeak-ng, Chromium, PostgreSQL: `.ci/run` installs them) fails instead,
so a green CI never hides an untested pipeline.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

STRICT = os.environ.get("CI", "").lower() == "true"  # read before a fixture sets CI=1
MISSING_PROGRAM = ("not installed", "needs /usr/bin/", "no 'postgres' user")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if any(words in reason for words in MISSING_PROGRAM):
            report.outcome = "failed"
            report.longrepr = (f"CI=true and a program this test needs is missing: {reason} "
                               "(.ci/run installs it through scripts/setup.sh)")


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
