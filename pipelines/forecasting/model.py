"""The forecaster: per-window scaling, a recurrent encoder and a quantile head."""

from __future__ import annotations

import keras
from keras import ops

from suite.blocks import QuantileHead, RecurrentEncoder, WindowScaler


def build_forecaster(lookback: int, features: int, horizon: int, config) -> keras.Model:
    """History `[batch, lookback, features]` (raw units) -> quantiles `[batch, horizon, q]`.

    Each window is scaled by its own last value and mean absolute step (`WindowScaler`),
    encoded by stacked LSTM/GRU layers, forecast directly for every step and quantile, and
    mapped back to raw units, so the model takes and returns raw values.

    Args:
        lookback: history steps read.
        features: columns per step (the target first).
        horizon: future steps forecast.
        config: the `model` section (`ForecasterConfig`).
    """
    # Layers.
    scaler = WindowScaler(name="window_scaler")
    encoder = RecurrentEncoder(config.units, depth=config.depth, cell=config.cell,
                               dropout=config.dropout, name="encoder")
    head = QuantileHead(horizon, config.quantiles, name="quantiles")
    # Graph.
    history = keras.Input(shape=(lookback, features), name="history")
    scaled, loc, scale = scaler(history)
    forecast = head(encoder(scaled))
    outputs = ops.add(ops.multiply(forecast, scale[:, :, :1]), loc[:, :, :1])
    # Model.
    return keras.Model(history, outputs, name=f"{config.cell}_forecaster")
