"""Typed run configs: dataclass defaults, an optional TOML file and `--set key=value` overrides.

Every knob of a pipeline is a field of its `Config` dataclass, grouped in sections
(`trainer`, `data`, `model`, `export`, ...). A key is addressed as `section.field`. Values
given as text (`--set trainer.epochs=5`) are parsed to the field's type; values from TOML
are checked against it. An unknown key, a wrong type or an out-of-range value raises
`ConfigError` naming the key, the value received and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ConfigError(ValueError):
    """A config key, value or file that cannot be used, with what is allowed."""


def option(default, *, choices=None, min=None, max=None, help=""):
    """Declares a config field with its default and the values it allows.

    Args:
        default: the default value (immutable: use tuples for sequences).
        choices: the allowed values, if the field is an enumeration.
        min: the smallest allowed value (inclusive), for numbers and each number of a tuple.
        max: the largest allowed value (inclusive).
        help: one line saying what the key does, for readers of the config class.
    """
    metadata = {"choices": choices, "min": min, "max": max, "help": help}
    return dataclasses.field(default=default, metadata=metadata)


def section(cls, **defaults):
    """Declares a nested config section whose defaults differ from `cls`'s own.

    Args:
        cls: the section dataclass.
        **defaults: field values that replace the class defaults for this config.
    """
    return dataclasses.field(default_factory=lambda: cls(**defaults))


@dataclasses.dataclass
class TrainerConfig:
    """How `model.fit` runs: epochs, batching, optimizer, XLA, precision and strategy."""

    epochs: int = option(10, min=1, help="maximum number of epochs")
    batch_size: int = option(32, min=1, help="global batch size (split across replicas)")
    learning_rate: float = option(1e-3, min=1e-9, max=10.0, help="initial learning rate")
    optimizer: str = option("adam", choices=("adam", "adamw", "sgd", "rmsprop"))
    weight_decay: float = option(0.0, min=0.0, help="decoupled weight decay (adamw)")
    gradient_clip_norm: float | None = option(
        None, min=1e-6, help="clip each gradient to this norm (none: no clipping)"
    )
    jit_compile: str = option("auto", choices=("auto", "true", "false"), help="XLA")
    mixed_precision: str = option(
        "false", choices=("false", "true", "bfloat16", "auto"),
        help="16-bit compute, float32 variables: true is float16 (GPUs), bfloat16 suits CPUs "
             "with AMX or AVX512-BF16 (and TPUs); auto picks float16 on a GPU, bfloat16 on "
             "such a CPU, else float32"
    )
    strategy: str = option("default", choices=("default", "mirrored", "multi_worker"))
    seed: int = option(42, min=0, help="seed for weights, shuffling and dropout")
    early_stopping_patience: int = option(
        5, min=0, help="epochs without improvement before stopping (0: never)"
    )
    schedule: str = option(
        "constant", choices=("constant", "cosine"),
        help="learning rate per epoch: constant, or cosine decay from learning_rate to "
             "near 0 at the last epoch"
    )
    reduce_lr_patience: int = option(
        0, min=0, help="halve the learning rate after this many epochs without improvement "
                       "(0: never)"
    )
    cache_mb: int = option(
        2048, min=0, help="cache decoded examples in memory when a split fits in this size"
    )
    resume: bool = option(True, help="resume an interrupted run from its backup")
    verbose: str = option("auto", choices=("auto", "0", "1", "2"), help="Keras fit verbosity")


@dataclasses.dataclass
class DataConfig:
    """Where the data comes from and how it is split."""

    path: str | None = option(None, help="a dataset in a real-world format; none: embedded")
    limit: int | None = option(None, min=1, help="use at most this many examples")
    seed: int = option(0, min=0, help="seed of the split")
    val_fraction: float = option(0.1, min=0.0, max=0.5)
    test_fraction: float = option(0.2, min=0.01, max=0.5)
    on_error: str = option("skip", choices=("skip", "stop"), help="bad input file: skip or stop")


@dataclasses.dataclass
class ImageDataConfig(DataConfig):
    """Images: the data keys plus random training augmentation (see
    `suite.data.augment.joint_affine` for images with masks)."""

    flip: str = option("none", choices=("none", "horizontal", "vertical",
                                        "horizontal_and_vertical"))
    rotation: float = option(0.0, min=0.0, max=0.5, help="max random rotation, share of a turn")
    zoom: float = option(0.0, min=0.0, max=0.9, help="max random zoom, share of the size")
    translation: float = option(0.0, min=0.0, max=0.5, help="max random shift, share of size")


@dataclasses.dataclass
class ExportConfig:
    """Where the SavedModel goes."""

    dir: str = option("saved_models", help="export root: <dir>/<pipeline>/<version>/")
    register: bool = option(True, help="register the export in the MLflow Model Registry "
                                       "under the pipeline's name (the champion alias moves "
                                       "to it if its main test metric is better)")


@dataclasses.dataclass
class EvalConfig:
    """What a run compares its model with."""

    baselines: str = option("all", help="the baselines to run: all, none, or comma-separated "
                                        "names (a pipeline's declared baselines)")


@dataclasses.dataclass
class Config:
    """The base of every pipeline's config: the sections all pipelines share."""

    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    def resolve(self, explicit: set[str]) -> None:
        """Fills defaults that depend on other keys (e.g. per data set), leaving alone the
        keys in `explicit`, which the user set in a file or an override."""

    def check(self) -> None:
        """Checks rules that span several keys; raises `ConfigError`."""
        if self.trainer.schedule != "constant" and self.trainer.reduce_lr_patience > 0:
            raise ConfigError(
                f"config keys 'trainer.schedule' = {self.trainer.schedule!r} and "
                f"'trainer.reduce_lr_patience' = {self.trainer.reduce_lr_patience}: both "
                "set the learning rate; use one (reduce_lr_patience=0 with a schedule)"
            )
        if self.data.val_fraction + self.data.test_fraction >= 0.9:
            raise ConfigError(
                f"config keys 'data.val_fraction' + 'data.test_fraction' = "
                f"{self.data.val_fraction} + {self.data.test_fraction}: "
                "they must leave at least 10% of the data for training"
            )


