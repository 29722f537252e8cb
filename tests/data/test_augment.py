import numpy as np
import pytest
import tensorflow as tf

from suite.data.augment import joint_affine


def _pair():
    image = np.zeros((1, 6, 8, 1), "float32")
    mask = np.zeros((1, 6, 8), "int32")
    image[0, 1, 1], mask[0, 1, 1] = 1.0, 3
    image[0, 2, 1], mask[0, 2, 1] = 0.5, 2
    return tf.constant(image), tf.constant(mask)


def test_a_flip_moves_the_mask_with_the_image():
    image, mask = _pair()
    augment = joint_affine(flip="horizontal", seed=0)
    seen = set()
    for _ in range(12):
        x, m = augment(image, mask)
        x, m = x.numpy()[0, ..., 0], m.numpy()[0]
        assert np.argwhere(x > 0).tolist() == np.argwhere(m > 0).tolist()
        seen.add(tuple(map(tuple, np.argwhere(m > 0))))
        assert sorted(m[m > 0].tolist()) == [2, 3]
    assert seen == {((1, 1), (2, 1)), ((1, 6), (2, 6))}  # unflipped and mirrored


def test_vertical_flip_mirrors_rows():
    image, mask = _pair()
    augment = joint_affine(flip="vertical", seed=1)
    flipped = [m for m in (augment(image, mask)[1].numpy()[0] for _ in range(12))
               if m[1, 1] == 0]
    assert flipped and flipped[0][4, 1] == 3 and flipped[0][3, 1] == 2


def test_masks_are_never_blended_and_stay_aligned_under_rotation_and_zoom():
    rng = np.random.default_rng(0)
    mask = np.zeros((4, 16, 16), "int32")
    mask[:, 4:12, 3:9] = 5
    mask[:, 6:10, 9:14] = 7
    image = (mask[..., None] / 7.0).astype("float32")
    augment = joint_affine(rotation=0.1, zoom=0.3, translation=0.2, seed=int(rng.integers(99)))
    x, m = augment(tf.constant(image), tf.constant(mask))
    m = m.numpy()
    assert set(np.unique(m)) <= {0, 5, 7}  # nearest neighbour: no ids in between
    # where the image is clearly one region's intensity, the mask names that region
    x = x.numpy()[..., 0]
    assert np.all(m[np.abs(x - 1.0) < 1e-3] == 7)
    assert np.all(m[np.abs(x - 5 / 7) < 1e-3] == 5)
    assert m.dtype == np.int32 and x.shape == (4, 16, 16)


def test_off_is_none_and_bad_values_name_the_argument():
    assert joint_affine() is None
    with pytest.raises(ValueError, match="flip: got 'diagonal'"):
        joint_affine(flip="diagonal")
    with pytest.raises(ValueError, match="zoom: got 1.5"):
        joint_affine(zoom=1.5)
