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
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from suite.data import DataError, DataInfo, Splits, fingerprint_arrays

# lookback, horizon, season, test_size, val_size (test: as in the backtests this suite reports)
DATASETS = {
    "co2": {"lookback": 104, "horizon": 52, "season": 52, "test_size": 104, "val_size": 104},
    "sunspots": {"lookback": 33, "horizon": 5, "season": 11, "test_size": 40, "val_size": 40},
}

_SEASONS = {"W": 52, "D": 7, "B": 5, "h": 24, "H": 24, "M": 12, "ME": 12, "MS": 12, "Q": 4,
            "QE": 4, "QS": 4, "min": 60, "T": 60}


@dataclasses.dataclass
class Series:
    """A (multivariate) time series with the target in column 0."""

    values: np.ndarray          # [time, features] float32
    columns: list[str]          # target first, then covariates
    index: pd.DatetimeIndex
    frequency: str
    source: str
    filled: int = 0             # missing values filled


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


def read_csv(path, time_column=None, target=None, covariates=(), frequency=None,
             missing="interpolate") -> Series:
    """Reads a CSV with a time column and value columns; every bad cell is named.

    Args:
        path: the CSV file (UTF-8, a header row).
        time_column: the column of timestamps; `None` for the first column.
        target: the column to forecast; `None` for the first other column.
        covariates: more columns the model reads (known history only).
        frequency: a pandas frequency; `None` to infer it from the timestamps.
        missing: `"interpolate"`, `"ffill"` or `"error"` for empty cells and missing steps.

    Raises:
        DataError: naming the file, row (as a line number) and column of a bad date, a
            non-numeric value, a duplicated timestamp or a missing value, or what is absent.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise DataError(f"data.path {str(path)!r}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: not a readable CSV ({str(e).strip()})") from None
    if frame.shape[1] < 2:
        raise DataError(f"{path}: expected a time column and at least one value column, "
                        f"found columns {list(frame.columns)}")
    time_column = time_column or frame.columns[0]
    value_columns = [c for c in frame.columns if c != time_column]
    target = target or value_columns[0]
    for key, column in [("data.time_column", time_column), ("data.target", target),
                        *[("data.covariates", c) for c in covariates]]:
        if column not in frame.columns:
            raise DataError(f"{path}: {key} {column!r} is not a column; the columns are "
                            f"{', '.join(frame.columns)}")
    columns = [target, *[c for c in covariates if c != target]]

    def line(i):  # the header is line 1
        return int(i) + 2

    stamps = pd.to_datetime(frame[time_column].str.strip(), errors="coerce", format="mixed")
    bad = stamps.isna()
    if bad.any():
        i = bad.idxmax()
        raise DataError(f"{path}:{line(i)}: column {time_column!r}: cannot read "
                        f"{frame[time_column][i]!r} as a date or time")
    duplicated = stamps.duplicated(keep=False)
    if duplicated.any():
        rows = [line(i) for i in np.flatnonzero(duplicated)][:6]
        raise DataError(f"{path}: column {time_column!r}: timestamp "
                        f"{stamps[duplicated].iloc[0]} appears more than once (lines "
                        f"{', '.join(map(str, rows))})")
    values = {}
    for column in columns:
        raw = frame[column].str.strip()
        numbers = pd.to_numeric(raw.where(raw != ""), errors="coerce")
        wrong = numbers.isna() & (raw != "")
        if wrong.any():
            i = wrong.idxmax()
            raise DataError(f"{path}:{line(i)}: column {column!r}: {frame[column][i]!r} "
                            "is not a number")
        if missing == "error" and numbers.isna().any():
            i = numbers.isna().idxmax()
            raise DataError(f"{path}:{line(i)}: column {column!r} is empty "
                            "(set data.missing=interpolate or ffill to fill it)")
        values[column] = numbers.to_numpy(float)
    table = pd.DataFrame(values, index=pd.DatetimeIndex(stamps)).sort_index()

    frequency = frequency or _infer_frequency(table.index, path)
    try:
        full = pd.date_range(table.index[0], table.index[-1], freq=frequency)
    except ValueError as e:
        raise DataError(f"data.frequency: got {frequency!r}, not a pandas frequency ({e})") \
            from None
    if not table.index.isin(full).all():
        stray = table.index[~table.index.isin(full)][0]
        raise DataError(f"{path}: timestamp {stray} does not fall on the frequency "
                        f"{frequency!r}; set data.frequency to the series' own")
    table = table.reindex(full)
    gaps = int(table.isna().to_numpy().sum())
    if gaps and missing == "error":
        stamp = table.index[table.isna().any(axis=1)][0]
        raise DataError(f"{path}: no row for {stamp} at frequency {frequency!r} "
                        "(set data.missing=interpolate or ffill to fill it)")
    if gaps:
        table = table.interpolate(method="time") if missing == "interpolate" else table.ffill()
        table = table.bfill()
    return Series(table.to_numpy(np.float32), columns, table.index, frequency,
                  f"csv: {path}", gaps)


def csv_columns(path) -> list[str]:
    """The header of a CSV file (its column names, stripped)."""
    try:
        return [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (ValueError, pd.errors.ParserError) as e:  # also UnicodeDecodeError, EmptyDataError
        raise DataError(f"{path}: not a readable CSV ({e})") from None


def _infer_frequency(index: pd.DatetimeIndex, path) -> str:
    """The frequency of the timestamps; with gaps, the one most short runs agree on."""
    if len(index) >= 3:
        inferred = pd.infer_freq(index)
        if inferred:
            return inferred
        runs = [pd.infer_freq(index[i:i + 5]) for i in range(0, len(index) - 4, 5)]
        runs = [r for r in runs if r]
        if runs:
            return Counter(runs).most_common(1)[0][0]
    raise DataError(f"{path}: cannot infer the frequency of the timestamps; set "
                    "data.frequency (e.g. D, W-SAT, MS, h)")


def season_of(frequency: str) -> int:
    """The usual season length of a pandas frequency (1 where there is none, e.g. yearly)."""
    code = frequency.lstrip("0123456789").split("-")[0]
    return _SEASONS.get(code, _SEASONS.get(code.rstrip("SE"), 1))


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


def load(config) -> Splits:
    """The forecasting splits; `info.extra` carries the series and its windowing."""
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
        extra={"series": series, "windowing": w, "origins": starts},
    )
    ds = {k: windows(series.values, v, w) for k, v in starts.items()}
    return Splits(ds["train"], ds["val"], ds["test"], info)
