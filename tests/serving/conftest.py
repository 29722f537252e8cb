"""Shared fixtures: one tiny export per registered pipeline, trained once per session, and
one `suite serve` process over them (plus a hand-made model with every dtype), started
on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serving.client import Served
from tests.tiny import train_tiny_exports

ROOT = Path(__file__).resolve().parents[2]


class TinyExports:
    """Each pipeline's tiny export, trained on first use and kept for the session."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._done: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._done:
            import mlflow

            previous = mlflow.get_tracking_uri()
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(self.workdir)
                uri = f"sqlite:///{self.workdir / 'mlflow.db'}"
                patch.setenv("MLFLOW_TRACKING_URI", uri)
                patch.setenv("CI", "1")
                mlflow.set_tracking_uri(uri)
                try:
                    self._done.update(train_tiny_exports(self.workdir / "saved_models",
                                                         self.workdir, [name]))
                finally:
                    while mlflow.active_run():
                        mlflow.end_run()
                    mlflow.set_tracking_uri(previous)
        return self._done[name]


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory) -> TinyExports:
    """`tiny_exports[pipeline]`: the version directory of the pipeline's tiny export."""
    return TinyExports(tmp_path_factory.mktemp("tiny-runs"))


def write_echo_model(path: Path) -> Path:
    """A hand-made SavedModel with inputs of several dtypes and known answers.

    `serving_default(text: string[n], numbers: float32[n, 2], count: int32[n])` returns
    `text` (the strings as given), `text_bytes` (the same, sent as base64 by the `_bytes`
    rule) and `total` (`sum(numbers) * count`); `spin(steps: int32[])` runs `steps` small
    matrix products, a request that takes as long as asked.
    """
    import tensorflow as tf

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([None, 2], tf.float32, name="numbers"),
                                      tf.TensorSpec([None], tf.int32, name="count")])
        def serve(self, text, numbers, count):
            return {"text": text, "text_bytes": text,
                    "total": tf.reduce_sum(numbers, axis=1) * tf.cast(count, tf.float32)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="steps")])
        def spin(self, steps):
            m = tf.eye(64) * 0.5

            def body(i, acc):
                return i + 1, tf.linalg.matmul(acc, m) + tf.eye(64)

            _, acc = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), tf.eye(64)))
            return {"trace": tf.linalg.trace(acc)}

    module = Echo()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.serve.get_concrete_function(),
        "spin": module.spin.get_concrete_function()})
    return path


@pytest.fixture(scope="session")
def model_root(tmp_path_factory, tiny_exports) -> Path:
    """A model root holding the image-classification and translation tiny exports as
    version 1 of their names, the echo model, and things the server must ignore."""
    root = tmp_path_factory.mktemp("models")
    for name in ("image-classification", "translation"):
        shutil.copytree(tiny_exports[name], root / name / "1")
    write_echo_model(root / "echo" / "1")
    (root / "empty-model").mkdir()
    (root / "echo" / "7").mkdir()  # no saved_model.pb: not a version
    (root / "echo" / "notes").mkdir()
    (root / "README.txt").write_text("not a model\n")
    (root / ".hidden").mkdir()
    return root


def start_server(model_root: Path, logdir: Path, *args: str) -> Served:
    """Starts `suite serve` in a subprocess on free loopback ports; waits until it serves."""
    out, err = logdir / "serve.out", logdir / "serve.err"
    process = subprocess.Popen(
        [sys.executable, "-m", "suite.cli", "serve", "--model-dir", str(model_root),
         "--rest-port", "0", "--grpc-port", "0", "--poll-seconds", "0.2", *args],
        stdout=out.open("w"), stderr=err.open("w"), cwd=logdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines()
        if process.poll() is not None:
            pytest.fail(f"suite serve exited with {process.returncode}:\n{err.read_text()}")
        if len(lines) >= 3 and lines[2].startswith("gRPC"):
            rest = int(lines[1].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            grpc_port = int(lines[2].rsplit(":", 1)[1])
            return Served(process, rest, grpc_port, model_root, out, err)
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"suite serve did not start in 180 s:\n{err.read_text()}")


def stop_server(served: Served) -> int:
    """Sends SIGTERM and returns the exit code."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(60)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()
    return served.process.returncode


@pytest.fixture(scope="session")
def served(model_root, tmp_path_factory):
    """`suite serve` over `model_root`, for the whole session."""
    server = start_server(model_root, tmp_path_factory.mktemp("serve"),
                          "--max-request-mb", "1")
    yield server
    assert stop_server(server) == 0, server.err.read_text()
