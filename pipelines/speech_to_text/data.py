"""Utterances and transcripts: the espeak-ng corpus (embedded, cached on disk) and folders
in the LJSpeech layout (`metadata.csv` of `id|text|normalized text` + `wavs/<id>.wav`).

Every waveform is kept as int16 samples at the configured sample rate; every transcript
is normalised to the model's alphabet (lower-case letters, apostrophe and space).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import unicodedata
import uuid
from pathlib import Path

import numpy as np
import tensorflow as tf

from suite.data import DataError, Skipped
from suite.data.audio import WavReader

from pipelines.speech_to_text import synthesis

ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"   # id 0 is the CTC blank; character i is id i + 1
CACHE_ROOT = Path(".suite") / "data" / "speech-to-text"
_NOT_SPOKEN = re.compile(r"[0-9@#$%&*/<>=_\[\]{}|\\~^+]")
_OUTSIDE = re.compile(r"[^a-z' ]+")


@dataclasses.dataclass
class Part:
    """The utterances of one split.

    Args:
        waves: int16 samples per utterance, at the configured sample rate.
        texts: the normalised transcript of each.
        speakers: who said it, for people (`en-us+Alex 170wpm p42`, or the file id).
    """

    waves: list[np.ndarray]
    texts: list[str]
    speakers: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index) -> Part:
        return Part([self.waves[i] for i in index], [self.texts[i] for i in index],
                    [self.speakers[i] for i in index])

    def seconds(self, sample_rate: int) -> float:
        return float(sum(len(w) for w in self.waves)) / sample_rate


def normalize(text: str) -> str:
    """A transcript in the model's alphabet: accents folded, lower case, hyphens as spaces,
    other characters dropped, spaces collapsed."""
    text = text.replace("\u2019", "'").replace("-", " ")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [w.strip("'") for w in _OUTSIDE.sub(" ", folded).split()]
    return " ".join(w for w in words if w)


def encode(text: str) -> list[int]:
    """Character ids of a normalised transcript (1-based: 0 is the CTC blank)."""
    return [ALPHABET.index(c) + 1 for c in text]


def read_sentences(fortunes_dir: str | Path, min_words: int, max_words: int) -> list[str]:
    """Distinct speakable sentences of `min_words` to `max_words` words from the fortune
    files (sentences with digits or symbols, which a speaker would read out in words the
    transcript does not hold, are left out), sorted.

    Args:
        fortunes_dir: the folder of fortune files (entries separated by `%` lines).
        min_words, max_words: the sentence lengths kept.
    """
    root = Path(fortunes_dir)
    files = sorted(p for p in root.glob("*") if p.is_file() and not p.suffix) \
        if root.is_dir() else []
    if not files:
        raise DataError(f"no fortune files in {root}: the speech-to-text corpus speaks their "
                        "sentences; install the Debian package fortunes (bash "
                        "scripts/setup.sh) or set data.fortunes_dir")
    sentences = set()
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for entry in re.split(r"\n%\n", text):
            entry = re.split(r"\n\s*--", entry)[0]  # drop the attribution
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(entry.split())):
                if _NOT_SPOKEN.search(sentence):
                    continue
                spoken = normalize(sentence)
                if min_words <= len(spoken.split()) <= max_words:
                    sentences.add(spoken)
    return sorted(sentences)


def language_model_text(parts: dict[str, Part], fortunes_dir: str | Path | None
                        ) -> list[str]:
    """The sentences the decoder's language model learns from: every sentence of the
    fortune files (the embedded corpus; `fortunes_dir`) or the training transcripts (a
    folder; `fortunes_dir=None`), never a validation or test sentence, nor a sentence
    sharing a run of four words with one (the fortunes repeat sayings with small changes).

    Args:
        parts: the splits; every split but `train` is held out.
        fortunes_dir: where the fortune files are, or None to use the training split only.
    """
    held = {text for name, part in parts.items() if name != "train" for text in part.texts}
    runs = {tuple(words[i:i + 4]) for text in held
            for words in [text.split()] for i in range(len(words) - 3)}
    pool = parts["train"].texts if fortunes_dir is None else read_sentences(
        fortunes_dir, 1, 10 ** 6)
    kept = []
    for text in dict.fromkeys(pool):
        words = text.split()
        if text not in held and not any(tuple(words[i:i + 4]) in runs
                                         for i in range(len(words) - 3)):
            kept.append(text)
    return kept


def plan(config, accents: list[str], variants: list[str], sentences: list[str]
         ) -> dict[str, list[synthesis.Utterance]]:
    """Who says what in each split of the synthesised corpus.

    Sentences are dealt out once: no test or validation sentence is ever spoken in
    training. The held-out splits (sentences, voices, speeds, pitches) do not depend on
    `utterances`, so runs with more or fewer training utterances are scored on the same
    test. `train` and `val` use the training accents and variants; `test` (unseen
    speakers) the training accents with the held-out variants; `test_unseen_accent` the
    held-out accent with the training variants. Speed and pitch are drawn per utterance.

    Args:
        config: the `data` section.
        accents: the English voices to use (the held-out one included).
        variants: espeak-ng's voice variants.
        sentences: the sentences to speak.
    """
    if config.test_accent not in accents:
        raise DataError(f"config key 'data.test_accent': got {config.test_accent!r}, "
                        f"expected one of the accents used: {', '.join(accents)}")
    train_accents = [a for a in accents if a != config.test_accent]
    if not train_accents:
        raise DataError(f"config key 'data.accents': got {tuple(accents)!r}; at least one "
                        "accent besides data.test_accent is needed for training")
    rng = random.Random(config.seed)
    variants = sorted(variants)
    rng.shuffle(variants)
    held = max(1, round(len(variants) * config.test_variants))
    if held >= len(variants):
        raise DataError(f"espeak-ng offers {len(variants)} voice variant(s); holding out "
                        f"data.test_variants={config.test_variants} of them leaves none "
                        "for training")
    test_variants, train_variants = variants[:held], variants[held:]
    order = list(sentences)
    rng.shuffle(order)
    train_count = min(config.utterances, config.limit or config.utterances)
    counts = {"test": config.eval_utterances, "test_unseen_accent": config.eval_utterances,
              "val": config.val_utterances}
    needed = sum(counts.values()) + 1
    if len(order) < needed:
        raise DataError(f"{len(order)} distinct sentences of {config.min_words}-"
                        f"{config.max_words} words; the test and validation splits alone "
                        f"need {needed - 1} (lower data.eval_utterances or widen the "
                        "word range)")
    parts, start = {}, 0
    for name, count in counts.items():
        parts[name] = order[start:start + count]
        start += count
    train_sentences = order[start:]
    parts["train"] = [train_sentences[i % len(train_sentences)] for i in range(train_count)]
    voices = {"train": (train_accents, train_variants), "val": (train_accents, train_variants),
              "test": (train_accents, test_variants),
              "test_unseen_accent": ([config.test_accent], train_variants)}
    out = {}  # the held-out splits draw their voices first: the same whatever the size of train
    for name in ("test", "test_unseen_accent", "val", "train"):
        accent_pool, variant_pool = voices[name]
        out[name] = [synthesis.Utterance(
            text, rng.choice(accent_pool), rng.choice(variant_pool),
            rng.randint(*config.speed), rng.randint(*config.pitch)) for text in parts[name]]
    return {name: out[name] for name in ("train", "val", "test", "test_unseen_accent")}


def load_embedded(config, say=print) -> dict[str, Part]:
    """The synthesised corpus, from its cache when the same settings made it before.

    The cache file, under `.suite/data/speech-to-text/`, is keyed by every setting that
    changes what is spoken and by espeak-ng's version.

    Args:
        config: the `data` section.
        say: prints a progress line.
    """
    program = synthesis.find_program(config.espeak)
    accents = list(config.accents) or synthesis.english_accents(program)
    variants = synthesis.voice_variants(program)
    sentences = read_sentences(config.fortunes_dir, config.min_words, config.max_words)
    planned = plan(config, accents, variants, sentences)
    key = hashlib.sha256(json.dumps({
        "espeak": synthesis.version(program), "sample_rate": config.sample_rate,
        "utterances": {name: [dataclasses.astuple(u) for u in us]
                       for name, us in planned.items()},
    }, sort_keys=True).encode()).hexdigest()[:16]
    path = CACHE_ROOT / f"espeak-{key}.npz"
    if path.is_file():
        try:
            return _read_cache(path)
        except (OSError, ValueError, KeyError) as e:
            say(f"ignoring the unreadable corpus cache {path}: {e}")
    total = sum(len(us) for us in planned.values())
    say(f"synthesising {total} utterances with espeak-ng ({len(accents)} accents, "
        f"{len(variants)} voice variants) into {path}")
    everything = [u for name in planned for u in planned[name]]
    waves = synthesis.synthesize(everything, config.sample_rate, program, config.workers)
    parts, start = {}, 0
    for name, us in planned.items():
        parts[name] = Part(waves[start:start + len(us)], [u.text for u in us],
                           [f"{u.accent}+{u.variant} {u.speed}wpm p{u.pitch}" for u in us])
        start += len(us)
    _write_cache(path, parts)
    return parts


def _write_cache(path: Path, parts: dict[str, Part]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, part in parts.items():
        arrays[f"{name}.samples"] = np.concatenate(part.waves) if part.waves else \
            np.zeros(0, np.int16)
        arrays[f"{name}.lengths"] = np.array([len(w) for w in part.waves], np.int64)
        arrays[f"{name}.texts"] = np.array(part.texts, dtype=str)
        arrays[f"{name}.speakers"] = np.array(part.speakers, dtype=str)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}.npz")
    try:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_cache(path: Path) -> dict[str, Part]:
    parts = {}
    with np.load(path, allow_pickle=False) as saved:
        names = sorted({k.split(".")[0] for k in saved.files})
        for name in names:
            ends = np.cumsum(saved[f"{name}.lengths"])
            waves = np.split(saved[f"{name}.samples"], ends[:-1]) if len(ends) else []
            parts[name] = Part(list(waves), [str(t) for t in saved[f"{name}.texts"]],
                               [str(s) for s in saved[f"{name}.speakers"]])
    return parts


def read_ljspeech(root: str | Path, sample_rate: int, skipped: Skipped,
                  limit: int | None = None) -> Part:
    """The utterances of a folder in the LJSpeech layout, resampled to `sample_rate`.

    `metadata.csv` holds `id|text|normalized text` lines (the normalised text is used when
    present); the audio of `id` is `wavs/<id>.wav`. A line that is not UTF-8, a line
    without an id and a text, a row whose WAV is missing, unreadable or empty, and a
    transcript with no letters are reported to `skipped` by file and line (skipped and
    counted, or stopping the load, per its policy).

    Args:
        root: the folder.
        sample_rate: the rate of the returned samples, in Hz.
        skipped: collects bad rows and files.
        limit: read at most this many utterances.
    """
    root = Path(root)
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise DataError(f"{root}: no metadata.csv; expected the LJSpeech layout "
                        "(metadata.csv of id|text|normalized text lines, and wavs/<id>.wav)")
    reader = WavReader(sample_rate)
    waves, texts, ids = [], [], []
    for number, line in enumerate(metadata.read_bytes().splitlines(), start=1):
        if limit is not None and len(texts) >= limit:
            break
        try:
            row = line.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as e:
            skipped.report(metadata, f"not UTF-8 text (byte {e.start + 1} of the line)",
                           line=number)
            continue
        if not row.strip():
            continue
        fields = row.split("|")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            skipped.report(metadata, "expected id|text|normalized text", line=number)
            continue
        name = fields[0].strip()
        text = normalize(fields[2] if len(fields) > 2 and fields[2].strip() else fields[1])
        if not text:
            skipped.report(metadata, f"the transcript of {name} has no letters", line=number)
            continue
        wav = root / "wavs" / f"{name}.wav"
        try:
            contents = wav.read_bytes()
        except OSError:
            skipped.report(metadata, f"no audio file wavs/{name}.wav for {name}", line=number)
            continue
        try:
            samples = reader(contents)
        except ValueError as e:
            skipped.report(wav, str(e))
            continue
        if samples.size == 0:
            skipped.report(wav, "an empty WAV file (no samples)")
            continue
        waves.append(samples)
        texts.append(text)
        ids.append(name)
    if not texts:
        raise DataError(f"{metadata}: no usable utterances ({len(skipped)} skipped)"
                        + (f"; first skipped: {skipped.items[0]}" if skipped.items else ""))
    return Part(waves, texts, ids)


def split_folder(part: Part, val_fraction: float, test_fraction: float, seed: int
                 ) -> dict[str, Part]:
    """A random train/val/test split of a folder's utterances (by `seed`)."""
    order = np.random.default_rng(seed).permutation(len(part))
    n_test = max(1, round(len(part) * test_fraction))
    n_val = round(len(part) * val_fraction)
    if len(part) - n_test - n_val < 1:
        raise DataError(f"{len(part)} usable utterance(s): too few to split into training, "
                        "validation and test")
    return {"test": part.subset(order[:n_test]),
            "val": part.subset(order[n_test:n_test + n_val]),
            "train": part.subset(order[n_test + n_val:])}


