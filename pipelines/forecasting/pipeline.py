"""The forecasting pipeline: a quantile LSTM/GRU forecaster, backtested against baselines."""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from suite.baselines import Baseline
from suite.data import DataInfo, Splits
from suite.metrics import PinballLoss
from suite.metrics import forecast_errors as fe
from suite.pipeline import Pipeline

from pipelines.forecasting import data, model
from pipelines.forecasting.config import ForecastingConfig


BASELINES = {"naive": "naive (last value)", "seasonal_naive": "seasonal naive",
             "ets": "ETS (Holt-Winters)"}


class ForecastingPipeline(Pipeline):
    """Forecasts a series many steps ahead with intervals; CO2/sunspots or your CSV."""

    name = "forecasting"
    config_cls = ForecastingConfig
    main_metric = "mase"
    higher_is_better = False
    monitor = "val_loss"
    monitor_mode = "min"

    def load_data(self) -> Splits:
        splits = data.load(self.config.data)
        state, cfg = splits.info.state, self.config.data
        self.windowing = state.windowing
        for key, value in dataclasses.asdict(state.windowing).items():
            setattr(cfg, key, value)  # log and export the values used, not None
        cfg.frequency = state.series.frequency
        if cfg.path is not None:
            cfg.target = state.series.columns[0]
        return splits

    def build_model(self, info: DataInfo) -> keras.Model:
        w, series = info.state.windowing, info.state.series
        net = model.build_forecaster(w.lookback, series.values.shape[1], w.horizon,
                                     self.config.model)
        return self.trainer.compile(net, loss=PinballLoss(self.config.model.quantiles))

    # --- baselines, evaluation ----------------------------------------------------------

    def baselines(self) -> list[Baseline]:
        def classical(name):
            return lambda fitted, splits: {"point": baseline_forecast(
                name, splits.info.state, self.config.model.ets_history)}

        return [
            Baseline("naive", fit=_nothing, predict=classical("naive"),
                     description="the last observed value"),
            Baseline("seasonal_naive", fit=_nothing, predict=classical("seasonal_naive"),
                     description="the value one season earlier"),
            Baseline("ets", fit=_nothing, predict=classical("ets"),
                     depends_on=("model.ets_history",),
                     description="ETS (Holt-Winters), refitted at every test origin"),
        ]

    def predict(self, net: keras.Model, splits: Splits) -> dict[str, np.ndarray]:
        state = splits.info.state
        x, _ = data.arrays(state.series.values, state.origins["test"], state.windowing)
        quantiles = net.predict(x, batch_size=256, verbose=0)
        return {"point": quantiles[..., _median_index(self.config.model.quantiles)],
                "quantiles": quantiles}

    def score(self, predictions: dict[str, np.ndarray], splits: Splits) -> dict[str, float]:
        y, scale = self._truth(splits)
        point = predictions["point"]
        metrics = {"mae": fe.mae(y, point), "rmse": fe.rmse(y, point),
                   "smape": fe.smape(y, point), "mase": fe.mase(y, point, scale)}
        if "quantiles" in predictions:
            q = predictions["quantiles"]
            metrics["coverage"] = fe.coverage(y, q[..., 0], q[..., -1])
            metrics["pinball"] = float(PinballLoss(self.config.model.quantiles)(y, q))
        return metrics

    def _truth(self, splits: Splits) -> tuple[np.ndarray, float]:
        """The test targets `[origins, horizon]` and MASE's scale (training part only)."""
        state = splits.info.state
        values, w = state.series.values, state.windowing
        _, y = data.arrays(values, state.origins["test"], w)
        train_end = len(values) - w.test_size - w.val_size
        return y, fe.seasonal_naive_scale(values[:train_end, 0], w.season)

    def backtest(self, splits: Splits, predictions) -> dict:
        """Truth, forecasts by name and MASE by horizon step over the test origins."""
        y, scale = self._truth(splits)
        forecasts = {name: p["point"] for name, p in predictions.items()}
        return {"y": y, "quantiles": predictions["test"]["quantiles"], "forecasts": forecasts,
                "per_step": {name: fe.mase(y, f, scale, per_step=True)
                             for name, f in forecasts.items()},
                "origins": splits.info.state.origins["test"]}

    def figures(self, net, splits: Splits, predictions) -> dict:
        state, backtest = splits.info.state, self.backtest(splits, predictions)
        return {"forecast_fan": fan_chart(state.series, state.windowing, backtest,
                                          self.config.model.quantiles),
                "error_by_horizon": error_by_horizon(backtest["per_step"])}

    def artifacts(self, net, splits: Splits, predictions) -> dict[str, str]:
        per_step = self.backtest(splits, predictions)["per_step"]
        return {"backtest/mase_by_horizon.csv": per_step_table(per_step)}

    # --- export -------------------------------------------------------------------------

    def serving_example(self, splits: Splits) -> dict[str, np.ndarray]:
        state = splits.info.state
        history, _ = data.arrays(state.series.values, state.origins["test"][:2],
                                 state.windowing)
        return {"history": history}

    def describe(self, info: DataInfo) -> dict:
        series, w = info.state.series, info.state.windowing
        return {"serving_default": {
            "inputs": {"history": {
                "kind": "numeric_window", "columns": series.columns, "lookback": w.lookback,
                "frequency": series.frequency, "time_column": self.config.data.time_column,
                "missing": self.config.data.missing,
                "description": f"the last {w.lookback} steps in raw units, columns "
                               f"{', '.join(series.columns)} (the target first)"}},
            "outputs": {
                "quantiles": {"kind": "quantiles", "levels": list(self.config.model.quantiles),
                              "description": f"the next {w.horizon} steps of "
                                             f"{series.columns[0]}, one column per level"},
                "median": {"kind": "point_forecast",
                           "description": "the 0.5 quantile: the point forecast"}}}}

    def manifest_extra(self, info: DataInfo) -> dict:
        series, w = info.state.series, info.state.windowing
        return {"series": {"columns": series.columns, "frequency": series.frequency,
                           "lookback": w.lookback, "horizon": w.horizon, "season": w.season,
                           "last_timestamp": str(series.index[-1])}}

    def serving_model(self, net: keras.Model, info: DataInfo) -> keras.export.ExportArchive:
        series, w = info.state.series, info.state.windowing
        mid = _median_index(self.config.model.quantiles)

        def forecast(history):
            quantiles = tf.cast(net(history, training=False), tf.float32)
            return {"quantiles": quantiles, "median": quantiles[..., mid]}

        archive = keras.export.ExportArchive()
        archive.track(net)
        archive.add_endpoint("serving_default", forecast, input_signature=[
            tf.TensorSpec([None, w.lookback, len(series.columns)], tf.float32, name="history")])
        return archive


def _nothing(splits, workdir):
    """Classical baselines are fitted per test origin, inside `predict`."""
    return None


def _median_index(quantiles) -> int:
    return list(quantiles).index(0.5)  # the config requires the median


def baseline_forecast(name: str, state, ets_history=None) -> np.ndarray:
    """A classical forecast `[origins, horizon]` of the target at every test origin, from
    the history before each origin alone.

    `naive` repeats the last value, `seasonal_naive` the value one season back, and `ets`
    refits an exponential-smoothing model (additive trend, and additive season where the
    history holds two seasons) at every origin.
    """
    target, w = state.series.values[:, 0], state.windowing
    starts = state.origins["test"]
    steps = np.arange(w.horizon)
    if name == "naive":
        return np.stack([np.full(w.horizon, target[t - 1]) for t in starts])
    if name == "seasonal_naive":
        back = w.season * (steps // w.season + 1)
        return np.stack([target[t + steps - back] for t in starts])
    if name == "ets":
        return np.stack([_ets(target[:t], w, ets_history) for t in starts])
    raise ValueError(f"baseline_forecast name: got {name!r}, expected naive, "
                     "seasonal_naive or ets")


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