def load_config(cls: type[Config], path: str | Path | None = None, overrides=()) -> Config:
    """Builds a config from `cls`'s defaults, a TOML file and `key=value` overrides.

    Args:
        cls: the pipeline's `Config` dataclass.
        path: an optional TOML file whose tables are the config sections.
        overrides: strings `section.field=value`, applied in order after the file.

    Example:
        >>> cfg = load_config(Config, overrides=["trainer.epochs=3"])
        >>> cfg.trainer.epochs
        3
    """
    config = cls()
    explicit = set()
    if path is not None:
        for key, value in _flatten_mapping(_read_toml(Path(path))).items():
            set_value(config, key, value, source=str(path))
            explicit.add(key)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. trainer.epochs=5")
        set_value(config, key.strip(), text.strip(), from_text=True)
        explicit.add(key.strip())
    config.resolve(explicit)
    validate(config)
    return config


def set_value(config, key: str, value: Any, from_text: bool = False, source: str = "") -> None:
    """Sets one dotted key, parsing (text) or checking (TOML) the value against its type."""
    target, field, type_ = _lookup(config, key, source)
    if from_text:
        value = _parse_text(key, value, type_)
    else:
        value = _coerce(key, value, type_)
    _check_bounds(key, value, field)
    setattr(target, field.name, value)


def validate(config) -> None:
    """Checks every value against its field's type, choices and bounds, then `config.check()`."""
    hints = _leaf_fields(config)
    for key, (target, field, type_) in hints.items():
        value = getattr(target, field.name)
        _check_bounds(key, _coerce(key, value, type_), field)
    config.check()


def flatten(config) -> dict[str, Any]:
    """The config as `{"section.field": value}`, the form logged as MLflow params."""
    return {key: getattr(t, f.name) for key, (t, f, _) in _leaf_fields(config).items()}


