"""Real series as the CSV files a user brings to `forecasting` (a time column, a value
column), written from the data sets that statsmodels and pmdarima ship inside their
wheels (nothing is downloaded).

Each file is the series as published, dated by its documented start and frequency; a
missing value stays an empty cell (pmdarima's ausbeer ends in one), and the Microsoft
closing prices keep the gaps of the trading calendar (holidays), read with
`data.frequency=B` as a user would.

    python benchmarks/series_files.py DEST_DIR        # writes every series, then lists them
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

# name -> (loader module, loader name, start, pandas frequency, what it is)
SERIES = {
    "nile": ("statsmodels", "nile", "1871", "YS", "yearly Nile river flow, 1871-1970"),
    "lynx": ("pmdarima", "lynx", "1821", "YS", "yearly lynx trappings in Canada, 1821-1934"),
    "ausbeer": ("pmdarima", "ausbeer", "1956-01-01", "QS", "quarterly Australian beer "
                "production, 1956-2008 (the last quarter missing)"),
    "woolyrnq": ("pmdarima", "woolyrnq", "1965-01-01", "QS", "quarterly Australian woollen "
                 "yarn production, 1965-1994"),
    "austres": ("pmdarima", "austres", "1971-04-01", "QS", "quarterly Australian residents, "
                "1971-1993 (thousands)"),
    "realgdp": ("statsmodels", "macrodata", "1959-01-01", "QS", "quarterly US real GDP, "
                "1959-2009"),
    "airpassengers": ("pmdarima", "airpassengers", "1949-01-01", "MS", "monthly airline "
                      "passengers, 1949-1960"),
    "wineind": ("pmdarima", "wineind", "1980-01-01", "MS", "monthly Australian wine sales, "
                "1980-1994"),
    "elnino": ("statsmodels", "elnino", "1950-01-01", "MS", "monthly sea surface "
               "temperature of El Nino, 1950-2010"),
    "msft": ("pmdarima", "msft", None, "B", "daily Microsoft closing prices, the last 1,000 "
             "trading days (holidays are gaps)"),
    "taylor": ("pmdarima", "taylor", "2000-06-05", "30min", "half-hourly electricity "
               "demand in England and Wales, 12 weeks of 2000"),
}


def series(name: str) -> pd.Series:
    """The series `name` of `SERIES`, indexed by its timestamps."""
    source, loader, start, frequency, _ = SERIES[name]
    if source == "statsmodels":
        import statsmodels.api as sm

        frame = getattr(sm.datasets, loader).load_pandas().data
        if loader == "nile":
            values = frame["volume"].to_numpy()
        elif loader == "macrodata":
            values = frame["realgdp"].to_numpy()
        else:  # elnino: one row per year, one column per month
            values = frame.drop(columns="YEAR").to_numpy().ravel()
    else:
        import pmdarima.datasets

        if loader == "msft":
            frame = pmdarima.datasets.load_msft().tail(1000)
            return pd.Series(frame["Close"].to_numpy(),
                             index=pd.DatetimeIndex(pd.to_datetime(frame["Date"])))
        values = getattr(pmdarima.datasets, f"load_{loader}")(as_series=True).to_numpy()
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=frequency))


def write_csv(name: str, path: str | Path) -> Path:
    """Writes the series `name` as `path` (columns `time`, `value`; empty where missing)."""
    data = series(name)
    yearly = SERIES[name][3] == "YS"
    frame = pd.DataFrame({"time": data.index.strftime("%Y" if yearly else "%Y-%m-%d %H:%M"
                                                      if SERIES[name][3] == "30min"
                                                      else "%Y-%m-%d"),
                          "value": data.to_numpy()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def overrides(name: str) -> list[str]:
    """The config keys a user sets to read this file: the frequency where gaps hide it."""
    return ["data.frequency=B"] if name == "msft" else []


if __name__ == "__main__":
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "series")
    for key, (_, _, _, frequency, about) in SERIES.items():
        print(f"{write_csv(key, dest / f'{key}.csv')}: {len(series(key))} steps, {frequency}, "
              f"{about}")
