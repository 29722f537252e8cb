import keras
import numpy as np
import pytest

from suite.blocks import StackedDenoisingAutoEncoder
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs", [
    {"hidden": (8, 6), "code_dim": 3, "seed": 1},
    {"hidden": (), "code_dim": 2, "corruption": "masking", "corruption_rate": 0.4,
     "output_activation": "sigmoid"},
    {"hidden": (5,), "code_dim": 2, "corruption": "gaussian", "corruption_rate": 0.1,
     "code_noise": 0.5, "output_activation": "linear", "activation": "tanh"},
])
def test_layer_contract(kwargs, tmp_path):
    run_layer_test(StackedDenoisingAutoEncoder, kwargs, (4, 12), (4, 12), tmp_path)


def test_codes_and_softmax_reconstruction():
    sdae = StackedDenoisingAutoEncoder(hidden=(16, 8), code_dim=2, seed=0)
    x = np.random.default_rng(0).uniform(size=(5, 20)).astype("float32")
    out = keras.ops.convert_to_numpy(sdae(x))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    code, hidden = sdae.encode(x, return_hidden=True)
    assert tuple(code.shape) == (5, 2) and tuple(hidden.shape) == (5, 8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sdae.decode(code)), out, rtol=1e-5)
    assert sdae.depth == 3


def test_corruption_and_code_noise_act_in_training_only():
    sdae = StackedDenoisingAutoEncoder(hidden=(16,), code_dim=4, corruption_rate=0.5,
                                       code_noise=1.0, seed=0)
    x = np.ones((8, 10), "float32")
    clean = keras.ops.convert_to_numpy(sdae(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sdae(x, training=False)), clean)
    assert not np.allclose(keras.ops.convert_to_numpy(sdae(x, training=True)), clean)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sdae.encode(x)),
                               keras.ops.convert_to_numpy(sdae.encode(x, training=False)))


def test_stage_models_share_the_blocks_weights_and_pretrain_them():
    keras.utils.set_random_seed(0)  # the fit's updates must not hang on an earlier test's
    sdae = StackedDenoisingAutoEncoder(hidden=(6, 4), code_dim=2, corruption_rate=0.2, seed=0)
    x = np.random.default_rng(1).uniform(size=(32, 10)).astype("float32")
    sdae(x)
    shapes = []
    for depth in range(sdae.depth):
        stage = sdae.stage_model(depth)
        features = keras.ops.convert_to_numpy(sdae.representation(x, depth))
        shapes.append((tuple(stage.input.shape[1:]), tuple(stage.output.shape[1:])))
        assert {id(w) for w in stage.trainable_weights} <= {id(w) for w in sdae.weights}
        before = [keras.ops.convert_to_numpy(w).copy() for w in sdae.encoder_layers[depth].weights]
        stage.compile("adam", "mse")
        stage.fit(features, features if depth else x, epochs=1, batch_size=8, verbose=0)
        after = [keras.ops.convert_to_numpy(w) for w in sdae.encoder_layers[depth].weights]
        assert any(not np.allclose(a, b) for a, b in zip(after, before))
    assert shapes == [((10,), (10,)), ((6,), (6,)), ((4,), (4,))]
    with pytest.raises(ValueError, match="depth: got 3, expected 0 <= depth < 3"):
        sdae.stage_model(3)


def test_stage_model_needs_a_built_block():
    with pytest.raises(ValueError, match="build the block"):
        StackedDenoisingAutoEncoder(hidden=(4,), code_dim=2).stage_model(0)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="code_dim: got 0"):
        StackedDenoisingAutoEncoder(code_dim=0)
    with pytest.raises(ValueError, match="output_activation: got 'tanh'"):
        StackedDenoisingAutoEncoder(output_activation="tanh")
    with pytest.raises(ValueError, match="hidden: got"):
        StackedDenoisingAutoEncoder(hidden=(4, 0))
    with pytest.raises(ValueError, match="kind: got 'salt'"):
        StackedDenoisingAutoEncoder(corruption="salt")
