"""The README's command lines work as written: each `suite ...` line parses, and a run's
keys and values are ones its config accepts (no training)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from suite import registry
from suite.cli import _parser, _run_overrides
from suite.config import load_config

README = Path(__file__).resolve().parents[1] / "README.md"


def _command_lines() -> list[str]:
    lines = []
    for line in README.read_text().splitlines():
        text = line.strip()
        if line.startswith("    ") and text.startswith(("suite ", ".venv/bin/suite ")):
            lines.append(text.split("  #")[0].strip())
    return lines


def test_the_readme_shows_commands():
    commands = _command_lines()
    assert len(commands) >= 15
    for verb in ("run", "predict", "serve", "runs", "ui", "champion", "launch", "tune", "list"):
        assert any(shlex.split(c)[1] == verb for c in commands), verb


@pytest.mark.parametrize("line", _command_lines())
def test_each_command_line_parses(line):
    args = shlex.split(line)[1:]
    parsed = _parser().parse_args(args)
    if parsed.command == "run" and not parsed.config:
        names = registry.names() if parsed.pipeline == "all" else [parsed.pipeline]
        for name in names:
            cls = registry.get(name)
            load_config(cls.config_cls, None, _run_overrides(parsed))
    if parsed.command in ("predict", "tune", "launch", "ui", "runs", "champion") and \
            getattr(parsed, "pipeline", None) not in (None, "all"):
        registry.get(parsed.pipeline)
    if parsed.command == "predict":
        registry.get(parsed.target)
