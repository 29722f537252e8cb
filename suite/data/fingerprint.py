"""Content fingerprints of data sets, logged with every run."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np


def fingerprint_arrays(*arrays) -> str:
    """A short SHA-256 of arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def fingerprint_files(paths, root: str | Path) -> str:
    """A short SHA-256 of files' paths (relative to `root`) and contents."""
    digest = hashlib.sha256()
    root = Path(root)
    for path in sorted(Path(p) for p in paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def fingerprint_state(state) -> str:
    """A short SHA-256 of fitted preprocessing state: dataclasses, bytes, arrays, strings,
    numbers, sequences and mappings (and pandas indexes), walked in a stable order."""
    digest = hashlib.sha256()

    def walk(value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            digest.update(type(value).__name__.encode())
            for field in dataclasses.fields(value):
                digest.update(field.name.encode())
                walk(getattr(value, field.name))
        elif isinstance(value, (bytes, bytearray)):
            digest.update(bytes(value))
        elif isinstance(value, np.ndarray):
            walk_array(value)
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                digest.update(str(key).encode())
                walk(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(f"[{len(value)}".encode())
            for item in value:
                walk(item)
        elif hasattr(value, "to_numpy"):  # a pandas index or series
            walk_array(np.asarray(value.to_numpy()).astype(str))
        else:
            digest.update(repr(value).encode())

    def walk_array(array):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())

    walk(state)
    return digest.hexdigest()[:16]
