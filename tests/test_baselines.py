"""Declared baselines: selection, the cache key, reuse and an unreadable cache."""

import numpy as np
import pytest

from suite.baselines import Baseline, BaselineCache, select
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
