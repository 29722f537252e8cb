"""Time series from CSV files: a time column and value columns, every bad cell named.

Shared by training (the forecasting pipeline's real-world format) and prediction (`suite
predict` reads a history window from the same kind of file), so both read a CSV alike.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from suite.data.validation import DataError

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
