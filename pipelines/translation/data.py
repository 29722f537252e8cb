"""Sentence pairs: the gettext catalogs installed on the machine, or a TSV file; splits
by unique source sentence."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import numpy as np

from suite.data import DataError, Skipped

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """One line of text: surrounding space removed, every run of whitespace one space."""
    return _SPACE.sub(" ", text).strip()


def read_catalogs(locale_dir: str | Path, lang: str, skipped: Skipped) -> list[tuple[str, str]]:
    """English -> `lang` pairs from every `<locale_dir>/<lang>/LC_MESSAGES/*.mo` catalog.

    The English `msgid` is the source and the translator's `msgstr` the target, read with
    polib. The catalog header, plural and context (`msgctxt`) entries are left out
    (untranslated ones come back with an empty target, which `clean` drops); printf
    placeholders (`%s`, `%(name)s`) stay in the text. A catalog polib cannot read
    (corrupt, truncated, an unknown charset) is reported to `skipped`.

    Args:
        locale_dir: the locale root, e.g. `/usr/share/locale`.
        lang: the target language's directory name, e.g. `es` or `pt_BR`.
        skipped: collects unreadable catalogs (or stops, per its policy).
    """
    import polib

    folder = Path(locale_dir) / lang / "LC_MESSAGES"
    files = sorted(folder.glob("*.mo"))
    if not files:
        raise DataError(f"no gettext catalogs (*.mo) in {folder}: install packages with "
                        f"{lang!r} translations or pick another data.target_lang")
    pairs = []
    for path in files:
        try:
            catalog = polib.mofile(str(path))
        except (OSError, UnicodeError, LookupError, ValueError, IndexError, struct.error) as e:
            skipped.report(path, f"not a readable gettext catalog ({e})")
            continue
        pairs += [(e.msgid, e.msgstr) for e in catalog
                  if e.msgid and not e.msgid_plural and not e.msgctxt]
    return pairs


def read_tsv(path: str | Path, skipped: Skipped) -> list[tuple[str, str]]:
    """`source<TAB>target` pairs, one per line; extra columns (Anki, Tatoeba) are ignored.

    A line without two non-empty columns is reported to `skipped` with its number.
    Text that is not UTF-8 stops the load with the line it is on.

    Args:
        path: the TSV file.
        skipped: collects malformed lines (or stops, per its policy).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    pairs = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{number}: not UTF-8 text (byte {e.start + 1} of the "
                            "line); convert the file to UTF-8") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        columns = text.split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            skipped.report(path, "expected source<TAB>target with both non-empty", line=number)
            continue
        pairs.append((columns[0], columns[1]))
    if not pairs:
        raise DataError(f"{path}: no source<TAB>target lines")
    return pairs


def clean(pairs, min_words: int, max_words: int) -> list[tuple[str, str]]:
    """Normalised, deduplicated pairs whose source has `min_words`..`max_words` words
    (and whose target has at most twice `max_words`)."""
    seen, out = set(), []
    for source, target in pairs:
        source, target = normalize(source), normalize(target)
        if not source or not target:
            continue
        if not (min_words <= len(source.split()) <= max_words
                and len(target.split()) <= 2 * max_words):
            continue
        if (source, target) not in seen:
            seen.add((source, target))
            out.append((source, target))
    return out


def split_by_source(pairs, val_fraction: float, test_fraction: float, seed: int,
                    limit: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """Train/val/test pairs such that every pair with one source falls in one split.

    A source with several translations (the same message in two catalogs) is never both
    trained on and tested, so the test measures translation of unseen sentences. Sources
    that differ only in case, keyboard accelerators (`_`, `&`) or trailing punctuation
    ("Save _As...", "Save as") count as one sentence.

    Args:
        pairs: (source, target) pairs.
        val_fraction, test_fraction: the shares of the distinct sources per split.
        seed: the split's seed; the same seed and pairs give the same split.
        limit: if given, use the pairs of a random subset of at most this many distinct
            sources.
    """
    sources = sorted({sentence_key(s) for s, _ in pairs},
                     key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).digest())
    if limit is not None:
        sources = sources[:limit]
    n = len(sources)
    n_test = max(1, round(test_fraction * n))
    n_val = round(val_fraction * n) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise DataError(f"{n} distinct source sentences are too few to split into train, "
                        f"val ({val_fraction:g}) and test ({test_fraction:g})")
    where = {s: "test" for s in sources[:n_test]}
    where |= {s: "val" for s in sources[n_test:n_test + n_val]}
    where |= {s: "train" for s in sources[n_test + n_val:]}
    out = {"train": [], "val": [], "test": []}
    for source, target in pairs:
        key = sentence_key(source)
        if key in where:
            out[where[key]].append((source, target))
    return out


_ACCELERATOR = re.compile(r"[_&](?=\w)")
_TRAILING = re.compile(r"[\s.:!?…]+$")


def sentence_key(sentence: str) -> str:
    """What makes two source sentences the same for the split: case, keyboard
    accelerators and trailing punctuation ignored."""
    return _TRAILING.sub("", _ACCELERATOR.sub("", sentence)).casefold()


def columns(pairs) -> tuple[np.ndarray, np.ndarray]:
    """The sources and the targets as two object arrays of strings."""
    if not pairs:
        return np.array([], dtype=object), np.array([], dtype=object)
    sources, targets = zip(*pairs)
    return np.array(sources, dtype=object), np.array(targets, dtype=object)
