"""Versioned, atomic SavedModel export in the TensorFlow Serving layout.

    <root>/<pipeline>/<version>/saved_model.pb, variables/, assets/, suite.json

The manifest's `signatures` (and its `inputs`/`outputs`, those of `serving_default`) are
read from the written SavedModel itself, so their names, dtypes and shapes are the real
ones; the pipeline adds what a signature cannot say (the kind of each input, for the
prediction adapters, and a description).

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


def read_signatures(version_dir: str | Path) -> dict[str, dict]:
    """The signatures of a SavedModel, read from its `saved_model.pb` without loading it.

    Returns:
        `{signature: {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}}`, shapes as
        lists with `None` for unknown dimensions (and `None` for an unknown rank), as TF
        Serving's metadata reports them.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(version_dir) / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(path.read_bytes())
    except (OSError, DecodeError) as e:
        raise ExportError(f"cannot read the SavedModel {str(path)!r}: {e}") from None

    def tensors(infos):
        out = {}
        for name in sorted(infos):
            info = infos[name]
            shape = (None if info.tensor_shape.unknown_rank else
                     [d.size if d.size >= 0 else None for d in info.tensor_shape.dim])
            out[name] = {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}
        return out

    return {name: {"inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs)}
            for graph in proto.meta_graphs for name, sig in sorted(graph.signature_def.items())
            if not name.startswith("__")}


def describe_signatures(signatures: dict, descriptions: dict) -> dict:
    """The real signatures with the pipeline's descriptions of their tensors merged in.

    Args:
        signatures: from `read_signatures`.
        descriptions: `{signature: {"inputs": {name: {...}}, "outputs": {name: {...}}}}`,
            e.g. `{"kind": "encoded_image", "description": "..."}` per tensor.

    Raises:
        ExportError: if a description names a signature or tensor the model does not have.
    """
    merged = json.loads(json.dumps(signatures))
    for name, parts in descriptions.items():
        for side, tensors in parts.items():
            for tensor, extra in tensors.items():
                try:
                    merged[name][side][tensor].update(extra)
                except KeyError:
                    raise ExportError(
                        f"the manifest describes {side[:-1]} {tensor!r} of signature {name!r}, "
                        f"which the exported model does not have; it has "
                        f"{json.dumps({n: sorted(s[side]) for n, s in signatures.items()})}"
                    ) from None
    return merged


def export(archive, root: str | Path, pipeline: str, manifest: dict,
           descriptions: dict | None = None) -> Path:
    """Writes `archive` as the next version of `pipeline` under `root`, atomically.

    Args:
        archive: a `keras.export.ExportArchive` (or anything with `write_out(path)`).
        root: the export root, e.g. `saved_models`.
        pipeline: the pipeline's name, the model's directory under `root`.
        manifest: JSON-serialisable facts about the model; `version`, `signatures`,
            `inputs` and `outputs` are added.
        descriptions: what the signatures' tensors are (see `describe_signatures`).

    Returns:
        The new version's directory.
    """
    model_dir = Path(root) / pipeline
    tmp = model_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        archive.write_out(str(tmp), verbose=False)
        signatures = describe_signatures(read_signatures(tmp), descriptions or {})
        default = signatures.get(manifest.get("signature_name", "serving_default"), {})
        manifest = {**manifest, "inputs": default.get("inputs", {}),
                    "outputs": default.get("outputs", {}), "signatures": signatures}
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
