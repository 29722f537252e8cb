"""`suite ui`: the MLflow UI over the runs' store, the address it prints, its errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.request

import matplotlib.figure
import pytest

from suite.cli import main
from suite.experiments import ui
from suite.tracking import Tracker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _no_process(*args, **kwargs):
    raise AssertionError(f"no process may be started here: {args}")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.fixture
def run(workdir) -> Tracker:
    """The working directory's store, with one image-classification run and its figure."""
    figure = matplotlib.figure.Figure()
    figure.add_subplot().plot([3, 2, 1])
    with Tracker("image-classification") as tracker:
        tracker.start(run_name="cnn")
        tracker.log_params({"trainer.learning_rate": 0.001})
        tracker.log_metrics({"test_accuracy": 0.9})
        tracker.log_figure(figure, "learning_curves")
    assert not tracker.errors
    return tracker


def test_serve_prints_the_experiment_url_and_stops_on_sigterm(run, monkeypatch, capsys):
    printed = threading.Event()
    seen = {}
    print_experiment = ui._print_experiment

    def print_and_tell(pipeline, uri, base_url, api_url):
        print_experiment(pipeline, uri, base_url, api_url)
        seen["base_url"] = base_url
        printed.set()

    def look_then_stop():
        printed.wait()
        try:
            if "base_url" in seen:
                base = seen["base_url"]
                seen["page"] = _get(f"{base}/")
                seen["figures"] = json.loads(_get(
                    f"{base}/ajax-api/2.0/mlflow/artifacts/list?run_id={run.run_id}"
                    "&path=figures"))
                seen["png"] = _get(f"{base}/get-artifact?path=figures/learning_curves.png"
                                   f"&run_uuid={run.run_id}")
        except Exception as e:
            seen["error"] = e
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ui, "_print_experiment", print_and_tell)
    looker = threading.Thread(target=look_then_stop)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignored once serve() returns
    try:
        looker.start()
        code = ui.serve("image-classification", port=0)
        printed.set()
        looker.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = capsys.readouterr().out

    assert code == 0, out
    assert "error" not in seen, seen.get("error")
    url = re.search(r"^image-classification: (\S+)$", out, re.M).group(1)
    assert url == (f"{seen['base_url']}/#/experiments/{run.experiment_id}"
                   "?workflowType=machine_learning")
    assert b"<html" in seen["page"].lower()
    assert [f["path"] for f in seen["figures"]["files"]] == ["figures/learning_curves.png"]
    assert seen["png"].startswith(PNG_MAGIC)
    assert out.rstrip().endswith("MLflow UI stopped")
    with pytest.raises(OSError):
        _get(f"{seen['base_url']}/health")


@pytest.mark.parametrize("experiment_id, line", [
    ("7", "image-classification: https://mlflow.example.com/#/experiments/7"
          "?workflowType=machine_learning"),
    (None, "image-classification has no runs in https://mlflow.example.com yet; "
           "the UI: https://mlflow.example.com"),
])
def test_a_tracking_server_uri_starts_nothing(monkeypatch, capsys, experiment_id, line):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    monkeypatch.setattr(subprocess, "Popen", _no_process)
    asked = []
    monkeypatch.setattr(ui, "experiment_id_of",
                        lambda uri, name: asked.append((uri, name)) or experiment_id)

    assert ui.serve("image-classification", port=0) == 0

    assert asked == [("https://mlflow.example.com", "image-classification")]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("MLflow tracking server https://mlflow.example.com ")
    assert out[1:] == [line]


def test_unknown_pipeline_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "Popen", _no_process)

    assert main(["ui", "no-such-pipeline", "--port", "0"]) == 2

    err = capsys.readouterr().err
    assert "unknown pipeline 'no-such-pipeline'" in err
    assert "image-classification" in err


def test_a_port_in_use_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "Popen", _no_process)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        assert main(["ui", "image-classification", "--port", str(port)]) == 2

    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err
    assert "--port" in err


def test_a_server_beyond_loopback_accepts_its_own_address():
    assert ui._security_options("127.0.0.1", 5000) == []
    options = ui._security_options("192.168.1.7", 5000)
    hosts = options[options.index("--allowed-hosts") + 1].split(",")
    origins = options[options.index("--cors-allowed-origins") + 1].split(",")
    assert {"192.168.1.7:5000", "localhost:*"} <= set(hosts)
    assert origins == ["http://192.168.1.7:5000"]
