import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from suite.data import DataError, Skipped
from suite.data.images import decode_image, scan_class_folders


def _png(path, value=128, size=(6, 5), mode="RGB"):
    channels = 3 if mode == "RGB" else 1
    pixels = np.full((size[1], size[0], channels), value, np.uint8).squeeze()
    Image.fromarray(pixels, mode=mode).save(path)


def _folder(root):
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            _png(root / name / f"{i}.png", value=40 * i)
    good = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "notes.txt").write_text("not an image, ignored by extension")
    (root / "fish").mkdir()
    return root


def test_scan_skips_and_counts_bad_images_and_empty_classes(tmp_path):
    skipped = Skipped("skip")
    paths, labels, classes = scan_class_folders(_folder(tmp_path), skipped)
    assert classes == ["cat", "dog"]
    assert len(paths) == 6 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(skipped) == 2
    assert any("dog/truncated.png: not a readable image" in s for s in skipped.items)
    assert any(s.endswith("fish: class folder has no readable image") for s in skipped.items)


def test_scan_stops_on_the_first_bad_input_when_told(tmp_path):
    with pytest.raises(DataError, match=r"dog/truncated.png: not a readable image"):
        scan_class_folders(_folder(tmp_path), Skipped("stop"))


def test_scan_needs_two_classes(tmp_path):
    (tmp_path / "only").mkdir()
    _png(tmp_path / "only" / "a.png")
    with pytest.raises(DataError, match="found 1 class folder.*expected at least 2"):
        scan_class_folders(tmp_path, Skipped())


@pytest.mark.parametrize("mode, channels", [("RGB", 1), ("L", 3), ("RGB", 3)])
def test_decode_converts_channels_resizes_and_scales(tmp_path, mode, channels):
    _png(tmp_path / "x.png", value=255, size=(10, 7), mode=mode)
    image = decode_image(tf.constant((tmp_path / "x.png").read_bytes()), (4, 4), channels)
    assert image.shape == (4, 4, channels) and image.dtype == tf.float32
    np.testing.assert_allclose(image.numpy(), 1.0, atol=1e-5)


def test_decode_rejects_garbage():
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_image(tf.constant(b"garbage"), (4, 4), 3)


def test_an_image_the_decoder_cannot_read_is_skipped(tmp_path):
    root = _folder(tmp_path / "data")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "cat" / "photo.png",
                                                        format="TIFF")
    skipped = Skipped("skip")
    paths, _, _ = scan_class_folders(root, skipped)
    assert not any(p.endswith("photo.png") for p in paths)
    assert any("cat/photo.png: not a readable image (ValueError: TIFF data" in s
               for s in skipped.items)
