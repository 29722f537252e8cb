"""The forecasting config: per-dataset defaults for lookback, horizon, season and test size."""

from __future__ import annotations

import dataclasses

from suite.config import Config, ConfigError, DataConfig, TrainerConfig, option, section


@dataclasses.dataclass
class SeriesDataConfig(DataConfig):
    """The series: an embedded data set or a CSV, and how it is windowed and split.

    `None` for lookback, horizon, season, test_size or val_size means the data set's
    default (co2: 104, 52, 52, 104, 104; sunspots: 33, 5, 11, 40, 40) or, for a CSV, one
    derived from its frequency and the split fractions.
    """

    dataset: str = option("co2", choices=("co2", "sunspots"), help="embedded series")
    time_column: str | None = option(None, help="CSV time column; none: the first column")
    target: str | None = option(None, help="CSV column to forecast; none: the first value column")
    covariates: tuple[str, ...] = option((), help="CSV columns fed to the model as inputs too")
    frequency: str | None = option(None, help="pandas frequency, e.g. D, W-SAT, MS; none: infer")
    missing: str = option("interpolate", choices=("interpolate", "ffill", "error"),
                          help="missing values: fill linearly in time, carry forward, or stop")
    lookback: int | None = option(None, min=2, help="history steps the model reads")
    horizon: int | None = option(None, min=1, help="future steps forecast at once")
    season: int | None = option(None, min=1, help="season length (1: none)")
    test_size: int | None = option(None, min=1, help="last steps held out for the backtest")
    val_size: int | None = option(None, min=1, help="steps before the test part for validation")


@dataclasses.dataclass
class ForecasterConfig:
    """The recurrent encoder and the quantile head."""

    cell: str = option("gru", choices=("lstm", "gru"))
    depth: int = option(2, min=1, max=6)
    units: int = option(32, min=1)
    dropout: float = option(0.0, min=0.0, max=0.9)
    quantiles: tuple[float, ...] = option((0.1, 0.5, 0.9), min=0.001, max=0.999)
    ets_history: int | None = option(
        None, min=10, help="ETS baseline: fit on at most this many last steps per origin"
    )


@dataclasses.dataclass
class ForecastingConfig(Config):
    """Everything `suite run forecasting` can be told."""

    trainer: TrainerConfig = section(TrainerConfig, epochs=60, batch_size=32,
                                     learning_rate=1e-3, early_stopping_patience=8,
                                     reduce_lr_patience=4)
    data: SeriesDataConfig = section(SeriesDataConfig)
    model: ForecasterConfig = section(ForecasterConfig)

    def resolve(self, explicit: set[str]) -> None:
        # Yearly sunspots give ~190 training windows: smaller batches give the optimizer
        # enough steps per epoch (measured in benchmarks/forecasting.py).
        if (self.data.path is None and self.data.dataset == "sunspots"
                and "trainer.batch_size" not in explicit):
            self.trainer.batch_size = 16

    def check(self) -> None:
        super().check()
        q = self.model.quantiles
        if 0.5 not in q or list(q) != sorted(set(q)):
            raise ConfigError(f"config key 'model.quantiles': got {q!r}, expected distinct "
                              "ascending levels between 0 and 1 including the median 0.5, "
                              "e.g. 0.1,0.5,0.9")
