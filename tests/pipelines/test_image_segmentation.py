"""Image segmentation: scene composer, folder loader, end to end with export and predict."""

import io
from pathlib import Path

import mlflow
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines.image_segmentation import data, scenes
from pipelines.image_segmentation.config import ImageSegmentationConfig
from pipelines.image_segmentation.pipeline import ImageSegmentationPipeline
from suite import export
from suite.cli import main
from suite.config import ConfigError, load_config
from suite.data import DataError, Skipped
from tests.harness import assert_manifest_matches_model, predict_without_training_code

TINY = ["--set", "trainer.epochs=1", "--set", "data.scenes=120", "--set", "model.filters=8,16",
        "--set", "model.bottom_filters=16", "--set", "data.image_size=32"]


# --- the scene composer -----------------------------------------------------------------

def test_scene_masks_agree_with_the_drawn_digits():
    digits, labels = scenes.load_digits_pool()
    images, masks = scenes.compose_scenes(digits[:50], labels[:50], 40, 48, seed=3, noise=0.0)
    assert images.shape == masks.shape == (40, 48, 48) and images.dtype == np.uint8
    assert set(np.unique(masks)) <= set(range(11)) and len(np.unique(masks)) > 5
    # every labelled pixel is inked (opacity > 1/2 of ink >= 0.7), the background is blank
    assert images[masks > 0].min() >= int(0.5 * 0.7 * 255) - 1
    assert images[masks == 0].mean() < 0.15 * images[masks > 0].mean()
    # a scene holds 1 to 4 digits: at most 4 classes besides the background
    assert max(len(np.unique(m)) - 1 for m in masks) <= 4
    assert min(len(np.unique(m)) for m in masks) >= 2


def test_overlap_rule_bounds_what_a_digit_hides():
    owner = np.zeros((10, 10), np.int32)
    owner[0:4, 0:5] = 1                      # an earlier digit with 20 visible pixels
    square = np.ones((4, 4), bool)           # a new digit of 16 opaque pixels
    assert scenes._fits(owner, square, 6, 6, 2, 0.2)        # no overlap
    assert scenes._fits(owner, square, 3, 0, 2, 0.25)       # hides 4 of 20 and 4 of its 16
    assert not scenes._fits(owner, square, 3, 0, 2, 0.2)    # 4 of 16 is over a fifth
    assert not scenes._fits(owner, square, 0, 0, 2, 0.5)    # hides all of itself
    assert scenes._fits(owner, square, 0, 0, 2, 1.0)        # 1: any overlap
    digits, labels = scenes.load_digits_pool()
    _, apart = scenes.compose_scenes(digits, labels, 30, 64, seed=1, max_overlap=0.0,
                                     per_scene=(4, 4), scale=(0.25, 0.25), noise=0.0)
    _, piled = scenes.compose_scenes(digits, labels, 30, 64, seed=1, max_overlap=1.0,
                                     per_scene=(4, 4), scale=(0.25, 0.25), noise=0.0)
    assert (apart > 0).sum() > (piled > 0).sum()  # hidden ink is ink no mask shows


def test_single_digit_scene_labels_exactly_that_digit():
    digits, labels = scenes.load_digits_pool()
    seven = np.flatnonzero(labels == 7)[:1]
    _, masks = scenes.compose_scenes(digits[seven], labels[seven], 5, 32, seed=0,
                                     per_scene=(1, 1), noise=0.0)
    for mask in masks:
        assert set(np.unique(mask)) == {0, 8}  # class 8 is the digit 7


def test_same_seed_same_scenes_and_test_digits_are_unseen_in_training():
    config = load_config(ImageSegmentationConfig, overrides=["data.scenes=200"]).data
    config.image_size, config.channels = 32, 1
    first, second = data.load_scenes(config), data.load_scenes(config)
    assert first.info.fingerprint == second.info.fingerprint
    for a, b in zip(first.test.as_numpy_iterator(), second.test.as_numpy_iterator()):
        np.testing.assert_array_equal(a[0], b[0])
    digits, labels = scenes.load_digits_pool()
    pools = data.stratified_split(labels, config.val_fraction, config.test_fraction,
                                  config.seed)
    assert not set(pools["test"]) & set(pools["train"])
    assert first.info.sizes == {"train": 150, "val": 20, "test": 30}
    other = load_config(ImageSegmentationConfig, overrides=["data.scenes=200",
                                                            "data.seed=1"]).data
    other.image_size, other.channels = 32, 1
    assert data.load_scenes(other).info.fingerprint != first.info.fingerprint


