"""Versioned, atomic SavedModel export in the TensorFlow Serving layout.

    <root>/<pipeline>/<version>/saved_model.pb, variables/, assets/, suite.json

Versions are integers that only grow: the highest ever issued is remembered in
`<root>/<pipeline>/.last_version`, so deleting the newest version never makes its number
come back. A version is written to a hidden temporary directory (TF Serving ignores
non-numeric names) and appears by one `rename`, so no reader ever sees half of it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

MANIFEST = "suite.json"
_COUNTER = ".last_version"


class ExportError(RuntimeError):
    """An export root or version that cannot be read or written."""


def versions(model_dir: str | Path) -> list[int]:
    """The complete versions under `<root>/<pipeline>`, in ascending order."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def latest(model_dir: str | Path) -> Path:
    """The newest complete version directory under `<root>/<pipeline>`.

    Raises:
        ExportError: if there is none, naming the directory.
    """
    found = versions(model_dir)
    if not found:
        raise ExportError(f"no exported model under {str(model_dir)!r}: run `suite run` first")
    return Path(model_dir) / str(found[-1])


def read_manifest(version_dir: str | Path) -> dict:
    """The `suite.json` manifest of an exported version."""
    path = Path(version_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read the manifest {str(path)!r}: {e}") from None


def export(archive, root: str | Path, pipeline: str, manifest: dict) -> Path:
    """Writes `archive` as the next version of `pipeline` under `root`, atomically.

    Args:
        archive: a `keras.export.ExportArchive` (or anything with `write_out(path)`).
        root: the export root, e.g. `saved_models`.
        pipeline: the pipeline's name, the model's directory under `root`.
        manifest: JSON-serialisable facts about the model; `version` is added.

    Returns:
        The new version's directory.
    """
    model_dir = Path(root) / pipeline
    tmp = model_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        archive.write_out(str(tmp), verbose=False)
        while True:
            version = _next_version(model_dir)
            (tmp / MANIFEST).write_text(json.dumps({**manifest, "version": version}, indent=2,
                                                   default=str) + "\n")
            target = model_dir / str(version)
            try:
                os.rename(tmp, target)  # atomic; fails if another export took the number
            except OSError:
                if target.exists():
                    _bump_counter(model_dir, version)
                    continue
                raise
            _bump_counter(model_dir, version)
            return target
    except OSError as e:
        raise ExportError(f"cannot export {pipeline!r} under {str(root)!r}: {e}; no new "
                          "version was written") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _next_version(model_dir: Path) -> int:
    highest = max((int(p.name) for p in model_dir.iterdir() if p.name.isdigit()), default=0)
    try:
        highest = max(highest, int((model_dir / _COUNTER).read_text().strip() or 0))
    except (OSError, ValueError):
        pass
    return highest + 1


def _bump_counter(model_dir: Path, version: int) -> None:
    counter = model_dir / _COUNTER
    try:
        version = max(version, int(counter.read_text().strip() or 0))
    except (OSError, ValueError):
        pass
    tmp = model_dir / f".tmp-counter-{uuid.uuid4().hex}"
    tmp.write_text(f"{version}\n")
    os.replace(tmp, counter)
