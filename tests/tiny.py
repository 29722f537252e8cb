"""Tiny runs of every registered pipeline, for tests that need a real export of each.

The tiny config of a pipeline lives with its own end-to-end test, in
`tests/pipelines/test_<name>.py` (dashes as underscores), and is reused from there:

* `tiny_run_args(workdir) -> list[str]`, if the module defines it: the whole `suite run`
  argument list after the pipeline name (a pipeline whose tiny run needs a data file
  writes it into `workdir` and passes `--data`);
* otherwise its `TINY` list of `suite run` arguments, run on the embedded data.

A pipeline registered later is covered as soon as its test module has either.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def tiny_run_args(name: str, workdir: Path) -> list[str]:
    """The `suite run <name>` arguments of the pipeline's tiny config (baselines off).

    Raises:
        LookupError: if the pipeline's test module is missing or defines neither
            `tiny_run_args` nor `TINY`, naming the module.
    """
    module_name = f"tests.pipelines.test_{name.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise LookupError(f"pipeline {name!r} has no end-to-end test module {module_name}; "
                          "add one with a TINY list or tiny_run_args(workdir)") from None
    if hasattr(module, "tiny_run_args"):
        args = list(module.tiny_run_args(Path(workdir)))
    elif hasattr(module, "TINY"):
        args = list(module.TINY)
    else:
        raise LookupError(f"{module_name} defines neither TINY nor tiny_run_args(workdir): "
                          f"tests that need a tiny export of {name!r} cannot run it")
    return args + ["--set", "eval.baselines=none"]


SPEED_SWITCHES = ["--set", "trainer.jit_compile=true", "--set", "trainer.mixed_precision=bfloat16"]


def train_tiny_exports(root: Path, workdir: Path, names: list[str] | None = None
                       ) -> dict[str, Path]:
    """Runs each pipeline's tiny config once, exporting under `root`, with both speed
    switches on (`SPEED_SWITCHES`: XLA and bfloat16 compute): the serving tests that load,
    serve and query these exports are then also the check that every pipeline trains
    under both switches into a model that exports and reloads.

    Args:
        root: the export root the versions are written to.
        workdir: where data files, the MLflow store and `.suite/` go; the caller makes
            it the working directory and points `MLFLOW_TRACKING_URI` into it.
        names: the pipelines (default: every registered one).

    Returns:
        `{pipeline: version directory}`.

    Raises:
        AssertionError: if a run fails, naming the pipeline and the exit code.
    """
    from suite import export, registry
    from suite.cli import main

    exports = {}
    for name in names or registry.names():
        code = main(["run", name, *tiny_run_args(name, workdir), *SPEED_SWITCHES,
                     "--model-dir", str(root)])
        assert code == 0, f"the tiny run of {name!r} exited with {code}"
        exports[name] = export.latest(root / name)
    return exports
