"""A shared test harness for building blocks, in the manner of KerasHub's `run_layer_test`."""

from __future__ import annotations

import inspect

import keras
import numpy as np


def run_layer_test(layer_cls, init_kwargs: dict, input_shape: tuple, expected_output_shape,
                   tmp_path, rtol: float = 1e-5):
    """Checks a layer's output shape, config round trip, training call and save/load.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: constructor arguments.
        input_shape: the full input shape, batch included.
        expected_output_shape: the expected full output shape.
        tmp_path: a directory for the saved model.
    """
    x = np.random.default_rng(0).uniform(size=input_shape).astype("float32")

    layer = layer_cls(**init_kwargs)
    y = layer(x)
    assert tuple(y.shape) == tuple(expected_output_shape)
    assert tuple(layer.compute_output_shape(input_shape)) == tuple(expected_output_shape)
    assert tuple(layer(x, training=True).shape) == tuple(expected_output_shape)

    config = layer.get_config()
    params = [p for p in inspect.signature(layer_cls.__init__).parameters
              if p not in ("self", "kwargs")]
    missing = [p for p in params if p not in config]
    assert not missing, f"{layer_cls.__name__}.get_config() lacks constructor args {missing}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config

    inputs = keras.Input(shape=input_shape[1:])
    model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))
    expected = keras.ops.convert_to_numpy(model(x))
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), expected, rtol=rtol,
                               atol=1e-6)
    return layer
