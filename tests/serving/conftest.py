"""Shared fixtures: one tiny export per registered pipeline, trained once per session, and
one `suite serve` process over them (plus a hand-made model with every dtype), started
on free loopback ports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.serving.client import start_server, stop_server
from tests.tiny import train_tiny_exports


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


@pytest.fixture(scope="session")
def served(model_root, tmp_path_factory):
    """`suite serve` over `model_root`, for the whole session."""
    server = start_server(model_root, tmp_path_factory.mktemp("serve"),
                          "--max-request-mb", "1")
    yield server
    assert stop_server(server) == 0, server.err.read_text()