def to_dict(config) -> dict[str, dict[str, Any]]:
    """The config as nested plain dicts (JSON/TOML ready; tuples become lists)."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in flatten(config).items():
        head, _, tail = key.partition(".")
        nested.setdefault(head, {})[tail] = list(value) if isinstance(value, tuple) else value
    return nested


def keys(config) -> list[str]:
    """All valid dotted keys of a config."""
    return list(_leaf_fields(config))


# --- internals -------------------------------------------------------------------------


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8: {e}") from None


def _flatten_mapping(mapping: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten_mapping(value, key + "."))
        else:
            flat[key] = value
    return flat


def _leaf_fields(config) -> dict[str, tuple[Any, dataclasses.Field, Any]]:
    leaves = {}
    for section_field in dataclasses.fields(config):
        sec = getattr(config, section_field.name)
        hints = typing.get_type_hints(type(sec))
        for field in dataclasses.fields(sec):
            leaves[f"{section_field.name}.{field.name}"] = (sec, field, hints[field.name])
    return leaves


def _lookup(config, key: str, source: str):
    leaves = _leaf_fields(config)
    if key not in leaves:
        where = f" in {source!r}" if source else ""
        close = difflib.get_close_matches(key, leaves, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown config key {key!r}{where}{hint} Valid keys: {', '.join(leaves)}"
        )
    return leaves[key]


def _split_optional(type_):
    args = typing.get_args(type_)
    if typing.get_origin(type_) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return type_, False


def _describe(type_) -> str:
    inner, optional = _split_optional(type_)
    if typing.get_origin(inner) is tuple:
        elem = typing.get_args(inner)[0]
        text = f"a comma-separated list of {_describe(elem)}s"
    else:
        text = {bool: "a boolean (true/false)", int: "an integer", float: "a number",
                str: "a string"}.get(inner, str(inner))
    return text + (" or 'none'" if optional else "")


def _parse_text(key: str, text: str, type_):
    inner, optional = _split_optional(type_)
    if optional and text.lower() in ("none", "null", ""):
        return None
    try:
        if typing.get_origin(inner) is tuple:
            elem = typing.get_args(inner)[0]
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(_parse_scalar(p, elem) for p in parts)
        return _parse_scalar(text, inner)
    except ValueError:
        raise ConfigError(
            f"config key {key!r}: got {text!r}, expected {_describe(type_)}"
        ) from None


def _parse_scalar(text: str, type_):
    if type_ is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)
    if type_ is str:
        return text
    return type_(text)


def _coerce(key: str, value, type_):
    inner, optional = _split_optional(type_)
    if value is None and optional:
        return None
    if typing.get_origin(inner) is tuple:
        if isinstance(value, (list, tuple)):
            elem = typing.get_args(inner)[0]
            return tuple(_coerce_scalar(key, v, elem, type_) for v in value)
        raise ConfigError(f"config key {key!r}: got {value!r}, expected {_describe(type_)}")
    return _coerce_scalar(key, value, inner, type_)


def _coerce_scalar(key, value, type_, full_type):
    if type_ is str and isinstance(value, bool):
        return str(value).lower()  # `jit_compile = true` in TOML means "true"
    if type_ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, type_) and not (type_ is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key {key!r}: got {value!r}, expected {_describe(full_type)}")


def _check_bounds(key: str, value, field: dataclasses.Field) -> None:
    meta = field.metadata
    choices, lo, hi = meta.get("choices"), meta.get("min"), meta.get("max")
    if value is None:
        return
    if choices is not None and value not in choices:
        raise ConfigError(
            f"config key {key!r}: got {value!r}, expected one of {', '.join(map(str, choices))}"
        )
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"config key {key!r}: got {value!r}, expected a finite number")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                bounds = " and ".join(
                    s for s in (f">= {lo}" if lo is not None else "",
                                f"<= {hi}" if hi is not None else "") if s
                )
                raise ConfigError(f"config key {key!r}: got {value!r}, expected a value {bounds}")
