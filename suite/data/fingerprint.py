"""Content fingerprints of data sets, logged with every run."""

from __future__ import annotations

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
