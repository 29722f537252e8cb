"""Declared baselines: selection, the cache key, reuse, an unreadable cache, and which one
is the strongest."""

import numpy as np
import pytest

from suite.baselines import Baseline, BaselineCache, compare, select
from suite.config import ConfigError
from suite.data import DataInfo, Splits


def _splits(fingerprint="f1"):
    return Splits(None, None, None, DataInfo(fingerprint=fingerprint, sizes={}))


def _counting(name="mean", depends_on=("model.k",)):
    calls = []

    def fit(splits, workdir):
        calls.append(workdir)
        return 3.0

    return Baseline(name, fit=fit, predict=lambda fitted, splits: {"y": np.full(4, fitted),
                                                                   "words": ["a", "b"]},
                    depends_on=depends_on), calls


PARAMS = {"data.seed": 0, "model.k": 2, "model.other": 1, "trainer.verbose": "auto"}


def test_results_are_reused_until_their_data_or_config_changes(tmp_path):
    baseline, calls = _counting()
    cache = BaselineCache("toy", tmp_path)
    first = cache.run(baseline, _splits(), PARAMS, run_id="r1")
    assert not first.reused and len(calls) == 1
    np.testing.assert_array_equal(first.predictions["y"], [3.0] * 4)

    again = cache.run(baseline, _splits(), {**PARAMS, "model.other": 9, "trainer.verbose": "0"},
                      run_id="r2")
    assert again.reused and again.run_id == "r1" and len(calls) == 1
    assert again.predictions["words"].tolist() == ["a", "b"]

    cache.run(baseline, _splits(), {**PARAMS, "model.k": 3})       # its own key changed
    cache.run(baseline, _splits(), {**PARAMS, "data.seed": 1})     # the split changed
    cache.run(baseline, _splits("f2"), PARAMS)                     # the data changed
    assert len(calls) == 4


def test_a_new_baseline_version_is_not_served_old_results(tmp_path):
    baseline, calls = _counting()
    cache = BaselineCache("toy", tmp_path)
    cache.run(baseline, _splits(), PARAMS)
    newer = Baseline(baseline.name, baseline.fit, baseline.predict, baseline.depends_on,
                     version=2)
    assert not cache.run(newer, _splits(), PARAMS).reused


def test_an_unreadable_cache_is_computed_again(tmp_path):
    baseline, calls = _counting()
    cache = BaselineCache("toy", tmp_path)
    cache.run(baseline, _splits(), PARAMS)
    directory = cache.directory(cache.key(baseline, "f1", PARAMS))
    (directory / "predictions.npz").write_bytes(b"truncated")
    result = cache.run(baseline, _splits(), PARAMS)
    assert not result.reused and len(calls) == 2
    assert cache.run(baseline, _splits(), PARAMS).reused  # and cached afresh


def test_a_failing_fit_leaves_nothing_that_looks_complete(tmp_path):
    def fit(splits, workdir):
        raise RuntimeError("no convergence")

    broken = Baseline("broken", fit=fit, predict=lambda f, s: {})
    cache = BaselineCache("toy", tmp_path)
    with pytest.raises(RuntimeError):
        cache.run(broken, _splits(), PARAMS)
    assert not list(tmp_path.rglob("predictions.npz"))


def test_select_by_name():
    a, _ = _counting("a")
    b, _ = _counting("b")
    assert select([a, b], "all") == [a, b]
    assert select([a, b], "none") == []
    assert select([a, b], " b, a,b ") == [b, a]
    with pytest.raises(ConfigError, match=r"got 'c', expected all, none or a comma-separated "
                                          r"list of a, b"):
        select([a, b], "c")
    with pytest.raises(ConfigError, match=r"got ','"):
        select([a, b], ",")


def test_baseline_names_are_metric_safe():
    with pytest.raises(ValueError, match="Baseline name: got 'no attention'"):
        Baseline("no attention", fit=None, predict=None)


# --- the strongest baseline ------------------------------------------------------------

def test_the_strongest_baseline_is_the_best_in_the_metrics_direction():
    up = compare({"test_accuracy": 0.96, "baseline_logistic_regression_accuracy": 0.93,
                  "baseline_mlp_accuracy": 0.95}, "accuracy", True,
                 ["logistic_regression", "mlp"], ablation="logistic_regression")
    assert (up.strongest, up.strongest_value, up.beaten_by) == ("mlp", 0.95, ())
    assert up.margin == pytest.approx(0.01) and up.verdict() == "wins (margin +0.0100)"
    assert up.ablation == ("logistic_regression", 0.93)
    assert up.line() == ("test_accuracy 0.9600 vs strongest baseline mlp 0.9500: wins (margin "
                         "+0.0100); ablation logistic_regression 0.9300")
    assert up.warning() is None

    down = compare({"test_mase": 0.53, "baseline_naive_mase": 1.2,
                    "baseline_seasonal_naive_mase": 1.1, "baseline_ets_mase": 0.45},
                   "mase", False, ["naive", "seasonal_naive", "ets"],
                   ablation="seasonal_naive")
    assert (down.strongest, down.beaten_by) == ("ets", ("ets",))
    assert down.margin == pytest.approx(-0.08)
    assert down.verdict() == "BEATEN by ets (margin -0.0800)"
    assert down.warning() == ("WARNING: baseline ets (0.4500) beats the model on test_mase: "
                              "the model has 0.5300 (lower is better)")
    assert down.summary()["beaten_by"] == ["ets"]
    assert down.summary()["strongest_baseline"] == "ets"


def test_on_a_tie_the_simpler_baseline_is_the_strongest():
    metrics = {"test_cer": 0.2, "baseline_b_cer": 0.25, "baseline_a_cer": 0.25}
    assert compare(metrics, "cer", False, ["a", "b"]).strongest == "a"
    assert compare(metrics, "cer", False, ["b", "a"]).strongest == "b"
    tie = compare({"test_accuracy": 0.9, "baseline_a_accuracy": 0.9}, "accuracy", True, ["a"])
    assert not tie.beaten and tie.verdict() == "ties"  # beaten means strictly better


def test_every_baseline_that_beats_the_model_is_named_best_first():
    c = compare({"test_accuracy": 0.5, "baseline_a_accuracy": 0.6, "baseline_b_accuracy": 0.9,
                 "baseline_c_accuracy": 0.4}, "accuracy", True, ["a", "b", "c"])
    assert c.beaten_by == ("b", "a")
    assert c.warning() == ("WARNING: baselines b (0.9000), a (0.6000) beat the model on "
                           "test_accuracy: the model has 0.5000 (higher is better)")


def test_only_declared_baselines_count_and_non_finite_values_are_ignored():
    metrics = {"test_cer": 0.2, "baseline_unidirectional_cer": 0.3,
               "baseline_unidirectional_unseen_accent_cer": 0.1,  # another metric
               "baseline_broken_cer": float("nan")}
    c = compare(metrics, "cer", False, ["unidirectional", "broken"])
    assert c.strongest == "unidirectional" and c.scores == {"unidirectional": 0.3}
    assert not c.beaten
    none = compare({"test_cer": 0.2}, "cer", False, ["unidirectional"])
    assert none.strongest is None and none.margin is None
    assert none.line() == "test_cer 0.2000; no baseline scored"
    nan_model = compare({"test_cer": float("nan"), "baseline_u_cer": 0.3}, "cer", False, ["u"])
    assert nan_model.beaten_by == ("u",)  # a model without a value is beaten by any score
