"""The forecasting pipeline: a quantile LSTM/GRU forecaster, backtested against baselines."""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure

from suite.data import DataInfo, Splits
from suite.metrics import PinballLoss
from suite.metrics import forecast_errors as fe
from suite.pipeline import Pipeline

from pipelines.forecasting import data, model
from pipelines.forecasting.config import ForecastingConfig

log = logging.getLogger(__name__)

BASELINES = {"naive": "naive (last value)", "seasonal_naive": "seasonal naive",
             "ets": "ETS (Holt-Winters)"}


class ForecastingPipeline(Pipeline):
    """Forecasts a series many steps ahead with intervals; CO2/sunspots or your CSV."""

    name = "forecasting"
    config_cls = ForecastingConfig
    main_metric = "mase"
    main_baseline = "seasonal_naive"
    monitor = "val_loss"
    monitor_mode = "min"

    def load_data(self) -> Splits:
        splits = data.load(self.config.data)
        self.windowing = splits.info.extra["windowing"]
        return splits

    def build_model(self, info: DataInfo) -> keras.Model:
        w, series = info.extra["windowing"], info.extra["series"]
        net = model.build_forecaster(w.lookback, series.values.shape[1], w.horizon,
                                     self.config.model)
        return self.trainer.compile(net, loss=PinballLoss(self.config.model.quantiles))

    def evaluate(self, net: keras.Model, splits: Splits) -> dict[str, float]:
        info = splits.info
        series, w, starts = info.extra["series"], info.extra["windowing"], info.extra["origins"]
        values = series.values
        x, y = data.arrays(values, starts["test"], w)
        quantiles = net.predict(x, batch_size=256, verbose=0)
        mid = _median_index(self.config.model.quantiles)
        train_end = len(values) - w.test_size - w.val_size
        scale = fe.seasonal_naive_scale(values[:train_end, 0], w.season)

        forecasts = {"test": quantiles[..., mid]}
        forecasts.update(baseline_forecasts(values[:, 0], starts["test"], w,
                                            self.config.model.ets_history))
        metrics, per_step = {}, {}
        for name, point in forecasts.items():
            metrics[f"{name}_mae"] = float(fe.mae(y, point))
            metrics[f"{name}_rmse"] = float(fe.rmse(y, point))
            metrics[f"{name}_smape"] = float(fe.smape(y, point))
            metrics[f"{name}_mase"] = float(fe.mase(y, point, scale))
            per_step[name] = fe.mase(y, point, scale, per_step=True)
        metrics["test_coverage"] = float(fe.coverage(y, quantiles[..., 0], quantiles[..., -1]))
        metrics["test_pinball"] = float(PinballLoss(self.config.model.quantiles)(y, quantiles))
        self.backtest = {"y": y, "quantiles": quantiles, "forecasts": forecasts,
                          "per_step": per_step, "origins": starts["test"]}
        return metrics

    def figures(self, net: keras.Model, splits: Splits) -> dict:
        info = splits.info
        return {"forecast_fan": fan_chart(info.extra["series"], info.extra["windowing"],
                                          self.backtest, self.config.model.quantiles),
                "error_by_horizon": error_by_horizon(self.backtest["per_step"])}

    def artifacts(self) -> dict[str, str]:
        return {"backtest/mase_by_horizon.csv": per_step_table(self.backtest["per_step"])}

    def signature(self, info: DataInfo) -> dict:
        series, w = info.extra["series"], info.extra["windowing"]
        q = list(self.config.model.quantiles)
        return {
            "inputs": {"history": {"dtype": "float32",
                                   "shape": [None, w.lookback, len(series.columns)],
                                   "description": f"the last {w.lookback} steps, raw units, "
                                                  f"columns {series.columns}"}},
            "outputs": {"quantiles": {"dtype": "float32", "shape": [None, w.horizon, len(q)],
                                      "levels": q},
                        "median": {"dtype": "float32", "shape": [None, w.horizon]}},
            "series": {"columns": series.columns, "frequency": series.frequency,
                       "lookback": w.lookback, "horizon": w.horizon, "season": w.season,
                       "last_timestamp": str(series.index[-1])},
        }

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        series, w = info.extra["series"], info.extra["windowing"]
        mid = _median_index(self.config.model.quantiles)

        def forecast(history):
            quantiles = tf.cast(net(history, training=False), tf.float32)
            return {"quantiles": quantiles, "median": quantiles[..., mid]}

        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.add_endpoint("serving_default", forecast, input_signature=[
            tf.TensorSpec([None, w.lookback, len(series.columns)], tf.float32, name="history")])
        return archive

    @classmethod
    def predict_inputs(cls, manifest: dict, inputs: list[str]) -> dict[str, tf.Tensor]:
        return {"history": tf.constant(np.stack([_history(manifest, p)[0] for p in inputs]))}

    @classmethod
    def format_predictions(cls, manifest: dict, inputs: list[str], outputs: dict) -> str:
        levels = manifest["outputs"]["quantiles"]["levels"]
        frequency = manifest["series"]["frequency"]
        blocks = []
        for path, q in zip(inputs, outputs["quantiles"].numpy()):
            last = _history(manifest, path)[1]
            stamps = pd.date_range(last, periods=len(q) + 1, freq=frequency)[1:]
            head = f"{'step':>4}  {'time':<19}" + "".join(f"{f'q{lv:g}':>11}" for lv in levels)
            rows = [f"{i + 1:>4}  {str(s)[:19]:<19}" + "".join(f"{v:>11.3f}" for v in row)
                    for i, (s, row) in enumerate(zip(stamps, q))]
            blocks.append("\n".join([f"{path}: forecast of {manifest['series']['columns'][0]}",
                                     head, *rows]))
        return "\n\n".join(blocks)


