import numpy as np
import pytest

from suite.metrics import PinballLoss
from suite.metrics import forecast_errors as fe


def test_point_errors_on_hand_computed_cases():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = np.array([[2.0, 2.0], [1.0, 4.0]])
    assert fe.mae(y, p) == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert fe.rmse(y, p) == pytest.approx(np.sqrt((1 + 4) / 4))
    np.testing.assert_allclose(fe.mae(y, p, per_step=True), [1.5, 0.0])
    # sMAPE: 2|p-y|/(|y|+|p|): 2/3, 0, 1, 0 -> mean 5/12, in percent
    assert fe.smape(y, p) == pytest.approx(100 * (2 / 3 + 1) / 4)
    assert fe.smape([0.0], [0.0]) == 0.0


def test_mase_is_scaled_by_the_in_sample_seasonal_naive_error():
    history = np.array([1.0, 2.0, 3.0, 1.5, 2.5, 3.5])    # season 3: errors 0.5 each
    assert fe.seasonal_naive_scale(history, 3) == pytest.approx(0.5)
    assert fe.seasonal_naive_scale(history, 1) == pytest.approx((1 + 1 + 1.5 + 1 + 1) / 5)
    assert fe.mase([4.0, 5.0], [3.0, 5.0], scale=0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="too short for season 6"):
        fe.seasonal_naive_scale(history, 6)
    with pytest.raises(ValueError, match="scale must be positive"):
        fe.mase([1.0], [1.0], scale=0.0)


def test_coverage():
    y = np.array([[1.0, 5.0, 3.0, 0.0]])
    assert fe.coverage(y, y - 1, y + 1) == 1.0
    assert fe.coverage(y, np.full_like(y, 0.5), np.full_like(y, 3.0)) == pytest.approx(0.5)
    np.testing.assert_allclose(fe.coverage(y, np.full_like(y, 0.5), np.full_like(y, 3.0),
                                           per_step=True), [1, 0, 1, 0])


def test_pinball_loss_by_hand():
    loss = PinballLoss(quantiles=(0.1, 0.5, 0.9))
    # y=1; predictions 0, 1, 2: errors 1, 0, -1 -> 0.1*1, 0, max(0.9*-1, -0.1*-1)=0.1
    assert float(loss(np.array([[1.0]]), np.array([[[0.0, 1.0, 2.0]]]))) == pytest.approx(0.2 / 3)
    # under-forecast by 2 at q=0.9 costs 0.9*2; over-forecast by 2 costs 0.1*2
    q9 = PinballLoss(quantiles=(0.9,))
    assert float(q9(np.array([[3.0]]), np.array([[[1.0]]]))) == pytest.approx(1.8)
    assert float(q9(np.array([[1.0]]), np.array([[[3.0]]]))) == pytest.approx(0.2)
    assert PinballLoss.from_config(loss.get_config()).quantiles == (0.1, 0.5, 0.9)
    with pytest.raises(ValueError, match="quantiles: got"):
        PinballLoss(quantiles=(0.0, 0.5))
