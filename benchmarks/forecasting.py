"""Forecasting on CO2 and sunspots: the model against naive, seasonal naive and ETS.

For each embedded data set, runs the default `suite run forecasting` (in a temporary
directory with its own MLflow store) and prints, over the same rolling test origins,
MAE, RMSE, sMAPE and MASE of the model and every baseline, the model's interval
coverage, MASE at a few horizon steps, and the training wall time.

    python benchmarks/forecasting.py [--dataset co2 --dataset sunspots] [--set key=value]
"""

from __future__ import annotations

import argparse
import os
import sys

from common import isolate, timed_run  # noqa: I001  (sets the environment first)

from pipelines.forecasting.pipeline import BASELINES, ForecastingPipeline  # noqa: E402


def report(dataset: str, overrides) -> dict:
    result, pipeline, fit_s, total_s = timed_run(ForecastingPipeline,
                                                 [f"data.dataset={dataset}", *overrides])
    m, w = result.metrics, pipeline.windowing
    levels = pipeline.config.model.quantiles
    backtest = pipeline.backtest(pipeline.splits, pipeline.predictions)
    print(f"\n{dataset}: horizon {w.horizon}, season {w.season}, lookback {w.lookback}, "
          f"{len(backtest['origins'])} rolling test origins")
    print(f"{'forecaster':<22}{'MAE':>9}{'RMSE':>9}{'sMAPE %':>9}{'MASE':>8}")
    rows = [("model (" + pipeline.config.model.cell + ")", "test")]
    rows += [(label, f"baseline_{name}") for name, label in BASELINES.items()
             if f"baseline_{name}_mase" in m]
    for label, key in rows:
        print(f"{label:<22}{m[f'{key}_mae']:>9.3f}{m[f'{key}_rmse']:>9.3f}"
              f"{m[f'{key}_smape']:>9.2f}{m[f'{key}_mase']:>8.3f}")
    seasonal = m["baseline_seasonal_naive_mase"]
    ets = (f"; vs ETS: {m['test_mase'] / m['baseline_ets_mase']:.2f}x"
           if "baseline_ets_mase" in m else "")
    print(f"model MASE vs seasonal naive: {100 * (1 - m['test_mase'] / seasonal):+.1f}% lower"
          + ets)
    print(f"{levels[0]:g}-{levels[-1]:g} interval coverage: {m['test_coverage']:.1%}")
    steps = sorted({1, max(1, w.horizon // 4), max(1, w.horizon // 2), w.horizon})
    per_step = backtest["per_step"]
    print("MASE by horizon step: " + "  ".join(
        f"h={h}: model {per_step['test'][h - 1]:.2f} / s.naive "
        f"{per_step['baseline_seasonal_naive'][h - 1]:.2f}" for h in steps))
    print(f"training {fit_s:.1f}s wall for {len(pipeline.epochs)} epochs; whole run "
          f"{total_s:.1f}s on {os.cpu_count()} CPU cores")
    return m


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=("co2", "sunspots"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    isolate("forecasting")
    for dataset in args.dataset or ["co2", "sunspots"]:
        report(dataset, args.overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
