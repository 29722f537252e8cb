"""Translation on the embedded gettext corpus: attention vs no attention, greedy vs beam.

Runs the default `suite run translation` (in a temporary directory with its own MLflow
store) and prints test BLEU and chrF (sacrebleu) of the attention model and of the
no-attention baseline trained with the same budget, BLEU by source length, parameter
counts, training throughput in target tokens per second and the exported model's
translation latency for one sentence and for a batch of 64.

    python benchmarks/translation.py [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import isolate, timed_run  # noqa: I001  (sets the environment first)

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (registers the ops the export uses)

from pipelines.translation import model  # noqa: E402
from pipelines.translation.pipeline import TranslationPipeline, tokenizers  # noqa: E402


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
    args = parser.parse_args(argv)
    isolate("translation")
    result, pipeline, fit_s, total_s = timed_run(TranslationPipeline, args.overrides)
    m, cfg = result.metrics, pipeline.config

    print(f"\ntest split: {len(pipeline.test_pairs)} pairs; beam width "
          f"{cfg.model.beam_width}, length penalty {cfg.model.length_penalty}")
    print(f"{'model':<28}{'parameters':>12}{'BLEU beam':>11}{'chrF beam':>11}"
          f"{'BLEU greedy':>13}{'chrF greedy':>13}")
    for label, key, params in (("attention (" + cfg.model.attention + ")", "test",
                                pipeline.parameters["attention"]),
                               ("no attention (baseline)", "baseline_no_attention",
                                pipeline.parameters["no attention"])):
        print(f"{label:<28}{params:>12,}{m[f'{key}_bleu']:>11.2f}{m[f'{key}_chrf']:>11.2f}"
              f"{m[f'{key}_bleu_greedy']:>13.2f}{m[f'{key}_chrf_greedy']:>13.2f}")
    ratio = m["test_bleu"] / max(m["baseline_no_attention_bleu"], 1e-9)
    print(f"attention BLEU / no-attention BLEU (beam): {ratio:.2f}x")
    print("BLEU by source length (words): " + "  ".join(
        f"{r['bucket']} (n={r['sentences']}): {r['attention']:.1f} vs {r['no attention']:.1f}"
        for r in pipeline.by_length))

    train = pipeline.info.extra["pairs"]["train"]
    target_tokenizer = tokenizers(pipeline.info)[1]
    lengths = model.tokenize(target_tokenizer, [t for _, t in train]).row_lengths()
    tokens = int(tf.reduce_sum(tf.minimum(lengths + 1, cfg.model.max_tokens)))
    epochs = len(pipeline.epochs)
    print(f"training: {fit_s:.0f}s wall for {epochs} epochs of {len(train)} pairs: "
          f"{tokens * epochs / fit_s:,.0f} target tokens/s; whole run {total_s:.0f}s "
          f"(baseline training and decoding included) on {os.cpu_count()} CPU cores")

    serve = tf.saved_model.load(str(result.export_dir)).signatures["serving_default"]
    sentences = [s for s, _ in pipeline.test_pairs]
    one = latency(serve, sentences[:1], 20)
    many = latency(serve, sentences[:64], 5)
    print(f"exported model latency (beam {cfg.model.beam_width}): one sentence "
          f"{1000 * one:.0f} ms; a batch of 64 {1000 * many:.0f} ms "
          f"({1000 * many / 64:.1f} ms per sentence)")
    for i in range(8):
        print(f"  {sentences[i]}\n    -> {pipeline.outputs['test', 'beam'][i]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
