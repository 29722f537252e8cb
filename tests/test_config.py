import pytest

from suite.config import (Config, ConfigError, flatten, keys, load_config, to_dict)
from pipelines.image_classification.config import ImageClassificationConfig


def test_defaults_and_overrides_are_parsed_to_the_field_type():
    cfg = load_config(Config, overrides=[
        "trainer.epochs=3", "trainer.learning_rate=0.01", "trainer.mixed_precision=true",
        "data.limit=200", "data.path=/tmp/x", "trainer.jit_compile=false",
    ])
    assert cfg.trainer.epochs == 3 and isinstance(cfg.trainer.epochs, int)
    assert cfg.trainer.learning_rate == 0.01
    assert cfg.trainer.mixed_precision == "true"
    assert cfg.data.limit == 200 and cfg.data.path == "/tmp/x"
    assert cfg.trainer.jit_compile == "false"


def test_none_and_tuples():
    cfg = load_config(ImageClassificationConfig, overrides=[
        "data.limit=none", "model.filters=16,32,64", "model.dense_units=(64)"])
    assert cfg.data.limit is None
    assert cfg.model.filters == (16, 32, 64)
    assert cfg.model.dense_units == (64,)


def test_toml_file_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[trainer]\nepochs = 7\nlearning_rate = 1\njit_compile = true\n'
                    '[model]\nfilters = [8, 16]\n')
    cfg = load_config(ImageClassificationConfig, path, ["trainer.epochs=9"])
    assert cfg.trainer.epochs == 9
    assert cfg.trainer.learning_rate == 1.0 and isinstance(cfg.trainer.learning_rate, float)
    assert cfg.trainer.jit_compile == "true"
    assert cfg.model.filters == (8, 16)


def test_unknown_key_suggests_and_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        load_config(Config, overrides=["trainer.epoch=3"])
    message = str(e.value)
    assert "'trainer.epoch'" in message
    assert "did you mean 'trainer.epochs'" in message
    assert "trainer.batch_size" in message and "data.limit" in message


@pytest.mark.parametrize("override, expected", [
    ("trainer.epochs=three", "'trainer.epochs': got 'three', expected an integer"),
    ("trainer.epochs=0", "'trainer.epochs': got 0, expected a value >= 1"),
    ("trainer.optimizer=adm", "'trainer.optimizer': got 'adm', expected one of adam, adamw"),
    ("trainer.strategy=tpu", "expected one of default, mirrored, multi_worker"),
    ("trainer.mixed_precision=maybe", "expected one of false, true, bfloat16, auto"),
    ("data.test_fraction=0.9", "'data.test_fraction': got 0.9, expected a value >= 0.01 and <= 0.5"),
    ("model.filters=8,x", "'model.filters': got '8,x', expected a comma-separated list"),
    ("model.filters=8,0", "'model.filters': got (8, 0), expected a value >= 1"),
    ("trainer.epochs", "expected key=value"),
])
def test_bad_values_name_key_value_and_allowed(override, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_config(ImageClassificationConfig, overrides=[override])


def test_toml_wrong_type_and_unknown_key_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[trainer]\nepochs = "many"\n')
    with pytest.raises(ConfigError, match="'trainer.epochs': got 'many', expected an integer"):
        load_config(Config, path)
    path.write_text('[trainer]\nepocs = 3\n')
    with pytest.raises(ConfigError, match=f"unknown config key 'trainer.epocs' in '{path}'"):
        load_config(Config, path)
    path.write_text('[trainer\nepochs = 3\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(Config, path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Config, tmp_path / "missing.toml")


def test_cross_key_rules():
    with pytest.raises(ConfigError, match="at least 10% of the data for training"):
        load_config(Config, overrides=["data.val_fraction=0.45", "data.test_fraction=0.5"])
    with pytest.raises(ConfigError, match="'model.filters'.*allows at most 3 stages"):
        load_config(ImageClassificationConfig, overrides=["model.filters=8,8,8,8"])


def test_flatten_and_nested_dict():
    cfg = load_config(ImageClassificationConfig)
    flat = flatten(cfg)
    assert flat["trainer.epochs"] == cfg.trainer.epochs
    assert set(flat) == set(keys(cfg))
    nested = to_dict(cfg)
    assert nested["model"]["filters"] == list(cfg.model.filters)
    for shared in ("trainer.epochs", "trainer.batch_size", "trainer.learning_rate",
                   "trainer.optimizer", "trainer.jit_compile", "trainer.mixed_precision",
                   "trainer.strategy", "trainer.seed", "data.path", "data.limit", "data.seed",
                   "export.dir"):
        assert shared in flat


def test_resolve_fills_per_dataset_defaults_but_keeps_what_the_user_set():
    from pipelines.forecasting.config import ForecastingConfig

    assert load_config(ForecastingConfig).trainer.batch_size == 32
    assert load_config(ForecastingConfig, overrides=["data.dataset=sunspots"]
                       ).trainer.batch_size == 16
    assert load_config(ForecastingConfig, overrides=["data.dataset=sunspots",
                                                     "trainer.batch_size=64"]
                       ).trainer.batch_size == 64


@pytest.mark.parametrize("override", ["trainer.learning_rate=nan", "data.val_fraction=inf"])
def test_non_finite_numbers_are_refused(override):
    with pytest.raises(ConfigError, match="expected a finite number"):
        load_config(Config, overrides=[override])
