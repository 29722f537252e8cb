"""A real-world labeled text folder built from what every Python installation carries: the
docstrings of the standard library, one label folder per top-level package.

Each document is one module, class or function docstring of at least `min_words` words;
its label is the package it documents (`email`, `asyncio`, `xml`, `tkinter`, ...). The
labels are honest (where the text lives), the texts are written by many authors, and the
classes overlap in vocabulary (`http` and `urllib`, `email` and `http`), so it is a
retrieval task the document-retrieval defaults were not tuned on.
"""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

LEFT_OUT = ("test", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__",
            "ensurepip", "turtledemo", "pydoc_data")


def docstrings(path: Path) -> list[str]:
    """The module, class and function docstrings of one Python source file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    nodes = [tree, *(n for n in ast.walk(tree)
                     if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)))]
    return [d for d in (ast.get_docstring(n) for n in nodes) if d]


def docstring_folder(root: str | Path, min_words: int = 12, min_docs: int = 40,
                     max_docs: int = 400) -> Path:
    """Writes `root/<package>/<n>.txt`, one docstring per file, for every standard-library
    package with at least `min_docs` distinct docstrings of `min_words` words or more (at
    most `max_docs` per package, the first in file order). Returns `root`.

    Raises:
        FileExistsError: if `root` exists already.
    """
    root = Path(root)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    root.mkdir(parents=True)
    for package in sorted(p for p in stdlib.iterdir() if p.is_dir()):
        if package.name in LEFT_OUT or not (package / "__init__.py").is_file():
            continue
        seen, texts = set(), []
        for source in sorted(package.rglob("*.py")):
            if any(part in LEFT_OUT or part == "tests" for part in source.parts):
                continue
            for text in docstrings(source):
                key = " ".join(text.split()).casefold()
                if len(text.split()) >= min_words and key not in seen:
                    seen.add(key)
                    texts.append(text)
        if len(texts) < min_docs:
            continue
        (root / package.name).mkdir()
        for i, text in enumerate(texts[:max_docs]):
            (root / package.name / f"{i:04d}.txt").write_text(text + "\n", encoding="utf-8")
    return root


if __name__ == "__main__":
    import sys

    folder = docstring_folder(sys.argv[1] if len(sys.argv) > 1 else "stdlib-docstrings")
    for label in sorted(folder.iterdir()):
        print(f"{label.name:<20}{len(list(label.iterdir())):>6}")
