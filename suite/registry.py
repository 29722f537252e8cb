"""The pipeline registry: CLI names to Pipeline classes, imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suite.pipeline import Pipeline

_classes: dict[str, type[Pipeline]] = {}


class UnknownPipelineError(KeyError):
    """A pipeline name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: type[Pipeline]) -> type[Pipeline]:
    """Registers a Pipeline class under its `name` (usable as a class decorator)."""
    _classes[cls.name] = cls
    return cls


def _builtin() -> dict[str, str]:
    from pipelines import PIPELINES  # the one place pipelines are listed

    return PIPELINES


def names() -> list[str]:
    """The registered pipeline names, built-in ones first in their listed order."""
    builtin = list(_builtin())
    return builtin + sorted(n for n in _classes if n not in builtin)


def get(name: str) -> type[Pipeline]:
    """The Pipeline class registered as `name`.

    Raises:
        UnknownPipelineError: naming the known pipelines.
    """
    if name in _classes:
        return _classes[name]
    target = _builtin().get(name)
    if target is None:
        raise UnknownPipelineError(
            f"unknown pipeline {name!r}; known pipelines: {', '.join(names())}"
        )
    module, _, attr = target.partition(":")
    return register(getattr(importlib.import_module(module), attr))
