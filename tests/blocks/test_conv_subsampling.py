import numpy as np
import pytest

from suite.blocks import ConvSubsampling
from tests.harness import run_layer_test


@pytest.mark.parametrize("kwargs, expected", [
    ({"filters": (4, 6)}, (2, 5, 4 * 6)),
    ({"filters": (3,), "kernel_size": 5, "activation": "gelu", "momentum": 0.5},
     (2, 9, 8 * 3)),
])
def test_layer_contract(kwargs, expected, tmp_path):
    run_layer_test(ConvSubsampling, kwargs, (2, 17, 15), expected, tmp_path)


def test_output_lengths_match_the_frames_it_makes():
    layer = ConvSubsampling((2, 2, 2))
    for frames in (1, 7, 8, 9, 33):
        out = layer(np.zeros((1, frames, 16), "float32"))
        assert int(layer.output_lengths(np.array([frames]))[0]) == out.shape[1]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="filters: got \\(\\)"):
        ConvSubsampling(())
    with pytest.raises(ValueError, match="momentum: got 1.5"):
        ConvSubsampling(momentum=1.5)


def test_an_utterance_gives_the_same_frames_alone_and_padded_in_a_batch():
    layer = ConvSubsampling((3, 3, 3))
    x = np.random.default_rng(0).normal(size=(1, 23, 8)).astype("float32")
    alone = np.asarray(layer(x))
    padded = np.asarray(layer(np.concatenate([x, np.zeros((1, 41, 8), "float32")], axis=1)))
    frames = int(layer.output_lengths(np.array([23]))[0])
    np.testing.assert_allclose(padded[0, :frames], alone[0], atol=1e-5)


def test_even_kernels_are_refused():
    with pytest.raises(ValueError, match="kernel_size: got 4, expected an odd integer"):
        ConvSubsampling(kernel_size=4)


def test_a_mask_keeps_padding_out_of_every_stage():
    layer = ConvSubsampling((3, 3))
    x = np.random.default_rng(1).normal(size=(1, 13, 8)).astype("float32")
    noise = np.random.default_rng(2).normal(size=(1, 19, 8)).astype("float32")
    alone = np.asarray(layer(x))
    mask = np.arange(32)[None] < 13
    padded = np.asarray(layer(np.concatenate([x, noise], axis=1), mask=mask))
    np.testing.assert_allclose(padded[0, :4], alone[0], atol=1e-5)
    assert np.all(padded[0, 4:] == 0)
    assert np.asarray(layer.compute_mask(x, mask=np.arange(13)[None] < 5)).tolist() == [
        [True, True, False, False]]
