"""Speech to text on the espeak-ng corpus: CER and WER of the bidirectional model and of the
unidirectional baseline on unseen speakers and an unseen accent, with the synthesis time,
the training time and throughput, and the export's real-time factor.

Runs the default `suite run speech-to-text` (in a temporary directory with its own MLflow
store and corpus cache, so the synthesis is timed too) and prints one row per model with
CER and WER of the served decoding (beam search with the character language model), and
CER of plain beam search and of greedy decoding, on both test splits, then the
synthesis time, the training time and throughput (seconds of audio per second of
training) of the model and of the baseline, and the real-time factor of `serving_default`
(seconds of audio transcribed per second of compute, WAV bytes in, text out) at batch 1
and batch 32.

    python benchmarks/speech_to_text.py [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import isolate, timed_run  # noqa: I001  (sets the environment first)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipelines.speech_to_text.pipeline import SpeechToTextPipeline  # noqa: E402
from suite.data.audio import wav_bytes  # noqa: E402

ROWS = (("bidirectional (suite)", "test"), ("unidirectional (baseline)",
                                            "baseline_unidirectional"))


def quality_table(result, pipeline, source: str = "the espeak-ng corpus") -> None:
    """CER and WER of the model and the baseline on each test split (the embedded corpus
    has two: unseen speakers and an unseen accent; a folder one)."""
    m, parts = result.metrics, pipeline.parts
    rate = pipeline.config.data.sample_rate
    print(f"\nspeech-to-text on {source}: " + ", ".join(
        f"{name} {len(part)} ({part.seconds(rate) / 60:.0f} min)" for name, part in parts.items()))
    splits = ([("unseen speakers", ""), ("unseen accent", "unseen_accent_")]
              if "test_unseen_accent" in parts else [("test split", "")])
    print(f"{'model':<27}" + "".join(f"{title:>46}" for title, _ in splits))
    print(f"{'':<27}" + f"{'CER':>10}{'WER':>10}{'CER no LM':>12}{'CER greedy':>14}" * len(splits))
    for label, key in ROWS:
        if f"{key}_cer" not in m:
            continue
        cells = []
        for _, split in splits:
            cells += [f"{m.get(f'{key}_{split}cer', float('nan')):>10.3f}",
                      f"{m.get(f'{key}_{split}wer', float('nan')):>10.3f}",
                      f"{m.get(f'{key}_{split}cer_beam', float('nan')):>12.3f}",
                      f"{m.get(f'{key}_{split}cer_greedy', float('nan')):>14.3f}"]
        print(f"{label:<27}" + "".join(cells))


def training_report(result, pipeline, fit_s: float, total_s: float) -> None:
    """The model's training time and throughput, the baseline's time, the whole run's, and
    the validation CER of each epoch."""
    rate = pipeline.config.data.sample_rate
    train_audio = pipeline.parts["train"].seconds(rate)
    epochs = len(pipeline.epochs)
    baseline_s = result.baseline_seconds.get("unidirectional", 0.0)
    print(f"model training: {fit_s:.0f}s for {epochs} epochs ({pipeline.model_parameters:,} "
          f"parameters), {train_audio * epochs / fit_s:.0f} seconds of audio per second; "
          f"baseline training and transcription: {baseline_s:.0f}s; whole run {total_s:.0f}s")
    if "val_cer" in pipeline.history:
        print("validation CER by epoch (greedy): "
              + ", ".join(f"{v:.3f}" for v in pipeline.history["val_cer"]))


def real_time_factor(export_dir, pipeline, repeats: int = 5) -> None:
    """Seconds of audio transcribed per second of `serving_default`, batch 1 and 32."""
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    part, rate = pipeline.parts["test"], pipeline.config.data.sample_rate
    blobs = [wav_bytes(w, rate) for w in part.waves[:32]]
    seconds = [len(w) / rate for w in part.waves[:32]]
    for batch in (1, 32):
        feeds = [blobs[i:i + batch] for i in range(0, len(blobs), batch)][:max(1, 8 // batch)]
        audio = [sum(seconds[i:i + batch]) for i in range(0, len(blobs), batch)][:len(feeds)]
        serve(audio=tf.constant(feeds[0]))  # warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for feed in feeds:
                serve(audio=tf.constant(feed))
            times.append(time.perf_counter() - start)
        rtf = sum(audio) / statistics.median(times)
        print(f"export, batch {batch:>2}: {rtf:.1f} seconds of audio per second "
              f"(real-time factor {1 / rtf:.3f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    isolate("speech-to-text")
    pipeline_load = SpeechToTextPipeline.load_data
    load_seconds = []

    def timed_load(self):
        start = time.perf_counter()
        splits = pipeline_load(self)
        load_seconds.append(time.perf_counter() - start)
        return splits

    SpeechToTextPipeline.load_data = timed_load
    result, pipeline, fit_s, total_s = timed_run(SpeechToTextPipeline, args.set)
    quality_table(result, pipeline)
    rate = pipeline.config.data.sample_rate
    print(f"\nsynthesis and loading: {load_seconds[0]:.0f}s on {os.cpu_count()} CPU cores "
          f"({np.mean([len(w) for w in pipeline.parts['train'].waves]) / rate:.1f} s per "
          "training utterance on average)")
    training_report(result, pipeline, fit_s, total_s)
    real_time_factor(result.export_dir, pipeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
