import keras
import numpy as np
import pytest

from suite.metrics import SegmentationLoss, segmentation_scores


def test_scores_on_a_hand_made_case():
    y_true = np.array([[0, 0, 1, 1], [0, 0, 2, 2]])
    y_pred = np.array([[0, 1, 1, 1], [0, 0, 2, 0]])
    matrix = segmentation_scores.confusion_matrix(y_true, y_pred, 4)
    assert matrix[0].tolist() == [3, 1, 0, 0] and matrix[2].tolist() == [1, 0, 1, 0]
    iou = segmentation_scores.per_class_iou(matrix)
    np.testing.assert_allclose(iou[:3], [3 / 5, 2 / 3, 1 / 2])
    assert np.isnan(iou[3])  # neither true nor predicted
    dice = segmentation_scores.per_class_dice(matrix)
    np.testing.assert_allclose(dice[:3], [6 / 8, 4 / 5, 2 / 3])
    scores = segmentation_scores.scores(matrix)
    assert scores["pixel_accuracy"] == pytest.approx(6 / 8)
    assert scores["mean_iou"] == pytest.approx(np.mean([3 / 5, 2 / 3, 1 / 2]))
    assert scores["dice"] == pytest.approx(np.mean([6 / 8, 4 / 5, 2 / 3]))


def test_a_class_predicted_but_never_true_lowers_the_true_class_only():
    matrix = segmentation_scores.confusion_matrix([0, 0, 0, 0], [0, 0, 0, 3], 4)
    assert segmentation_scores.scores(matrix)["mean_iou"] == pytest.approx(3 / 4)


def test_mean_iou_agrees_with_keras_when_every_class_is_present():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, (4, 8, 8)), rng.integers(0, 5, (4, 8, 8))
    metric = keras.metrics.MeanIoU(5)
    metric.update_state(y_true, y_pred)
    matrix = segmentation_scores.confusion_matrix(y_true, y_pred, 5)
    assert segmentation_scores.scores(matrix)["mean_iou"] == pytest.approx(
        float(metric.result()), rel=1e-5)


def test_confusion_matrix_rejects_ids_beyond_the_classes():
    with pytest.raises(ValueError, match="y_pred: ids 0..7, expected 0..3"):
        segmentation_scores.confusion_matrix([0, 1], [0, 7], 4)


def test_loss_is_cross_entropy_without_dice_and_lower_for_better_predictions():
    y_true = np.array([[[0, 1], [1, 2]]])
    good = keras.ops.one_hot(y_true, 3) * 0.9 + 0.1 / 3
    flat = np.full((1, 2, 2, 3), 1 / 3, "float32")
    plain = SegmentationLoss()
    expected = keras.losses.SparseCategoricalCrossentropy()(y_true, good)
    assert float(plain(y_true, good)) == pytest.approx(float(expected), rel=1e-5)
    dice = SegmentationLoss(dice_weight=1.0)
    assert float(dice(y_true, good)) < float(dice(y_true, flat))
    assert float(dice(y_true, flat)) > float(plain(y_true, flat))


def test_class_weights_scale_each_pixel_by_its_true_class():
    y_true = np.array([[[0, 1]]])
    y_pred = np.full((1, 1, 2, 2), 0.5, "float32")
    weighted = SegmentationLoss(class_weights=[1.0, 3.0])
    assert float(weighted(y_true, y_pred)) == pytest.approx(2 * np.log(2), rel=1e-5)
    with pytest.raises(ValueError, match="2 weights for 3 classes"):
        weighted(np.zeros((1, 1, 2), int), np.full((1, 1, 2, 3), 1 / 3, "float32"))


def test_config_round_trip_and_bad_arguments():
    loss = SegmentationLoss(dice_weight=0.5, class_weights=[1.0, 2.0])
    assert SegmentationLoss.from_config(loss.get_config()).get_config() == loss.get_config()
    with pytest.raises(ValueError, match="dice_weight: got -1"):
        SegmentationLoss(dice_weight=-1)
