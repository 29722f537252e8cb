"""Documents with labels: the fortune-cookie files of Debian's fortunes package (embedded),
a folder of label folders of text files, or a flat folder of unlabeled text files.

A fortune file holds entries separated by lines that hold only `%`; its file name is the
label of all of them. A folder in scikit-learn's `load_files` layout (20 Newsgroups) has
one sub-folder per label; a folder with no sub-folders is read as unlabeled documents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import numpy as np

from suite.data import DataError, Skipped

FORTUNES_DIR = "/usr/share/games/fortunes"
UNLABELED = -1

_OVERSTRIKE = re.compile(r".\x08")          # "_\bA": a typewriter underline or bold
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


@dataclasses.dataclass
class Corpus:
    """Documents, their label ids and names, and where each came from.

    Args:
        texts: the documents.
        labels: a label id per document (`UNLABELED` for a flat folder).
        classes: label names, index = label id (empty when unlabeled).
        origins: `file` or `file:line` of each document, for people.
    """

    texts: list[str]
    labels: np.ndarray
    classes: list[str]
    origins: list[str]

    @property
    def labeled(self) -> bool:
        return bool(self.classes)

    def fingerprint(self) -> str:
        """A short SHA-256 of the documents and their labels, in order."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels):
            digest.update(f"{int(label)}\t{text}\0".encode())
        digest.update("\t".join(self.classes).encode())
        return digest.hexdigest()[:16]

    def subset(self, index) -> Corpus:
        """The documents at `index`, with the same label names."""
        index = np.asarray(index, dtype=int)
        return Corpus([self.texts[i] for i in index], self.labels[index], self.classes,
                      [self.origins[i] for i in index])


def word_count(text: str) -> int:
    """The number of words (runs of letters, digits and underscores) in `text`."""
    return len(_WORD.findall(text))


def clean_text(text: str) -> str:
    """Overstrikes removed (`_\\bA` -> `A`) and surrounding blank lines stripped."""
    return _OVERSTRIKE.sub("", text).strip("\n\r ").replace("\r\n", "\n")


def read_fortune_file(path: str | Path, skipped: Skipped) -> list[tuple[str, int]]:
    """The entries of one fortune file with the line each starts on.

    Entries are separated by lines holding only `%`; empty entries (two `%` lines in a
    row, a trailing `%`) are dropped. An entry that is not UTF-8 is reported to `skipped`
    with its first line and left out.

    Args:
        path: the fortune file (the text, not its `.dat` index).
        skipped: collects undecodable entries (or stops, per its policy).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    entries, lines, start = [], [], 1
    for number, line in enumerate(raw.splitlines() + [b"%"], start=1):
        if line.rstrip(b"\r") != b"%":
            lines.append(line)
            continue
        block = b"\n".join(lines)
        lines, first, start = [], start, number + 1
        if not block.strip():
            continue
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as e:
            skipped.report(path, f"entry is not UTF-8 text (byte {e.start + 1})", line=first)
            continue
        text = clean_text(text)
        if text:
            entries.append((text, first))
    return entries


def fortune_files(directory: str | Path) -> list[Path]:
    """The fortune text files in `directory`: regular files without a suffix (the `.dat`
    indexes and the `.u8` links to the same text are left out), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"no fortune files: {directory} is not a directory; install Debian's "
                        "`fortunes` package (`apt-get install fortunes`) or give --data DIR")
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and not p.is_symlink() and "." not in p.name)
    if not files:
        raise DataError(f"no fortune files in {directory}: install Debian's `fortunes` "
                        "package (`apt-get install fortunes`) or give --data DIR")
    return files


def read_fortunes(directory: str | Path, skipped: Skipped) -> Corpus:
    """Every entry of every fortune file in `directory`, labelled by its file's name."""
    texts, labels, origins, classes = [], [], [], []
    for path in fortune_files(directory):
        entries = read_fortune_file(path, skipped)
        if not entries:
            continue
        label = len(classes)
        classes.append(path.name)
        for text, line in entries:
            texts.append(text)
            labels.append(label)
            origins.append(f"{path}:{line}")
    return Corpus(texts, np.asarray(labels, dtype=np.int32), classes, origins)


