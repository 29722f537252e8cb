"""Translation on the embedded gettext corpus: attention vs no attention, greedy vs beam.

Runs the default `suite run translation` (in a temporary directory with its own MLflow
store) and prints test BLEU and chrF (sacrebleu) of the attention model and of the
no-attention baseline trained with the same budget, BLEU by source length, parameter
counts, training throughput in target tokens per second (over the pairs training reads)
and the exported model's translation latency for one sentence and for a batch of 64.
With `--rerun KEY=VALUE`, it then runs again with that model change in the same working
directory and prints the time the reused baseline saved.

    python benchmarks/translation.py [--set key=value ...] [--rerun model.attention=luong]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import isolate, rerun_report, timed_run  # noqa: I001  (sets the environment first)

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (registers the ops the export uses)

from pipelines.translation import data  # noqa: E402
from pipelines.translation.pipeline import TranslationPipeline, bleu_by_length  # noqa: E402


def latency(serve, sentences, repeats: int) -> float:
    """The median seconds of `repeats` calls translating `sentences`."""
    batch = tf.constant(sentences)
    serve(sentences=batch)  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        serve(sentences=batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--rerun", action="append", default=[], metavar="KEY=VALUE",
                        help="run again with this model change, reusing the baseline")
    args = parser.parse_args(argv)
    isolate("translation")
    result, pipeline, fit_s, total_s = timed_run(TranslationPipeline, args.overrides)
    m, cfg, predictions = result.metrics, pipeline.config, pipeline.predictions
    test = pipeline.pairs["test"]
    sources, references = data.columns(test)

    print(f"\ntest split: {len(test)} pairs; beam width "
          f"{cfg.model.beam_width}, length penalty {cfg.model.length_penalty}")
    print(f"{'model':<28}{'parameters':>12}{'BLEU beam':>11}{'chrF beam':>11}"
          f"{'BLEU greedy':>13}{'chrF greedy':>13}")
    for label, key in (("attention (" + cfg.model.attention + ")", "test"),
                       ("no attention (baseline)", "baseline_no_attention")):
        params = int(predictions[key]["parameters"])
        print(f"{label:<28}{params:>12,}{m[f'{key}_bleu']:>11.2f}{m[f'{key}_chrf']:>11.2f}"
              f"{m[f'{key}_bleu_greedy']:>13.2f}{m[f'{key}_chrf_greedy']:>13.2f}")
    ratio = m["test_bleu"] / max(m["baseline_no_attention_bleu"], 1e-9)
    print(f"attention BLEU / no-attention BLEU (beam): {ratio:.2f}x")
    by_length = bleu_by_length(sources, references,
                               {"attention": list(predictions["test"]["beam"]),
                                "no attention": list(predictions["baseline_no_attention"]
                                                     ["beam"])})
    print("BLEU by source length (words): " + "  ".join(
        f"{r['bucket']} (n={r['sentences']}): {r['attention']:.1f} vs {r['no attention']:.1f}"
        for r in by_length))

    # Throughput counts what training read: the pairs `examples` kept, with their end token.
    trained = pipeline.splits.train
    pairs, tokens = 0, 0
    for _, target_out in trained.as_numpy_iterator():
        pairs += 1
        tokens += len(target_out)
    epochs = len(pipeline.epochs)
    print(f"training: {fit_s:.0f}s wall for {epochs} epochs of {pairs} pairs "
          f"({len(pipeline.pairs['train']) - pairs} overlong pairs left out): "
          f"{tokens * epochs / fit_s:,.0f} target tokens/s; whole run {total_s:.0f}s "
          f"(baseline training and decoding included) on {os.cpu_count()} CPU cores")

    serve = tf.saved_model.load(str(result.export_dir)).signatures["serving_default"]
    one = latency(serve, list(sources[:1]), 20)
    many = latency(serve, list(sources[:64]), 5)
    print(f"exported model latency (beam {cfg.model.beam_width}): one sentence "
          f"{1000 * one:.0f} ms; a batch of 64 {1000 * many:.0f} ms "
          f"({1000 * many / 64:.1f} ms per sentence)")
    for i in range(8):
        print(f"  {sources[i]}\n    -> {predictions['test']['beam'][i]}")
    if args.rerun:
        rerun_report(TranslationPipeline, args.overrides, args.rerun)
    return 0


if __name__ == "__main__":
    sys.exit(main())
