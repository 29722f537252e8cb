"""Speech synthesised with espeak-ng: its English accents, its voice variants, and parallel
synthesis of many utterances to 16 kHz mono samples.

espeak-ng writes each utterance as its own WAV file (22,050 Hz, 16-bit mono), which is
decoded and resampled by `suite.data.audio`, the functions the exported model runs on a
client's WAV bytes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from suite.data import DataError
from suite.data.audio import WavReader

PROGRAM = "espeak-ng"
MISSING = (
    "espeak-ng was not found: the speech-to-text pipeline synthesises its embedded corpus "
    "with it. Install the Debian package espeak-ng (`sudo apt-get install espeak-ng`, or "
    "`bash scripts/setup.sh`, which installs everything in debian-packages.txt), or train "
    "on recordings of your own with --data DIR (LJSpeech layout: metadata.csv + wavs/)."
)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One sentence spoken by one voice.

    Args:
        text: what is said.
        accent: an espeak-ng English voice (`en-us`, `en-gb-scotland`, ...).
        variant: an espeak-ng voice variant (`Alex`, `f3`, ...), the "speaker".
        speed: words per minute.
        pitch: 0-99 (espeak-ng's default is 50).
    """

    text: str
    accent: str
    variant: str
    speed: int
    pitch: int

    def command(self, program: str, path: str) -> list[str]:
        """The espeak-ng command line that writes this utterance to the WAV file `path`."""
        return [program, "-v", f"{self.accent}+{self.variant}", "-s", str(self.speed),
                "-p", str(self.pitch), "-w", path, "--", self.text]


def find_program(program: str = PROGRAM) -> str:
    """The path of espeak-ng; raises `DataError` naming the package and the set-up command.

    Args:
        program: the program's name or path.
    """
    found = shutil.which(program)
    if found is None:
        raise DataError(MISSING if program == PROGRAM else
                        f"{program!r} was not found. " + MISSING)
    return found


def version(program: str) -> str:
    """espeak-ng's version line (part of the corpus cache key: another version speaks
    differently)."""
    out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def _listing(program: str, kind: str) -> list[list[str]]:
    out = subprocess.run([program, f"--voices={kind}"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        raise DataError(f"{program} --voices={kind} failed: {out.stderr.strip()}")
    return [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]


def english_accents(program: str) -> list[str]:
    """The English voices espeak-ng speaks itself (`en-us`, `en-gb-scotland`, `en-029`,
    ...); MBROLA voices, which need another program and its data, are left out."""
    accents = []
    for row in _listing(program, "en"):
        if len(row) >= 5 and row[1].startswith("en") and row[4].startswith("gmw/"):
            accents.append(row[1])
    return sorted(dict.fromkeys(accents))


def voice_variants(program: str) -> list[str]:
    """The voice variants espeak-ng offers (`Alex`, `f3`, `klatt`, ...), by file name."""
    names = [row[-1].removeprefix("!v/") for row in _listing(program, "variant")
             if row and row[-1].startswith("!v/")]
    return sorted(dict.fromkeys(names))


def synthesize(utterances: list[Utterance], sample_rate: int, program: str,
               workers: int | None = None, progress=None) -> list[np.ndarray]:
    """Speaks every utterance; returns int16 samples at `sample_rate`, in order.

    espeak-ng runs in `workers` processes at a time (default: twice the CPU cores); each
    WAV it writes is decoded and resampled while the others are spoken.

    Args:
        utterances: what to say and how.
        sample_rate: the rate of the returned samples, in Hz.
        program: the espeak-ng executable (see `find_program`).
        workers: how many espeak-ng processes run at once.
        progress: `(done, total, seconds)` is called after every twentieth part (default:
            a line on stderr).
    """
    workers = workers or 2 * (os.cpu_count() or 1)
    reader = WavReader(sample_rate)
    progress = progress or _print_progress
    out: list[np.ndarray | None] = [None] * len(utterances)
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:

        def speak(i: int) -> None:
            path = str(Path(tmp) / f"{i}.wav")
            u = utterances[i]
            result = subprocess.run(u.command(program, path), capture_output=True,
                                    timeout=120)
            if result.returncode != 0 or not os.path.exists(path):
                raise DataError(f"espeak-ng failed on {u}: "
                                f"{result.stderr.decode(errors='replace').strip()}")
            try:
                out[i] = reader(Path(path).read_bytes())
            except ValueError as e:
                raise DataError(f"espeak-ng wrote an unreadable WAV for {u}: {e}") from None
            os.unlink(path)

        step, start = max(1, len(utterances) // 20), time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(speak, i) for i in range(len(utterances))]
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                future.result()
                if done % step == 0 or done == len(utterances):
                    progress(done, len(utterances), time.perf_counter() - start)
    return out


def _print_progress(done: int, total: int, seconds: float) -> None:
    print(f"[speech-to-text] synthesised {done}/{total} utterances ({seconds:.0f}s)",
          file=sys.stderr)