def read_folder(directory: str | Path, skipped: Skipped, encoding: str = "utf-8") -> Corpus:
    """Text files in one sub-folder per label, or unlabeled files in a flat folder.

    With sub-folders, each is a label and every file under it (at any depth) one document
    of that label; files beside the sub-folders are reported and skipped. Without
    sub-folders, every file is an unlabeled document. Hidden files and folders are
    ignored. A file that cannot be read, is not text in `encoding` or holds only
    whitespace is reported to `skipped`, as is a label folder left with no document.

    Args:
        directory: the folder.
        skipped: collects bad files (or stops, per its policy).
        encoding: the files' text encoding (`latin-1` for the original 20 Newsgroups).
    """
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"data.path {str(directory)!r} is not a directory: expected a folder "
                        "of text files, or of one sub-folder of text files per label")
    visible = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    folders = [p for p in visible if p.is_dir()]
    texts, labels, origins, classes = [], [], [], []
    if not folders:
        for path in visible:
            text = _read_document(path, skipped, encoding, root)
            if text is not None:
                texts.append(text)
                labels.append(UNLABELED)
                origins.append(str(path.relative_to(root)))
    else:
        for path in visible:
            if not path.is_dir():
                skipped.report(path.relative_to(root), "a file beside the label folders "
                                                       "(expected only label folders)")
        for folder in folders:
            found = []
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts) or path.is_dir():
                    continue
                text = _read_document(path, skipped, encoding, root)
                if text is not None:
                    found.append((text, str(relative)))
            if not found:
                skipped.report(folder.relative_to(root), "label folder has no readable "
                                                         "document")
                continue
            label = len(classes)
            classes.append(folder.name)
            for text, origin in found:
                texts.append(text)
                labels.append(label)
                origins.append(origin)
    if not texts:
        raise DataError(f"no readable text documents in {root}")
    return Corpus(texts, np.asarray(labels, dtype=np.int32), classes, origins)


def _read_document(path: Path, skipped: Skipped, encoding: str, root: Path) -> str | None:
    relative = path.relative_to(root)
    try:
        raw = path.read_bytes()
    except OSError as e:
        skipped.report(relative, f"cannot be read ({e.strerror})")
        return None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        skipped.report(relative, f"not {encoding} text (byte {e.start + 1})")
        return None
    text = clean_text(text.removeprefix("\ufeff"))
    if not text.strip():
        skipped.report(relative, "empty document")
        return None
    return text


def prepare(corpus: Corpus, min_words: int, min_per_class: int,
            categories: tuple[str, ...] | None = None) -> Corpus:
    """The documents used: deduplicated, long enough, of the chosen categories.

    Documents that are the same up to case and whitespace are kept once (the first, in
    file order). Documents of fewer than `min_words` words are dropped. Of labeled data,
    `categories` names the labels kept (an unknown name is an error); without it, labels
    with at least `min_per_class` documents are kept.

    Args:
        corpus: the documents read.
        min_words: the fewest words a document needs.
        min_per_class: without `categories`, the fewest documents a label needs.
        categories: the labels to keep, or `None`.
    """
    seen, keep = set(), []
    for i, text in enumerate(corpus.texts):
        key = _SPACE.sub(" ", text).strip().casefold()
        if key in seen or word_count(text) < min_words:
            continue
        seen.add(key)
        keep.append(i)
    corpus = corpus.subset(keep)
    if not corpus.labeled:
        return corpus
    counts = np.bincount(corpus.labels, minlength=len(corpus.classes))
    if categories is not None:
        unknown = [c for c in categories if c not in corpus.classes]
        if unknown:
            raise DataError(f"data.categories: {', '.join(map(repr, unknown))} not in the data; "
                            f"it has {', '.join(corpus.classes)}")
        chosen = [corpus.classes.index(c) for c in categories]
    else:
        chosen = [i for i, n in enumerate(counts) if n >= min_per_class]
    if len(chosen) < 2:
        raise DataError(
            f"{len(chosen)} label(s) with at least {min_per_class} documents of "
            f">= {min_words} words (data.min_per_category, data.min_words); retrieval by "
            f"label needs two or more. Documents per label: "
            + ", ".join(f"{c} {n}" for c, n in zip(corpus.classes, counts)))
    chosen = sorted(chosen)
    remap = np.full(len(corpus.classes), UNLABELED, dtype=np.int32)
    remap[chosen] = np.arange(len(chosen), dtype=np.int32)
    index = np.flatnonzero(np.isin(corpus.labels, chosen))
    subset = corpus.subset(index)
    return Corpus(subset.texts, remap[subset.labels], [corpus.classes[i] for i in chosen],
                  subset.origins)
