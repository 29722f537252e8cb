"""A shared test harness for building blocks, in the manner of KerasHub's `run_layer_test`."""

from __future__ import annotations

import inspect

import keras
import numpy as np


def run_layer_test(layer_cls, init_kwargs: dict, input_shape, expected_output_shape,
                   tmp_path, rtol: float = 1e-5):
    """Checks a layer's output shape, config round trip, training call and save/load.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: constructor arguments.
        input_shape: the full input shape, batch included; a list of shapes for a layer
            called with several positional inputs.
        expected_output_shape: the expected full output shape; a list of shapes for a
            layer that returns several outputs.
        tmp_path: a directory for the saved model.
    """
    several_in = isinstance(input_shape, list)
    shapes = input_shape if several_in else [input_shape]
    rng = np.random.default_rng(0)
    xs = [rng.uniform(size=s).astype("float32") for s in shapes]
    expected = (expected_output_shape if isinstance(expected_output_shape, list)
                else [expected_output_shape])

    def shapes_of(out):
        return [tuple(t.shape) for t in keras.tree.flatten(out)]

    def as_list(out):
        return [tuple(s) for s in (out if isinstance(out, (list, tuple))
                                   and isinstance(out[0], (list, tuple)) else [out])]

    layer = layer_cls(**init_kwargs)
    assert shapes_of(layer(*xs)) == [tuple(s) for s in expected]
    assert as_list(layer.compute_output_shape(*shapes)) == [tuple(s) for s in expected]
    assert shapes_of(layer(*xs, training=True)) == [tuple(s) for s in expected]

    config = layer.get_config()
    params = [p for p in inspect.signature(layer_cls.__init__).parameters
              if p not in ("self", "kwargs")]
    missing = [p for p in params if p not in config]
    assert not missing, f"{layer_cls.__name__}.get_config() lacks constructor args {missing}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config

    inputs = [keras.Input(shape=s[1:]) for s in shapes]
    model = keras.Model(inputs, layer_cls(**init_kwargs)(*inputs))
    before = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(model(xs))]
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    after = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(restored(xs))]
    for a, b in zip(after, before):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)
    return layer


def assert_manifest_matches_model(version_dir):
    """Checks that a manifest's signatures are the loaded SavedModel's real ones: every
    signature, input and output with its dtype and shape, and that each input has a kind."""
    import tensorflow as tf

    from suite import export

    manifest = export.read_manifest(version_dir)
    loaded = tf.saved_model.load(str(version_dir))
    assert set(manifest["signatures"]) == set(loaded.signatures)
    for name, fn in loaded.signatures.items():
        described = manifest["signatures"][name]
        _, kwargs = fn.structured_input_signature
        assert set(described["inputs"]) == set(kwargs)
        for key, spec in kwargs.items():
            assert described["inputs"][key]["dtype"] == spec.dtype.name
            assert described["inputs"][key]["shape"] == spec.shape.as_list()
            assert described["inputs"][key].get("kind"), f"{name}.{key} has no kind"
        assert set(described["outputs"]) == set(fn.structured_outputs)
        for key, spec in fn.structured_outputs.items():
            assert described["outputs"][key]["dtype"] == spec.dtype.name
            assert described["outputs"][key]["shape"] == spec.shape.as_list()
    default = manifest["signatures"][manifest["signature_name"]]
    assert manifest["inputs"] == default["inputs"]
    assert manifest["outputs"] == default["outputs"]


# Prediction must work from the export alone: these modules may not even be installed.
_BLOCKED = ("pipelines", "sklearn", "statsmodels", "sentencepiece", "mlflow")


def predict_without_training_code(*args: str, cwd=None):
    """Runs `suite predict ARGS` in a fresh Python where importing the pipelines, the
    training-only libraries and MLflow fails; returns the finished process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\n"
            f"for name in {_BLOCKED!r}:\n"
            "    sys.modules[name] = None  # `import name` now raises ImportError\n"
            "from suite.cli import main\n"
            "code = main(sys.argv[1:])\n"
            f"loaded = [m for m in {_BLOCKED!r} if sys.modules.get(m) is not None]\n"
            "assert not loaded, loaded\n"
            "sys.exit(code)\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code, "predict", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
