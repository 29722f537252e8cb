"""Forecasting data: statsmodels' CO2 and sunspots series, or a CSV; windows and splits.

Windows are indexed by their forecast origin `t`: the model reads `values[t - lookback:t]`
(all columns, target first) and forecasts `values[t:t + horizon, 0]`. The series is split
in time: the test part is the last `test_size` steps and the validation part the
`val_size` steps before it. A window belongs to the part that holds its *targets*; its
history may reach back into earlier parts, as it would in real use. Training targets all
lie before the validation part, so no later observed value reaches training (a gap
filled by interpolation at the very end of the training part leans on the next observed
value, as any time interpolation does).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from suite.data import DataError, DataInfo, Splits, fingerprint_arrays
from suite.data.series import Series, read_csv, season_of

# lookback, horizon, season, test_size, val_size (test: as in the backtests this suite reports)
DATASETS = {
    "co2": {"lookback": 104, "horizon": 52, "season": 52, "test_size": 104, "val_size": 104},
    "sunspots": {"lookback": 33, "horizon": 5, "season": 11, "test_size": 40, "val_size": 40},
}


@dataclasses.dataclass
class Windowing:
    """How a series is cut into windows and split."""

    lookback: int
    horizon: int
    season: int
    test_size: int
    val_size: int


def load_series(config) -> Series:
    """The series named by the `data` config (embedded, or `data.path` as a CSV)."""
    series = load_embedded(config.dataset) if config.path is None else read_csv(
        config.path, config.time_column, config.target, config.covariates, config.frequency,
        config.missing)
    return series


def load_embedded(name: str) -> Series:
    """statsmodels' weekly Mauna Loa CO2 (1958-2001) or yearly sunspots (1700-2008).

    CO2 has 59 missing weeks; they are filled by linear interpolation in time between the
    neighbouring observed weeks (the gaps are short, at most a few weeks).
    """
    import statsmodels.api as sm

    if name == "co2":
        frame = sm.datasets.co2.load_pandas().data
        filled = int(frame["co2"].isna().sum())
        frame = frame.interpolate(method="time")
        index = pd.DatetimeIndex(frame.index, freq="W-SAT")
        return Series(frame[["co2"]].to_numpy(np.float32), ["co2"], index, "W-SAT",
                      "embedded: statsmodels co2 (weekly, Mauna Loa)", filled)
    if name == "sunspots":
        frame = sm.datasets.sunspots.load_pandas().data
        index = pd.DatetimeIndex(pd.to_datetime(frame["YEAR"].astype(int).astype(str),
                                                format="%Y"), freq="YS")
        return Series(frame[["SUNACTIVITY"]].to_numpy(np.float32), ["sunspots"], index, "YS",
                      "embedded: statsmodels sunspots (yearly)")
    raise DataError(f"data.dataset: got {name!r}, expected one of {', '.join(DATASETS)}")


def windowing(config, series: Series) -> Windowing:
    """Lookback, horizon, season and split sizes: config values, else sensible defaults."""
    n = len(series.values)
    if config.path is None:
        defaults = dict(DATASETS[config.dataset])
    else:
        season = season_of(series.frequency)
        horizon = season if season > 1 else 4
        defaults = {"season": season, "horizon": horizon,
                    "lookback": max(2 * season, 2 * horizon, 8),
                    "test_size": max(2 * horizon, round(config.test_fraction * n)),
                    "val_size": max(2 * horizon, round(config.val_fraction * n))}
    chosen = {k: getattr(config, k) if getattr(config, k) is not None else v
              for k, v in defaults.items()}
    w = Windowing(**chosen)
    if w.test_size < w.horizon or w.val_size < w.horizon:
        raise DataError(f"data.test_size {w.test_size} and data.val_size {w.val_size} must "
                        f"each hold at least one horizon ({w.horizon} steps)")
    needed = w.lookback + w.horizon + w.val_size + w.test_size
    if n < needed:
        raise DataError(
            f"{series.source}: the series has {n} steps, too short for lookback {w.lookback} "
            f"+ horizon {w.horizon} + validation {w.val_size} + test {w.test_size} = {needed}"
        )
    train = series.values[: n - w.test_size - w.val_size, 0]
    if len(train) <= w.season or not np.abs(train[w.season:] - train[:-w.season]).mean() > 0:
        raise DataError(
            f"{series.source}: the training part ({len(train)} steps before validation) must "
            f"be longer than one season ({w.season}) and not repeat itself exactly: MASE is "
            "scaled by its seasonal naive error"
        )
    return w


def origins(n: int, w: Windowing) -> dict[str, np.ndarray]:
    """Forecast origins per split: each window's targets lie wholly inside its split."""
    test_start = n - w.test_size
    val_start = test_start - w.val_size
    return {
        "train": np.arange(w.lookback, val_start - w.horizon + 1),
        "val": np.arange(max(val_start, w.lookback), test_start - w.horizon + 1),
        "test": np.arange(test_start, n - w.horizon + 1),
    }


def windows(values: np.ndarray, starts: np.ndarray, w: Windowing) -> tf.data.Dataset:
    """`(history [lookback, features], target [horizon])` for each origin, with tf.data."""
    series = tf.constant(values, tf.float32)

    def cut(t):
        history = tf.ensure_shape(series[t - w.lookback:t], (w.lookback, values.shape[1]))
        return history, tf.ensure_shape(series[t:t + w.horizon, 0], (w.horizon,))

    return tf.data.Dataset.from_tensor_slices(starts.astype(np.int64)).map(
        cut, num_parallel_calls=tf.data.AUTOTUNE)


def arrays(values: np.ndarray, starts: np.ndarray, w: Windowing):
    """The same windows as numpy arrays `(histories, targets)`."""
    hist = np.stack([values[t - w.lookback:t] for t in starts])
    target = np.stack([values[t:t + w.horizon, 0] for t in starts])
    return hist.astype(np.float32), target.astype(np.float32)


@dataclasses.dataclass
class ForecastState:
    """What the model and the export are built from, and the series evaluation reads."""

    series: Series
    windowing: Windowing
    origins: dict[str, np.ndarray]   # forecast origins per split


def load(config) -> Splits:
    """The forecasting splits; `info.state` is a `ForecastState`."""
    series = load_series(config)
    w = windowing(config, series)
    starts = origins(len(series.values), w)
    if config.limit is not None:  # an example is a window: keep the latest training ones
        starts["train"] = starts["train"][-config.limit:]
    info = DataInfo(
        fingerprint=fingerprint_arrays(series.values),
        sizes={k: len(v) for k, v in starts.items()},
        source=series.source + (f" ({series.filled} missing values filled)"
                                if series.filled else ""),
        state=ForecastState(series, w, starts),
    )
    ds = {k: windows(series.values, v, w) for k, v in starts.items()}
    return Splits(ds["train"], ds["val"], ds["test"], info)
