"""Document retrieval on the fortunes and on a folder of standard-library docstrings: the
auto-encoder's codes against LSA and TF-IDF, with and without greedy pre-training.

Runs the default `suite run document-retrieval` (in a temporary directory with its own
MLflow store) on the embedded fortunes corpus, then again with greedy layer-wise
pre-training (`model.pretrain_epochs`, `--pretrain-epochs`, 2 by default; 0 skips it) in
the same directory (the baselines are reused), and prints one table: precision@1/10/50 and
MAP of the 10-D auto-encoder (fine-tuned only and pre-trained first), 10-D LSA and full
TF-IDF on the held-out queries, the auto-encoder's ratio to LSA at precision@10, and its
training time (pre-training and fine-tuning), with the whole run's CPU time. Then the precision-recall points of
every system, and the exported model's latency for one query against the whole index.
The same runs follow on a real-world labeled folder the defaults were not tuned on:
standard-library docstrings by package (`text_folders.docstring_folder`), or `--folder DIR`.

    python benchmarks/document_retrieval.py [--folder DIR] [--skip-fortunes] [--skip-folder]
                                            [--pretrain-epochs 2] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import tensorflow as tf
import text_folders
from common import isolate, timed_run

from pipelines.document_retrieval.pipeline import DocumentRetrievalPipeline
from suite.metrics import retrieval


def latency(version_dir, query: str, repeats: int = 30) -> float:
    """The median seconds of the exported search answering one query."""
    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    batch = tf.constant([query])
    serve(queries=batch)  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        serve(queries=batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(title: str, overrides, pretrain_epochs: int) -> None:
    """Runs the pipeline without and (with `pretrain_epochs`) with pre-training and prints
    the comparison."""
    start = time.process_time()
    result, pipeline, fit_s, total_s = timed_run(
        DocumentRetrievalPipeline, [*overrides, "model.pretrain_epochs=0"])
    cpu_s = time.process_time() - start
    pre = pre_pipeline = None
    if pretrain_epochs:
        pre, pre_pipeline, pre_fit_s, _ = timed_run(
            DocumentRetrievalPipeline, [*overrides, f"model.pretrain_epochs={pretrain_epochs}"])
    m, info, cfg = result.metrics, pipeline.splits.info, pipeline.config.model
    lsa = m["baseline_lsa_precision_at_10"]
    print(f"\n{title}: {len(info.classes)} labels, {info.sizes['train']:,} indexed documents, "
          f"{info.sizes['test']:,} held-out queries ({info.sizes['val']:,} validation), "
          f"{len(info.state.vocabulary):,}-word vocabulary")
    print(f"{'system':<38}{'P@1':>7}{'P@10':>7}{'P@50':>7}{'MAP':>7}{'P@10/LSA':>10}"
          f"{'training':>12}")
    rows = [(f"auto-encoder {cfg.code_dim}-D, no pre-training", m, "test", f"{fit_s:.0f}s")]
    if pre is not None:
        rows.append((f"auto-encoder {cfg.code_dim}-D, pre-trained {pretrain_epochs} ep/layer",
                     pre.metrics, "test", f"{pre_pipeline.pretrain_seconds:.0f}+{pre_fit_s:.0f}s"))
    rows += [(f"LSA {cfg.code_dim}-D", m, "baseline_lsa", "-"),
             (f"TF-IDF {len(info.state.vocabulary)}-D", m, "baseline_tfidf", "-")]
    for label, metrics, key, seconds in rows:
        p = [metrics[f"{key}_{k}"] for k in ("precision_at_1", "precision_at_10",
                                              "precision_at_50", "map")]
        print(f"{label:<38}" + "".join(f"{v:>7.3f}" for v in p) + f"{p[1] / lsa:>9.2f}x"
              + f"{seconds:>12}")
    line = (f"epochs: default run {len(pipeline.epochs)} (best val_precision_at_10 "
            f"{max(pipeline.history['val_precision_at_10']):.3f})")
    if pre is not None:
        line += (f", pre-trained run {len(pre_pipeline.epochs)} (best "
                 f"{max(pre_pipeline.history['val_precision_at_10']):.3f})")
    print(f"{line}; whole default run {total_s:.0f}s wall, {cpu_s:.0f}s of CPU time, on "
          f"{os.cpu_count()} CPU cores (wall time grows with other work on the machine)")
    systems = {"AE": pipeline.predictions["test"]}
    if pre is not None:
        systems["AE pre-trained"] = pre_pipeline.predictions["test"]
    systems.update({"LSA": pipeline.predictions["baseline_lsa"],
                    "TF-IDF": pipeline.predictions["baseline_tfidf"]})
    curves = {name: retrieval.pr_curve(p) for name, p in systems.items()}
    print("precision at recall " + " ".join(f"{r:>7g}" for r in retrieval.RECALL_LEVELS))
    for name, curve in curves.items():
        print(f"  {name:<18}" + " ".join(f"{p:>7.3f}" for _, p in curve))
    query = pipeline.documents["test"].texts[0]
    print(f"exported search, one query against {info.sizes['train']:,} documents: "
          f"{latency(result.export_dir, query) * 1000:.1f} ms (median of 30)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="a folder of label folders instead of the "
                                         "standard-library docstrings")
    parser.add_argument("--skip-fortunes", action="store_true")
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--pretrain-epochs", type=int, default=2,
                        help="pre-training epochs per layer of the second run (0: no second "
                             "run)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    workdir = isolate("document-retrieval")
    if not args.skip_fortunes:
        table("fortunes (embedded)", args.overrides, args.pretrain_epochs)
    if not args.skip_folder:
        folder = args.folder or str(text_folders.docstring_folder(f"{workdir}/docstrings"))
        isolate("document-retrieval-folder")
        table(f"folder {folder}", [f"data.path={folder}", *args.overrides],
              args.pretrain_epochs)


if __name__ == "__main__":
    main()