def fingerprint(parts: dict[str, Part]) -> str:
    """A short SHA-256 of every split's samples and transcripts, in order."""
    digest = hashlib.sha256()
    for name in sorted(parts):
        for wave, text in zip(parts[name].waves, parts[name].texts):
            digest.update(f"{name}\t{text}\t{len(wave)}\n".encode())
            digest.update(np.ascontiguousarray(wave).tobytes())
    return digest.hexdigest()[:16]


def records(part: Part) -> tf.data.Dataset:
    """`(int16 samples, character ids)` per utterance; `decode` makes model examples."""
    waves = tf.RaggedTensor.from_row_lengths(
        np.concatenate(part.waves) if len(part) else np.zeros(0, np.int16),
        [len(w) for w in part.waves])
    ids = [encode(t) for t in part.texts]
    labels = tf.RaggedTensor.from_row_lengths(
        np.array([i for row in ids for i in row], np.int32), [len(row) for row in ids])
    return tf.data.Dataset.from_tensor_slices((waves, labels))


def decode(samples, labels):
    """A record -> `({"waveform": float32 in [-1, 1], "length": samples}, character ids)`."""
    waveform = tf.cast(samples, tf.float32) / 32768.0
    return {"waveform": waveform, "length": tf.shape(waveform)[0]}, labels