def _median_index(quantiles) -> int:
    return list(quantiles).index(0.5)  # the config requires the median


def _history(manifest: dict, path: str):
    spec = manifest["series"]
    columns = spec["columns"]
    header = data.csv_columns(path)
    series = data.read_csv(path, target=columns[0] if columns[0] in header else None,
                           frequency=spec["frequency"], covariates=tuple(columns[1:]))
    if len(series.values) < spec["lookback"]:
        raise ValueError(f"{path}: {len(series.values)} rows, the model needs the last "
                         f"{spec['lookback']}")
    if series.values.shape[1] != len(columns):
        raise ValueError(f"{path}: {series.values.shape[1]} value column(s), the model reads "
                         f"{len(columns)} ({', '.join(columns)})")
    return series.values[-spec["lookback"]:], series.index[-1]


def baseline_forecasts(target: np.ndarray, starts: np.ndarray, w, ets_history=None):
    """Naive, seasonal naive and ETS forecasts for each origin, from the history alone.

    Returns `{"baseline_<name>": [origins, horizon]}`. ETS (additive trend, and additive
    season where the history holds two seasons) is refitted at every origin; if it cannot
    be fitted its entry is left out and the reason logged.
    """
    steps = np.arange(w.horizon)
    naive = np.stack([np.full(w.horizon, target[t - 1]) for t in starts])
    back = w.season * (steps // w.season + 1)
    seasonal = np.stack([target[t + steps - back] for t in starts])
    out = {"baseline_naive": naive, "baseline_seasonal_naive": seasonal}
    try:
        out["baseline_ets"] = np.stack([_ets(target[:t], w, ets_history) for t in starts])
    except (ValueError, np.linalg.LinAlgError) as e:
        log.warning("ETS baseline left out: %s", e)
    return out


def _ets(history: np.ndarray, w, limit=None) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    history = np.asarray(history[-limit:] if limit else history, float)
    seasonal = "add" if w.season > 1 and len(history) >= 2 * w.season + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(history, trend="add", seasonal=seasonal,
                                   seasonal_periods=w.season if seasonal else None,
                                   initialization_method="estimated").fit()
    return fit.forecast(w.horizon)


def fan_chart(series, w, backtest, quantiles) -> Figure:
    """The forecast from the last test origin: history, truth, median, interval, baselines."""
    t = int(backtest["origins"][-1])
    q = backtest["quantiles"][-1]
    index, target = series.index, series.values[:, 0]
    past = slice(max(0, t - 3 * w.horizon), t)
    future = index[t:t + w.horizon]
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(index[past], target[past], color="black", lw=1.2, label="history")
    ax.plot(index[t - 1:t + w.horizon], target[t - 1:t + w.horizon], color="black", lw=1.2,
            ls=":", label="actual")
    ax.fill_between(future, q[:, 0], q[:, -1], color="tab:blue", alpha=0.25,
                    label=f"{quantiles[0]:g}-{quantiles[-1]:g} quantiles")
    ax.plot(future, q[:, _median_index(quantiles)], color="tab:blue", lw=2, label="median")
    styles = {"baseline_seasonal_naive": "tab:orange", "baseline_ets": "tab:green"}
    for name, color in styles.items():
        if name in backtest["forecasts"]:
            ax.plot(future, backtest["forecasts"][name][-1], color=color, lw=1, ls="--",
                    label=BASELINES[name.removeprefix("baseline_")])
    ax.set_title(f"{series.columns[0]}: {w.horizon}-step forecast from the last test origin "
                 f"({str(index[t - 1])[:10]})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return figure


def error_by_horizon(per_step: dict[str, np.ndarray]) -> Figure:
    """MASE at each horizon step for the model and every baseline, over all test origins."""
    figure = Figure(figsize=(8, 4), layout="constrained")
    ax = figure.subplots()
    for name, values in per_step.items():
        label = "model" if name == "test" else BASELINES[name.removeprefix("baseline_")]
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) <= 12 else None,
                lw=2.2 if name == "test" else 1.2, label=label)
    ax.set_xlabel("horizon step")
    ax.set_ylabel("MASE")
    ax.set_title("Error by horizon over the rolling test origins")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def per_step_table(per_step: dict[str, np.ndarray]) -> str:
    """MASE per horizon step as CSV text (one column per forecaster)."""
    names = list(per_step)
    lines = ["step," + ",".join(names)]
    for i in range(len(per_step[names[0]])):
        lines.append(f"{i + 1}," + ",".join(f"{per_step[n][i]:.4f}" for n in names))
    return "\n".join(lines) + "\n"

