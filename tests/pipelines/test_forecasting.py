"""Forecasting: windows and splits without leakage, the CSV loader, baselines, end to end."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import mlflow
from pipelines.forecasting import data
from pipelines.forecasting.config import ForecastingConfig
from pipelines.forecasting.pipeline import baseline_forecast
from suite import export
from suite.cli import main
from suite.config import load_config
from suite.data import DataError
from tests.harness import assert_manifest_matches_model, predict_without_training_code


def test_splits_keep_every_later_value_out_of_training():
    w = data.Windowing(lookback=6, horizon=3, season=4, test_size=8, val_size=5)
    n = 40
    starts = data.origins(n, w)
    val_start, test_start = n - 8 - 5, n - 8
    assert starts["train"].min() == 6
    assert starts["train"].max() + w.horizon <= val_start        # train targets before val
    assert starts["val"].min() >= val_start and starts["val"].max() + 3 <= test_start
    assert starts["test"].min() == test_start and starts["test"].max() + 3 == n
    # the training windows (histories and targets) are unchanged by any later value
    values = np.arange(n, dtype=np.float32)[:, None]
    tampered = values.copy()
    tampered[val_start:] = -1e6
    for a, b in zip(data.arrays(values, starts["train"], w), data.arrays(tampered,
                                                                        starts["train"], w)):
        np.testing.assert_array_equal(a, b)


def test_tf_data_windows_match_the_arrays():
    w = data.Windowing(lookback=4, horizon=2, season=1, test_size=4, val_size=4)
    values = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    starts = data.origins(30, w)["train"]
    hist, target = data.arrays(values, starts, w)
    got = list(data.windows(values, starts, w).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([h for h, _ in got]), hist)
    np.testing.assert_array_equal(np.stack([t for _, t in got]), target)
    np.testing.assert_array_equal(hist[0], values[0:4])
    np.testing.assert_array_equal(target[0], values[4:6, 0])


def test_baselines_by_hand():
    w = data.Windowing(lookback=4, horizon=5, season=3, test_size=5, val_size=5)
    target = np.arange(20, dtype=float) ** 1.5
    series = data.Series(target[:, None], ["y"], pd.date_range("2000", periods=20, freq="D"),
                         "D", "test")
    state = data.ForecastState(series, w, {"test": np.array([12])})
    np.testing.assert_allclose(baseline_forecast("naive", state)[0], [target[11]] * 5)
    # step k forecasts t+k from t+k-3*(k//3+1): 9, 10, 11, then 9, 10 again (season 3)
    np.testing.assert_allclose(baseline_forecast("seasonal_naive", state)[0],
                               target[[9, 10, 11, 9, 10]])
    ets = baseline_forecast("ets", state)
    assert ets.shape == (1, 5) and (np.diff(ets[0]) > 0).all()  # a rising series rises on
    with pytest.raises(ValueError, match="expected naive, seasonal_naive or ets"):
        baseline_forecast("drift", state)


def test_embedded_series_are_complete():
    co2 = data.load_embedded("co2")
    assert co2.values.shape == (2284, 1) and co2.filled == 59
    assert not np.isnan(co2.values).any()
    sunspots = data.load_embedded("sunspots")
    assert sunspots.values.shape == (309, 1) and sunspots.index[0].year == 1700


def _write(path, text):
    path.write_text(text)
    return path


def _daily_csv(path, days=120, gap=False):
    stamps = pd.date_range("2024-01-01", periods=days, freq="D")
    t = np.arange(days)
    frame = pd.DataFrame({"date": stamps.strftime("%Y-%m-%d"),
                          "sales": 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 7),
                          "price": 5 + np.cos(t / 5)})
    if gap:
        frame = frame.drop(index=[10, 11])
        frame.loc[20, "sales"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_csv_reads_target_covariates_and_fills_gaps(tmp_path):
    path = _daily_csv(tmp_path / "s.csv", gap=True)
    series = data.read_csv(path, target="sales", covariates=("price",))
    assert series.columns == ["sales", "price"] and series.frequency == "D"
    assert series.values.shape == (120, 2) and series.filled == 5
    assert series.values[10, 0] == pytest.approx((series.values[9, 0] + series.values[12, 0]) / 2
                                                 + (series.values[12, 0] - series.values[9, 0])
                                                 * (1 / 3 - 1 / 2), rel=1e-4)
    assert data.season_of(series.frequency) == 7


@pytest.mark.parametrize("text, kwargs, expected", [
    ("date,v\n2024-01-01,1\nyesterday,2\n2024-01-03,3\n", {}, r"s.csv:3: column 'date': "
     r"cannot read 'yesterday' as a date"),
    ("date,v\n2024-01-01,1\n2024-01-02,abc\n", {}, r"s.csv:3: column 'v': 'abc' is not a number"),
    ("date,v\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n", {},
     r"timestamp 2024-01-02 00:00:00 appears more than once \(lines 3, 4\)"),
    ("date,v\n2024-01-01,1\n2024-01-02,\n2024-01-03,3\n", {"missing": "error"},
     r"s.csv:3: column 'v' is empty"),
    ("date,v\n2024-01-01,1\n2024-01-03,3\n2024-01-04,3\n", {"missing": "error", "frequency": "D"},
     r"no row for 2024-01-02 00:00:00"),
    ("date,v\n2024-01-01,1\n", {"target": "w"}, r"data.target 'w' is not a column; the columns "
     r"are date, v"),
    ("date\n2024-01-01\n", {}, r"expected a time column and at least one value column"),
    ("date,v\n2024-01-01,1\n2024-01-02,2\n", {"frequency": "fortnightly"},
     r"data.frequency: got 'fortnightly'"),
])
def test_csv_errors_name_the_row_and_column(tmp_path, text, kwargs, expected):
    with pytest.raises(DataError, match=expected):
        data.read_csv(_write(tmp_path / "s.csv", text), **kwargs)


def test_csv_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"date,v\n2024-01-01,1\n2024-01-02,\xff\n")
    with pytest.raises(DataError, match=r"s.csv:3: not UTF-8"):
        data.read_csv(path)


def test_a_series_too_short_for_the_windows_is_an_error(tmp_path):
    path = _daily_csv(tmp_path / "s.csv", days=30)
    config = load_config(ForecastingConfig, overrides=[f"data.path={path}"])
    with pytest.raises(DataError, match=r"the series has 30 steps, too short for lookback 14 "
                                        r"\+ horizon 7 \+ validation 14 \+ test 14 = 49"):
        data.load(config.data)


TINY = ["--set", "trainer.epochs=1", "--set", "model.units=8", "--set", "model.depth=1"]


def test_sunspots_end_to_end_export_in_raw_units(workdir, capsys):
    assert main(["run", "forecasting", "--set", "data.dataset=sunspots", *TINY]) == 0
    version = workdir / "saved_models" / "forecasting" / "1"
    manifest = export.read_manifest(version)
    assert manifest["series"]["lookback"] == 33 and manifest["series"]["horizon"] == 5
    # the resolved data-dependent defaults are recorded, not None
    assert {k: manifest["config"]["data"][k] for k in ("lookback", "horizon", "season",
                                                        "test_size", "val_size")} == {
        "lookback": 33, "horizon": 5, "season": 11, "test_size": 40, "val_size": 40}
    run = mlflow.search_runs(experiment_names=["forecasting"]).iloc[0]
    assert run["params.data.lookback"] == "33" and run["params.data.frequency"] == "YS"
    for key, value in manifest["metrics"].items():
        assert run[f"metrics.{key}"] == pytest.approx(value)
    # the baselines are scored like the model: seasonal naive by hand
    values = data.load_embedded("sunspots").values[:, 0]
    origins = np.arange(len(values) - 40, len(values) - 5 + 1)
    steps = np.arange(5)
    truth = np.stack([values[t:t + 5] for t in origins])
    seasonal = np.stack([values[t + steps - 11] for t in origins])
    scale = np.abs(values[11:len(values) - 80] - values[:len(values) - 80 - 11]).mean()
    assert manifest["metrics"]["baseline_seasonal_naive_mase"] == pytest.approx(
        np.abs(truth - seasonal).mean() / scale, rel=1e-5)
    client = mlflow.MlflowClient()
    figures = {a.path for a in client.list_artifacts(run["run_id"], "figures")}
    assert figures == {"figures/learning_curves.png", "figures/forecast_fan.png",
                       "figures/error_by_horizon.png"}
    table = mlflow.artifacts.load_text(
        f"runs:/{run['run_id']}/reports/backtest/mase_by_horizon.csv")
    assert table.splitlines()[0] == "step,test,baseline_naive,baseline_seasonal_naive,baseline_ets"

    # the served median is the point forecast that was scored
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    histories = np.stack([values[t - 33:t] for t in origins])[..., None].astype(np.float32)
    served = serve(history=tf.constant(histories))["median"].numpy()
    assert np.abs(truth - served).mean() / scale == pytest.approx(
        manifest["metrics"]["test_mase"], rel=1e-4)

    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    history = data.load_embedded("sunspots").values[-33:][None]
    out = serve(history=tf.constant(history))
    quantiles = out["quantiles"].numpy()
    assert quantiles.shape == (1, 5, 3) and (np.diff(quantiles, axis=-1) >= 0).all()
    np.testing.assert_allclose(out["median"].numpy(), quantiles[..., 1])
    # scaling lives in the graph: the forecast moves with the units of the history
    shifted = serve(history=tf.constant(history * 10 + 1000))["quantiles"].numpy()
    np.testing.assert_allclose(shifted, quantiles * 10 + 1000, rtol=1e-3)

    csv = workdir / "history.csv"
    years = pd.date_range("1960", periods=40, freq="YS").strftime("%Y-%m-%d")
    pd.DataFrame({"year": years, "sunspots": data.load_embedded("sunspots").values[-40:, 0]}
                 ).to_csv(csv, index=False)
    assert_manifest_matches_model(version)
    capsys.readouterr()
    assert main(["predict", "forecasting", str(csv)]) == 0
    out_lines = capsys.readouterr().out.splitlines()
    isolated = predict_without_training_code("forecasting", str(csv), cwd=workdir)
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.stdout.splitlines() == out_lines
    assert out_lines[2].split() == ["step", "time", "q0.1", "q0.5", "q0.9"]
    assert out_lines[3].split()[:2] == ["1", "2000-01-01"] and len(out_lines) == 8

    reordered = workdir / "reordered.csv"
    pd.DataFrame({"year": years, "other": np.arange(40.0),
                  "sunspots": data.load_embedded("sunspots").values[-40:, 0]}
                 ).to_csv(reordered, index=False)
    assert main(["predict", "forecasting", str(reordered)]) == 0
    assert capsys.readouterr().out.splitlines()[3:] == out_lines[3:]  # the target by its name

    renamed = workdir / "renamed.csv"
    pd.DataFrame({"year": years, "spots": data.load_embedded("sunspots").values[-40:, 0]}
                 ).to_csv(renamed, index=False)
    assert main(["predict", "forecasting", str(renamed)]) == 2
    assert "renamed.csv: the model reads the column(s) 'sunspots'; missing 'sunspots'" in \
        capsys.readouterr().err

    assert main(["predict", "forecasting", str(workdir / "missing.csv")]) == 2
    assert "missing.csv: cannot read it" in capsys.readouterr().err

    short = workdir / "short.csv"
    pd.DataFrame({"year": years[:10], "sunspots": range(10)}).to_csv(short, index=False)
    assert main(["predict", "forecasting", str(short)]) == 2
    assert "10 rows; the model needs the last 33" in capsys.readouterr().err


def test_csv_with_a_covariate_end_to_end(workdir):
    path = _daily_csv(workdir / "sales.csv", days=150, gap=True)
    assert main(["run", "forecasting", "--data", str(path), "--set", "data.target=sales",
                 "--set", "data.covariates=price", "--set", "model.cell=gru", *TINY]) == 0
    version = workdir / "saved_models" / "forecasting" / "1"
    manifest = export.read_manifest(version)
    assert manifest["series"]["columns"] == ["sales", "price"]
    assert manifest["inputs"]["history"]["shape"] == [None, 14, 2]
    out = tf.saved_model.load(str(version)).signatures["serving_default"](
        history=tf.zeros((2, 14, 2)) + 100.0)
    assert out["quantiles"].shape == (2, 7, 3)


def test_bad_forecasting_config_fails_before_any_work(workdir, capsys):
    assert main(["run", "forecasting", "--set", "model.quantiles=0.9,0.1"]) == 2
    assert "'model.quantiles': got (0.9, 0.1), expected distinct ascending" in \
        capsys.readouterr().err
    assert main(["run", "forecasting", "--set", "data.dataset=airline"]) == 2
    assert "expected one of co2, sunspots" in capsys.readouterr().err
    assert not (workdir / "saved_models").exists()


def test_limit_keeps_the_latest_training_windows_and_the_whole_backtest():
    full = data.load(load_config(ForecastingConfig, overrides=["data.dataset=sunspots"]).data)
    small = data.load(load_config(ForecastingConfig, overrides=["data.dataset=sunspots",
                                                                "data.limit=50"]).data)
    assert small.info.sizes == {**full.info.sizes, "train": 50}
    np.testing.assert_array_equal(small.info.state.origins["train"],
                                  full.info.state.origins["train"][-50:])


def test_a_training_part_shorter_than_a_season_is_an_error(tmp_path):
    path = _daily_csv(tmp_path / "s.csv", days=60)
    config = load_config(ForecastingConfig, overrides=[
        f"data.path={path}", "data.test_size=25", "data.val_size=25", "data.lookback=3",
        "data.horizon=2", "data.season=12"])
    with pytest.raises(DataError, match=r"training part \(10 steps before validation\) must "
                                        r"be longer than one season \(12\)"):
        data.load(config.data)
