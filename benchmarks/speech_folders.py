"""Speech to text on a real-format folder the defaults were not tuned on: an LJSpeech-layout
folder spoken by Festival's flite (another synthesiser than the embedded corpus's espeak-ng,
with its own voices) reading sentences of the Python standard library's docstrings (another
text than the embedded fortunes), written at LJSpeech's 22,050 Hz.

    python benchmarks/speech_folders.py [--utterances N] [--keep DIR] [--set key=value ...]

Builds the folder (Debian's `flite`, listed in `benchmarks/debian-packages.txt`), runs the
default `suite run speech-to-text --data <folder>` in a temporary directory and prints
CER and WER of the bidirectional model and of its unidirectional baseline on the folder's
random test split (unseen sentences of the same five voices), with the times.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import wave
from pathlib import Path

from common import isolate, timed_run  # noqa: I001  (sets the environment first)

import numpy as np  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from pipelines.speech_to_text.data import normalize  # noqa: E402
from pipelines.speech_to_text.pipeline import SpeechToTextPipeline  # noqa: E402
from speech_to_text import quality_table, training_report  # noqa: E402
from suite.data.audio import wav_bytes  # noqa: E402
from text_folders import docstrings  # noqa: E402

VOICES = ("kal16", "awb", "rms", "slt", "kal")  # kal speaks at 8 kHz: band-limited audio
RATE = 22050                                     # LJSpeech's sample rate
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPEAKABLE = re.compile(r"[A-Za-z][A-Za-z ,;:']*[.!?]")


def docstring_sentences(min_words: int = 4, max_words: int = 14) -> list[str]:
    """Distinct sentences of the standard library's docstrings that a reader speaks as
    written (letters and light punctuation only: no code, digits or symbols), sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seen, sentences = set(), []
    for source in sorted(stdlib.rglob("*.py")):
        if "test" in source.parts or "site-packages" in source.parts:
            continue
        for doc in docstrings(source):
            for sentence in _SENTENCE_END.split(" ".join(doc.split())):
                key = normalize(sentence)
                if (_SPEAKABLE.fullmatch(sentence)
                        and min_words <= len(sentence.split()) <= max_words
                        and key not in seen):
                    seen.add(key)
                    sentences.append(sentence)
    return sorted(sentences)


def speak(text: str, voice: str, stretch: float, path: Path) -> None:
    """One utterance: flite's WAV resampled to `RATE`, written as 16-bit mono."""
    raw = path.with_suffix(".raw.wav")
    result = subprocess.run(["flite", "-voice", voice, "--setf",
                             f"duration_stretch={stretch:.2f}", "-t", text, "-o", str(raw)],
                            capture_output=True)
    if result.returncode != 0 or not raw.is_file():
        raise RuntimeError(f"flite -voice {voice} failed on {text!r}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    with wave.open(str(raw)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32)
    raw.unlink()
    gcd = np.gcd(rate, RATE)
    out = np.clip(resample_poly(samples, RATE // gcd, rate // gcd), -32768, 32767)
    path.write_bytes(wav_bytes(out.astype(np.int16), RATE))


def flite_folder(root: str | Path, utterances: int, seed: int = 0) -> Path:
    """Writes `root/metadata.csv` and `root/wavs/*.wav`: `utterances` docstring sentences,
    each spoken by a random flite voice at a random speed (0.85 to 1.2 times its own).

    Raises:
        FileExistsError: if `root` exists already.
        FileNotFoundError: if flite is not installed.
    """
    if shutil.which("flite") is None:
        raise FileNotFoundError("flite is not installed: apt-get install flite "
                                "(benchmarks/debian-packages.txt)")
    root = Path(root)
    (root / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    sentences = docstring_sentences()
    chosen = [sentences[i] for i in rng.permutation(len(sentences))[:utterances]]
    rows = [(f"PY{i:05d}", text, VOICES[rng.integers(len(VOICES))],
             float(rng.uniform(0.85, 1.2))) for i, text in enumerate(chosen)]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda r: speak(r[1], r[2], r[3], root / "wavs" / f"{r[0]}.wav"), rows))
    with open(root / "metadata.csv", "w", encoding="utf-8") as f:
        f.writelines(f"{name}|{text}|{normalize(text)}\n" for name, text, _, _ in rows)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=5000)
    parser.add_argument("--keep", help="build the folder here and keep it (reused if present)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    folder = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp()) / "flite"
    start = time.perf_counter()
    if not (folder / "metadata.csv").is_file():
        flite_folder(folder, args.utterances)
    build_s = time.perf_counter() - start
    isolate("speech-folders")
    result, pipeline, fit_s, total_s = timed_run(
        SpeechToTextPipeline, [f"data.path={folder}", *args.set])
    quality_table(result, pipeline, f"{folder} (flite, {len(VOICES)} voices, docstring "
                                    f"sentences, {RATE} Hz)")
    print(f"\nfolder built in {build_s:.0f}s")
    training_report(result, pipeline, fit_s, total_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