def test_composition_is_fast_and_arguments_are_checked():
    import time

    digits, labels = scenes.load_digits_pool()
    start = time.perf_counter()
    scenes.compose_scenes(digits, labels, 2000, 64, seed=0)
    assert time.perf_counter() - start < 10  # about a second; the model trains for minutes
    with pytest.raises(ValueError, match="scale: got"):
        scenes.compose_scenes(digits, labels, 1, 64, seed=0, scale=(0.5, 2.0))


def test_config_checks_image_size_against_the_stages():
    with pytest.raises(ConfigError, match="'data.image_size': got 36, but model.filters"):
        load_config(ImageSegmentationConfig, overrides=["data.image_size=36"])
    with pytest.raises(ConfigError, match="'data.digits_per_scene': got \\(3, 1\\)"):
        load_config(ImageSegmentationConfig, overrides=["data.digits_per_scene=3,1"])


# --- the folder loader --------------------------------------------------------------------

def _png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def _folder(root: Path, count=8, size=(24, 16), trimap=False) -> Path:
    """Images of a bright square on a dark ground; masks mark the square (class 1) and a
    stripe (class 2), or the Pets trimap values 1, 2, 3."""
    rng = np.random.default_rng(0)
    for i in range(count):
        h, w = size
        mask = np.zeros((h, w), np.uint8)
        top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        mask[top:top + h // 2, left:left + w // 2] = 1
        mask[:, -2:] = 2
        image = np.where(mask[..., None] == 1, 220, 30).astype(np.uint8).repeat(3, -1)
        _png(root / "images" / f"pic{i}.png", image)
        _png(root / "masks" / f"pic{i}.png", mask + 1 if trimap else mask)
    return root


def _folder_config(root, *overrides):
    config = load_config(ImageSegmentationConfig,
                         overrides=[f"data.path={root}", "data.image_size=16", *overrides])
    config.data.channels = 3
    return config.data


def test_folder_pairs_masks_by_stem_and_resizes_them_by_nearest_neighbour(tmp_path):
    root = _folder(tmp_path / "set")
    splits = data.load_folder(_folder_config(root))
    assert splits.info.classes == ["0", "1", "2"] and splits.info.state.num_classes == 3
    x, y = splits.arrays("train")
    assert x.shape[1:] == (16, 16, 3) and y.shape[1:] == (16, 16)
    assert set(np.unique(y)) == {0, 1, 2}  # resized, never blended into other ids
    # the decoded image and its mask still agree: bright where the mask says 1
    assert x[..., 0][y == 1].mean() > 0.7 and x[..., 0][y == 0].mean() < 0.2


def test_folder_class_names_from_classes_txt_and_trimaps(tmp_path):
    root = _folder(tmp_path / "named")
    (root / "classes.txt").write_text("ground\nsquare\nstripe\n")
    assert data.load_folder(_folder_config(root)).info.classes == ["ground", "square",
                                                                   "stripe"]
    pets = _folder(tmp_path / "pets", trimap=True)
    splits = data.load_folder(_folder_config(pets, "data.mask_format=trimap"))
    assert splits.info.classes == data.TRIMAP_CLASSES
    _, y = splits.arrays("train")
    assert set(np.unique(y)) == {0, 1, 2}  # 1, 2, 3 -> 0, 1, 2


def test_folder_bad_pairs_are_named_skipped_and_counted(tmp_path):
    root = _folder(tmp_path / "bad", count=6)
    (root / "classes.txt").write_text("ground\nsquare\nstripe\n")
    _png(root / "images" / "lonely.png", np.zeros((24, 16, 3), np.uint8))
    _png(root / "images" / "wide.png", np.zeros((24, 16, 3), np.uint8))
    _png(root / "masks" / "wide.png", np.zeros((24, 20), np.uint8))
    _png(root / "images" / "many.png", np.zeros((24, 16, 3), np.uint8))
    _png(root / "masks" / "many.png", np.full((24, 16), 9, np.uint8))
    _png(root / "images" / "colour.png", np.zeros((24, 16, 3), np.uint8))
    _png(root / "masks" / "colour.png", np.zeros((24, 16, 3), np.uint8))
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    _png(root / "masks" / "broken.png", np.zeros((24, 16), np.uint8))
    _png(root / "masks" / "orphan.png", np.zeros((24, 16), np.uint8))
    splits = data.load_folder(_folder_config(root))
    skipped = "\n".join(splits.info.skipped)
    assert len(splits.info.skipped) == 6
    assert f"lonely.png: no mask lonely.png in {root / 'masks'}" in skipped
    assert "wide.png and its mask" in skipped and "image 16x24, mask 20x24" in skipped
    assert "class id 9, beyond the 3 classes" in skipped
    assert "colour.png is a RGB image; expected one channel" in skipped
    assert "broken.png: not a readable image" in skipped
    assert "orphan.png: a mask with no image" in skipped
    assert sum(splits.info.sizes.values()) == 6
    with pytest.raises(DataError, match="orphan.png: a mask with no image .*set data.on_error=skip"):
        data.load_folder(_folder_config(root, "data.on_error=stop"))


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="no images/ folder"):
        data.scan_pairs(tmp_path, "ids", None, Skipped())
    root = _folder(tmp_path / "few", count=2)
    with pytest.raises(DataError, match="2 usable image/mask pair"):
        data.scan_pairs(root, "ids", None, Skipped())
    root = _folder(tmp_path / "t", count=4)
    with pytest.raises(DataError, match="a trimap has 3 classes"):
        data.scan_pairs(root, "trimap", 5, Skipped())
    with pytest.raises(DataError, match="0 usable image/mask pair.*4 skipped.*first skipped:"
                                        ".*holds the value 0; expected 1, 2 or 3"):
        data.scan_pairs(_folder(tmp_path / "ids", count=4), "trimap", None, Skipped())


