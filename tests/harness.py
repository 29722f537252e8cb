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
