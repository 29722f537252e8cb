"""Real-world labeled text folders built from what the machine carries, in the layout
`data.path` reads (one sub-folder per label, one text file per document):

* `docstring_folder`: the docstrings of the standard library, one label folder per
  top-level package. Each document is one module, class or function docstring of at
  least `min_words` words; its label is the package it documents (`email`, `asyncio`,
  `xml`, `tkinter`, ...). The labels are honest (where the text lives), the texts are
  written by many authors, and the classes overlap in vocabulary (`http` and `urllib`,
  `email` and `http`).
* `man_page_folder`: the English manual pages installed under /usr/share/man, labelled by
  manual section (1 commands, 2 system calls, 3 library functions, 5 file formats, 7
  overviews, 8 administration): technical prose from thousands of authors, the roff
  markup stripped.
"""

from __future__ import annotations

import ast
import gzip
import re
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


MAN_ROOT = Path("/usr/share/man")
MAN_SECTIONS = ("1", "2", "3", "5", "7", "8")
_ROFF_PROSE = {"SH", "SS", "B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB"}
_ROFF_ESCAPE = re.compile(r"\\(f[BIRP]|f\(..|s[-+]?\d+|\(..|\*\(..|\*.|[-e&|^ 0c])")


def man_page_text(path: Path, max_words: int) -> str:
    """The prose of one (possibly gzipped) roff manual page: requests, comments and font
    escapes dropped, at most `max_words` words; empty if unreadable."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile):
        return ""
    words = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith((".", "'")):
            request, _, rest = line[1:].partition(" ")
            if request not in _ROFF_PROSE:  # the words of headings and font changes stay
                continue
            line = rest.replace('"', " ")
        words += _ROFF_ESCAPE.sub(" ", line).replace("\\", " ").split()
        if len(words) >= max_words:
            break
    return " ".join(words[:max_words])


def man_page_folder(root: str | Path, sections=MAN_SECTIONS, per_section: int = 300,
                    min_words: int = 40, max_words: int = 300, man_root=MAN_ROOT) -> Path:
    """Writes `root/man<N>/<page>.txt` for each section in `sections`: the first
    `per_section` pages (in name order) of at least `min_words` words, each cut at
    `max_words`; pages whose text repeats another's are kept once. Returns `root`.

    Raises:
        FileExistsError: if `root` exists already.
        FileNotFoundError: if no section has a page (the machine has no manual pages).
    """
    root, man_root = Path(root), Path(man_root)
    root.mkdir(parents=True)
    seen, written = set(), 0
    for section in sections:
        pages = sorted((man_root / f"man{section}").glob("*")) \
            if (man_root / f"man{section}").is_dir() else []
        kept = []
        for page in pages:
            if page.is_symlink() or not page.is_file():
                continue
            text = man_page_text(page, max_words)
            key = text.casefold()
            if len(text.split()) >= min_words and key not in seen:
                seen.add(key)
                kept.append((page.name.split(".")[0], text))
            if len(kept) == per_section:
                break
        if not kept:
            continue
        (root / f"man{section}").mkdir()
        for name, text in kept:
            (root / f"man{section}" / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
        written += len(kept)
    if not written:
        raise FileNotFoundError(f"man_page_folder: no manual pages under {man_root}")
    return root


if __name__ == "__main__":
    import sys

    folder = docstring_folder(sys.argv[1] if len(sys.argv) > 1 else "stdlib-docstrings")
    for label in sorted(folder.iterdir()):
        print(f"{label.name:<20}{len(list(label.iterdir())):>6}")
