import keras
import numpy as np
import pytest

from suite.blocks import WindowScaler


def test_loc_is_the_last_value_and_scale_the_mean_absolute_step():
    x = np.array([[[1.0], [3.0], [2.0], [6.0]]], "float32")
    scaled, loc, scale = (keras.ops.convert_to_numpy(t) for t in WindowScaler()(x))
    assert loc.tolist() == [[[6.0]]]
    np.testing.assert_allclose(scale, [[[(2 + 1 + 4) / 3]]], rtol=1e-6)
    np.testing.assert_allclose(scaled[0, :, 0], (np.array([1, 3, 2, 6]) - 6) / (7 / 3), rtol=1e-6)


def test_a_flat_window_gets_a_positive_floor():
    _, _, scale = WindowScaler(epsilon=1e-3)(np.full((1, 5, 1), 400.0, "float32"))
    assert keras.ops.convert_to_numpy(scale).item() == pytest.approx(1e-3 * 401.0)


def test_shifting_and_scaling_the_input_leaves_the_scaled_window_unchanged():
    x = np.random.default_rng(0).normal(size=(3, 8, 2)).astype("float32")
    a = keras.ops.convert_to_numpy(WindowScaler()(x)[0])
    b = keras.ops.convert_to_numpy(WindowScaler()(x * 50 + 1000)[0])
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_config_round_trip_and_save_load(tmp_path):
    layer = WindowScaler(epsilon=0.01)
    assert WindowScaler.from_config(layer.get_config()).get_config() == layer.get_config()
    inputs = keras.Input((6, 1))
    scaled, loc, scale = WindowScaler(epsilon=0.01)(inputs)
    model = keras.Model(inputs, scaled * scale + loc)
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 6, 1)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x), x, rtol=1e-5,
                               atol=1e-5)