def test_augmentation_setting_moves_masks_with_images():
    config = load_config(ImageSegmentationConfig, overrides=["data.flip=horizontal"])
    pipeline = ImageSegmentationPipeline(config)
    augment = pipeline.augment(None)
    image = np.zeros((1, 4, 4, 1), "float32")
    mask = np.zeros((1, 4, 4), "int32")
    image[0, 0, 0], mask[0, 0, 0] = 1.0, 4
    for _ in range(6):
        x, m = augment(tf.constant(image), tf.constant(mask))
        assert (np.argwhere(x.numpy()[0, ..., 0] > 0).tolist()
                == np.argwhere(m.numpy()[0] == 4).tolist())
    assert ImageSegmentationPipeline(load_config(ImageSegmentationConfig)).augment(None) is None


# --- end to end ---------------------------------------------------------------------------

def _encoded(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def test_run_tracks_exports_serves_bytes_at_their_own_size_and_predicts(workdir, capsys):
    assert main(["run", "image-segmentation", *TINY]) == 0
    v1 = workdir / "saved_models" / "image-segmentation" / "1"
    manifest = export.read_manifest(v1)
    assert manifest["labels"] == scenes.CLASSES
    metrics = manifest["metrics"]
    for prefix in ("test", "baseline_no_skip", "baseline_majority"):
        for metric in ("pixel_accuracy", "mean_iou", "dice", "iou_background"):
            assert f"{prefix}_{metric}" in metrics
    # the majority baseline labels everything background: its IoU there is the pixel share
    assert metrics["baseline_majority_iou_background"] == pytest.approx(
        metrics["baseline_majority_pixel_accuracy"])
    assert metrics["baseline_majority_iou_3"] == 0.0

    runs = mlflow.search_runs(experiment_names=["image-segmentation"])
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["run_id"] == manifest["mlflow_run_id"]
    assert run["metrics.test_mean_iou"] == pytest.approx(metrics["test_mean_iou"])
    assert "metrics.val_mean_iou" in run
    figures = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "figures")}
    assert figures == {"figures/learning_curves.png", "figures/test_examples.png",
                       "figures/per_class_iou.png"}
    assert_manifest_matches_model(v1)

    # the export on the test split's PNG bytes scores what evaluation scored
    config = load_config(ImageSegmentationConfig, overrides=[t for t in TINY if t != "--set"])
    pipeline = ImageSegmentationPipeline(config)
    splits = pipeline.load_data()
    pixels, masks = splits.arrays("test")
    loaded = tf.saved_model.load(str(v1))
    encoded = [_encoded(np.round(p[..., 0] * 255).astype(np.uint8)) for p in pixels]
    out = loaded.signatures["serving_default"](images=tf.constant(encoded))
    from suite.metrics import segmentation_scores

    matrix = segmentation_scores.confusion_matrix(masks, out["class_map"].numpy(), 11)
    assert segmentation_scores.scores(matrix)["mean_iou"] == pytest.approx(
        metrics["test_mean_iou"], abs=0.02)
    by_pixels = loaded.signatures["predict_pixels"](pixels=tf.constant(pixels))
    np.testing.assert_allclose(by_pixels["probabilities"].numpy(),
                               out["probabilities"].numpy(), atol=1e-3)

    # a non-square image: the class map comes back at the image's own size
    wide = np.zeros((20, 52), np.uint8)
    wide[4:16, 6:18] = 200
    tall = np.zeros((40, 30), np.uint8)
    out = loaded.signatures["serving_default"](images=tf.constant([_encoded(wide),
                                                                   _encoded(tall)]))
    assert out["image_size"].numpy().tolist() == [[20, 52], [40, 30]]
    class_map = out["class_map"].numpy()
    assert class_map.shape == (2, 40, 52) and class_map.dtype == np.uint8
    assert np.all(class_map[0, 20:, :] == 255) and np.all(class_map[1, :, 30:] == 255)
    assert class_map[0, :20, :].max() < 11
    assert out["class_pixels"].numpy().sum(axis=1).tolist() == [20 * 52, 40 * 30]
    assert out["probabilities"].shape == (2, 32, 32, 11)

    # suite predict writes scene.mask.png beside the input, in the classes' colours
    scene = workdir / "scene.png"
    scene.write_bytes(_encoded(wide))
    capsys.readouterr()
    assert main(["predict", "image-segmentation", str(scene)]) == 0
    printed = capsys.readouterr().out
    written = workdir / "scene.mask.png"
    assert f"{scene} -> {written} (52x20)" in printed and "background" in printed
    assert Image.open(scene).size == (52, 20) and np.asarray(Image.open(scene)).max() == 200
    mask_image = np.asarray(Image.open(written).convert("RGB"))
    assert mask_image.shape == (20, 52, 3)
    palette = np.asarray(manifest["palette"], np.uint8)
    single = loaded.signatures["serving_default"](images=tf.constant([_encoded(wide)]))
    np.testing.assert_array_equal(mask_image, palette[single["class_map"].numpy()[0]])
    written.unlink()
    isolated = predict_without_training_code("image-segmentation", str(scene), cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.stdout.splitlines()[1:] == printed.splitlines()[1:]
    assert written.is_file()


def test_folder_run_with_trimaps_and_every_loss_option(workdir, tmp_path):
    root = _folder(tmp_path / "pets", count=12, size=(20, 28), trimap=True)
    assert main(["run", "image-segmentation", "--data", str(root), "--set", "trainer.epochs=1",
                 "--set", "data.image_size=16", "--set", "model.filters=4,8",
                 "--set", "model.bottom_filters=8", "--set", "data.mask_format=trimap",
                 "--set", "model.dice_weight=1", "--set", "model.class_weights=balanced",
                 "--set", "data.flip=horizontal", "--set", "data.rotation=0.05",
                 "--set", "model.upsampling=bilinear", "--set", "eval.baselines=majority"]) == 0
    manifest = export.read_manifest(workdir / "saved_models" / "image-segmentation" / "1")
    assert manifest["labels"] == data.TRIMAP_CLASSES
    assert manifest["signatures"]["serving_default"]["inputs"]["images"]["shape"] == [None]
    assert "baseline_majority_mean_iou" in manifest["metrics"]
    assert "baseline_no_skip_mean_iou" not in manifest["metrics"]
