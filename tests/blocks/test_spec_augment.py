import numpy as np
import pytest

from suite.blocks import SpecAugment
from tests.harness import run_layer_test


def test_layer_contract(tmp_path):
    run_layer_test(SpecAugment, {"freq_masks": 1, "freq_mask_width": 3, "time_masks": 2,
                                 "time_mask_width": 4, "seed": 1}, (2, 30, 8), (2, 30, 8),
                   tmp_path)


def test_masks_in_training_only_and_within_their_widths():
    layer = SpecAugment(freq_masks=1, freq_mask_width=5, time_masks=1, time_mask_width=7,
                        seed=3)
    x = np.ones((64, 50, 20), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    out = np.asarray(layer(x, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0}
    bands = (out == 0).all(axis=1).sum(axis=1)   # masked channels per example
    runs = (out == 0).all(axis=2).sum(axis=1)    # masked frames per example
    assert bands.max() <= 5 and runs.max() <= 7
    assert bands.mean() > 1 and runs.mean() > 1  # widths are drawn, up to the maximum
    assert len({tuple(np.flatnonzero(o.all(axis=1) == 0)) for o in out}) > 10  # per example


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="freq_masks: got -1"):
        SpecAugment(freq_masks=-1)
    with pytest.raises(ValueError, match="time_mask_width: got 0"):
        SpecAugment(time_mask_width=0)
