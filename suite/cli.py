"""The `suite` command: list, run, predict, serve and compare runs.

Exit codes: 0 success; 1 a run or prediction failed; 2 a usage, config or data error;
3 the model was trained and exported but MLflow tracking failed (the run record is
incomplete; the message says where the model is).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

EXIT_FAILED, EXIT_USAGE, EXIT_TRACKING = 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    """Runs the `suite` command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        _import_tensorflow_quietly()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        logging.getLogger("alembic").setLevel(logging.WARNING)
    from suite.config import ConfigError
    from suite.data import DataError
    from suite.export import ExportError
    from suite.registry import UnknownPipelineError

    try:
        return args.func(args)
    except (ConfigError, DataError, UnknownPipelineError, ExportError,
            NotImplementedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume where it stopped",
              file=sys.stderr)
        return 130


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up notices (oneDNN, CUDA drivers not found, a
    failed cuInit) kept off the console: they read like failures to a person. They are
    written to file descriptor 2 before any log level applies, so the descriptor is
    pointed at a temporary file meanwhile; if the import fails, they are shown. `-v`
    leaves them alone."""
    import tempfile

    # Later notices of the same kind ("oneDNN supports DT_INT64 only on ...", logged at
    # error level though nothing failed) go through the log level: real errors still
    # reach the user as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery logs its notices now
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suite", description="TensorFlow/Keras task pipelines: run, predict, compare.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the registered pipelines, one line each")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="train, evaluate and export a pipeline (or all)")
    p.add_argument("pipeline", help="a pipeline name from `suite list`, or `all`")
    p.add_argument("--config", metavar="FILE.toml", help="a TOML file of config sections")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set trainer.epochs=5 (repeatable)")
    p.add_argument("--data", metavar="PATH", help="your own data (same as --set data.path=PATH)")
    p.add_argument("--model-dir", metavar="DIR", help="export root (same as export.dir)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("predict", help="run the newest exported model on files or strings")
    p.add_argument("target", help="a pipeline name, or an export directory")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or strings, per pipeline")
    p.add_argument("--model-dir", default="saved_models", metavar="DIR", help="export root")
    p.add_argument("--signature", metavar="NAME",
                   help="the signature to call (default: the manifest's, serving_default)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("serve", help="serve saved_models/ over TF Serving's REST and gRPC APIs")
    p.add_argument("--model-dir", metavar="DIR",
                   help="export root: serves the newest version of every model under it "
                        "(default: saved_models)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--rest-port", type=int, default=8501, metavar="PORT",
                   help="REST port (default 8501; 0 picks a free one)")
    p.add_argument("--grpc-port", type=int, default=8500, metavar="PORT",
                   help="gRPC port (default 8500; 0 picks a free one)")
    p.add_argument("--versions", type=int, default=1, metavar="N",
                   help="keep each model's newest N versions loaded (default 1)")
    p.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                   help="how often to look for new and removed versions (default 1)")
    p.add_argument("--max-request-mb", type=float, default=32.0, metavar="MB",
                   help="largest request accepted; larger ones get 413 (default 32)")
    p.add_argument("--batch-max-size", type=int, default=0, metavar="N",
                   help="batch concurrent predict calls up to N examples (default 0: off)")
    p.add_argument("--batch-timeout-ms", type=float, default=0.0, metavar="MS",
                   help="how long a batch waits to fill (default 0: it takes what queued "
                        "while the previous batch ran)")
    p.add_argument("--threads", type=int, default=32, metavar="N",
                   help="gRPC calls run at once (default 32)")
    p.add_argument("--from-registry", action="store_true",
                   help="serve each pipeline's champion from the MLflow Model Registry, "
                        "fetched into --model-dir (default: champions) first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "launch", help="train a pipeline with N local worker processes (multi-worker)",
        description="Starts N `suite run` worker processes on free loopback ports, each with "
                    "its TF_CONFIG and trainer.strategy=multi_worker. Worker 0 (the chief) "
                    "prints here and alone logs to MLflow and exports; if one worker fails, "
                    "all are stopped, and the same command resumes from the chief's backup.")
    p.add_argument("--workers", type=int, required=True, metavar="N",
                   help="worker processes to start (at least 1)")
    p.add_argument("pipeline", help="a pipeline name from `suite list`")
    p.add_argument("run_args", nargs=argparse.REMAINDER, metavar="RUN OPTIONS",
                   help="`suite run` options: --config, --set, --data, --model-dir")
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser("runs", help="compare MLflow runs in a table")
    p.add_argument("pipeline", nargs="?", help="one pipeline (default: all)")
    p.add_argument("--limit", type=int, default=10, help="runs per pipeline (default 10)")
    p.add_argument("--sort", metavar="METRIC",
                   help="sort by a metric, e.g. test_accuracy or 'test_cer ASC' (default: "
                        "newest first; the main metric sorts best first)")
    p.add_argument("--where", metavar="FILTER",
                   help="an MLflow filter, e.g. \"params.trainer.epochs = '5'\"")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("champion", help="which registered version is a pipeline's champion, "
                                        "and why")
    p.add_argument("pipeline", nargs="?", help="one pipeline (default: all)")
    p.set_defaults(func=cmd_champion)

    p = sub.add_parser("tune", help="search a pipeline's config keys with KerasTuner")
    p.add_argument("pipeline", help="a pipeline name from `suite list`")
    p.add_argument("--space", required=True, metavar="FILE.toml",
                   help="the search space: config keys with ranges or choices")
    p.add_argument("--trials", type=int, default=10, help="trials to run (default 10)")
    p.add_argument("--algorithm", default="random", choices=("random", "hyperband", "bayesian"),
                   help="KerasTuner's search (default random)")
    p.add_argument("--config", metavar="FILE.toml", help="the base config of every trial")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one base config key (repeatable)")
    p.add_argument("--data", metavar="PATH", help="your own data (same as --set data.path=PATH)")
    p.add_argument("--out", metavar="FILE.toml",
                   help="where the best config goes (default: <pipeline>-best.toml)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("ui", help="start the MLflow UI over the store the runs went to")
    p.add_argument("pipeline", nargs="?", help="print the URL of this pipeline's experiment")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000; 0: a free one)")
    p.set_defaults(func=cmd_ui)
    return parser


def cmd_list(args) -> int:
    from suite import registry

    for name in registry.names():
        cls = registry.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        baselines = ", ".join(b.name for b in cls().baselines()) or "none"
        print(f"{name:<24} {doc[0] if doc else ''}\n{'':<24} baselines: {baselines}")
    return 0


def cmd_run(args) -> int:
    from suite import registry
    from suite.config import load_config

    run_all = args.pipeline == "all"
    names = registry.names() if run_all else [args.pipeline]
    overrides = _run_overrides(args)
    pipelines = []
    for name in names:  # every config is checked before any training starts
        cls = registry.get(name)
        pipelines.append(cls(load_config(cls.config_cls, args.config, overrides)))

    results, failed = [], []
    for pipeline in pipelines:
        start = time.perf_counter()
        try:
            result = pipeline.run()
        except Exception as e:
            if not run_all:
                raise
            print(f"error: {pipeline.name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(pipeline.name)
            continue
        if result is None:  # a worker of a cluster: the chief reports the run
            continue
        results.append(result)
        _report(result, time.perf_counter() - start)
    if run_all:
        print(_summary(results, failed))
    if failed:
        return EXIT_FAILED
    return EXIT_TRACKING if any(r.tracking_errors for r in results) else 0


def _run_overrides(args) -> list[str]:
    """The `--set` overrides of `suite run` options, `--data` and `--model-dir` included."""
    return [*args.overrides, *([f"data.path={args.data}"] if args.data else []),
            *([f"export.dir={args.model_dir}"] if args.model_dir else [])]


def _report(result, seconds: float) -> None:
    from suite.experiments.ui import WORKFLOW_QUERY, is_server_uri
    from suite.tracking import tracking_uri

    print(f"\n[{result.pipeline}] finished in {seconds:.0f}s"
          + (" (model restored from its checkpoint, not retrained)" if result.restored else ""))
    if result.baselines_reused:
        print(f"  baselines reused from earlier runs: {', '.join(result.baselines_reused)}")
    if result.baselines_failed:
        print(f"  baselines that failed (left out): {', '.join(result.baselines_failed)}")
    print(_metrics_table(result.metrics))
    if result.comparison is not None:
        print(f"  {result.comparison.line()}")
    print(f"  exported to {result.export_dir}")
    if result.registered is not None:
        d = result.registered
        print(f"  registered as version {d.version} of model '{d.name}': "
              + ("the champion now" if d.champion else
                 f"the champion stays version {d.champion_version}") + f" ({d.reason})")
    if result.run_id:
        uri = tracking_uri()
        server = is_server_uri(uri)
        print(f"  MLflow run {result.run_id} in {uri}: "
              + ("" if server else f"`suite ui {result.pipeline}`, then ")
              + f"{uri.rstrip('/') if server else 'http://127.0.0.1:5000'}/#/experiments/"
              f"{result.experiment_id}/runs/{result.run_id}?{WORKFLOW_QUERY}")
    for error in result.tracking_errors:
        print(f"  warning: {error}\n  the model was still exported to {result.export_dir}",
              file=sys.stderr)


def _metrics_table(metrics: dict[str, float]) -> str:
    """The model's `test_<metric>` values beside each `baseline_<name>_<metric>`, one row
    per metric, one column per model: the names MLflow and the manifest use, as a table."""
    names = [k[len("test_"):] for k in metrics if k.startswith("test_")]
    columns = {"test": {n: metrics[f"test_{n}"] for n in names}}
    for key, value in metrics.items():
        if key.startswith("baseline_"):
            metric = next((n for n in sorted(names, key=len, reverse=True)
                           if key.endswith(f"_{n}")), None)
            if metric is not None:
                baseline = key[len("baseline_"):-len(metric) - 1]
                columns.setdefault(f"baseline {baseline}", {})[metric] = value
    rows = [("metric", *columns)] + [
        (n, *(_fmt(c.get(n)) for c in columns.values())) for n in names]
    return "\n".join("  " + line for line in _table(rows).splitlines())


def _summary(results, failed) -> str:
    """`suite run all`'s table: each model against its strongest baseline (a row some
    baseline beats is marked BEATEN), the ablation beside it, the time and the records."""
    rows = [("pipeline", "metric", "model", "strongest baseline", "value", "result",
             "ablation", "time", "export", "MLflow run")]
    for r in results:
        c = r.comparison
        ablation = "-" if c is None or c.ablation is None else \
            f"{c.ablation[0]} {c.ablation[1]:.4f}"
        rows.append((r.pipeline, r.main_metric, _fmt(r.main_value),
                     (c.strongest if c else None) or "-",
                     _fmt(c.strongest_value if c else None), c.verdict() if c else "-",
                     ablation, f"{r.seconds / 60:.1f} min", str(r.export_dir),
                     r.run_id or "-"))
    rows += [(name, "FAILED", *[""] * 8) for name in failed]
    beaten = [r.pipeline for r in results if r.beaten_by]
    note = (f"\nBEATEN: a baseline scores better than the model in {', '.join(beaten)}"
            if beaten else "")
    return "\n" + _table(rows) + note


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(rows) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_predict(args) -> int:
    """Runs an export on command-line inputs, from its SavedModel and manifest alone."""
    import tensorflow as tf

    from suite import export, predict
    from suite.export import ExportError

    target = Path(args.target)
    if target.is_dir():
        version_dir = target if (target / "saved_model.pb").is_file() else export.latest(target)
    else:
        model_dir = Path(args.model_dir) / args.target
        if not model_dir.is_dir():
            found = sorted(p.name for p in Path(args.model_dir).glob("*") if p.is_dir())
            raise ExportError(f"no exported model {args.target!r} under {args.model_dir!r}"
                              + (f"; there are: {', '.join(found)}" if found else
                                 ": run `suite run` first"))
        version_dir = export.latest(model_dir)
    manifest = export.read_manifest(version_dir)
    name = args.signature or manifest.get("signature_name", "serving_default")
    signature = manifest.get("signatures", {}).get(name)
    if signature is None:
        raise ExportError(f"{version_dir}: no signature {name!r} in the manifest; it has "
                          f"{', '.join(manifest.get('signatures', {})) or 'none'}")
    try:
        feeds, notes = predict.prepare(signature, args.inputs)
    except predict.PredictionInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        import tensorflow_text  # noqa: F401  registers the text ops text models use
    except ImportError:
        pass
    try:
        serve = tf.saved_model.load(str(version_dir)).signatures[name]
    except (OSError, KeyError, tf.errors.OpError) as e:
        raise ExportError(f"cannot load the model in {str(version_dir)!r}: {e}") from None
    try:
        outputs = serve(**feeds)
    except tf.errors.InvalidArgumentError as e:
        bad = _unreadable_items(serve, feeds, args.inputs) or args.inputs
        print(f"error: the model could not read {', '.join(map(repr, bad))}: "
              f"{_op_error_reason(e.message)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"# {manifest['pipeline']} version {manifest['version']} ({version_dir})")
    print(predict.render(manifest, signature, args.inputs, outputs, notes))
    return 0


def _unreadable_items(serve, feeds: dict, items: list[str]) -> list[str]:
    """The items the model fails on, found by calling it on each alone."""
    import tensorflow as tf

    if len(items) < 2:
        return []
    bad = []
    for i, item in enumerate(items):
        try:
            serve(**{name: tensor[i:i + 1] for name, tensor in feeds.items()})
        except tf.errors.InvalidArgumentError:
            bad.append(item)
    return bad


def _op_error_reason(message: str) -> str:
    """The reason in a TensorFlow op error, without its graph-execution boilerplate."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[["))]
    return reasons[0] if reasons else lines[-1] if lines else message


def cmd_launch(args) -> int:
    from suite import registry
    from suite.config import ConfigError, load_config
    from suite.launch import launch

    if args.workers < 1:
        raise ConfigError(f"--workers: got {args.workers}, expected a whole number >= 1")
    if args.pipeline == "all":
        raise ConfigError("launch: got 'all', expected one pipeline (run them one by one)")
    cls = registry.get(args.pipeline)
    run = _parser().parse_args(["run", args.pipeline, *args.run_args])  # checked here, once
    load_config(cls.config_cls, run.config, _run_overrides(run))
    return launch(args.pipeline, args.workers, args.run_args)


def cmd_serve(args) -> int:
    """Serves the exports until SIGTERM or Ctrl-C, then finishes the requests in flight."""
    from suite.serving.server import Server

    logging.getLogger("suite.serving").setLevel(logging.INFO)  # loads and unloads
    if args.from_registry:
        args.model_dir = args.model_dir or "champions"
        if not _fetch_champions(args.model_dir):
            return EXIT_FAILED
    args.model_dir = args.model_dir or "saved_models"
    try:
        server = Server(args.model_dir, host=args.host, rest_port=args.rest_port,
                        grpc_port=args.grpc_port, versions=args.versions,
                        poll_seconds=args.poll_seconds,
                        max_request_bytes=int(args.max_request_mb * (1 << 20)),
                        batch_max_size=args.batch_max_size,
                        batch_timeout_ms=args.batch_timeout_ms, threads=args.threads)
        server.start()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    loaded = server.manager.loaded()
    print(f"serving {len(loaded)} model(s) from {args.model_dir}: "
          + (", ".join(f"{name} (version {max(v)})" for name, v in loaded.items())
             or "none yet; new exports are picked up as they appear"))
    print(f"REST  http://{args.host}:{server.rest_port}/v1/models/<name>[:predict]")
    print(f"gRPC  {args.host}:{server.grpc_port}")
    print("Ctrl-C or SIGTERM stops after the requests in flight", flush=True)
    finished = server.serve_until_signalled()
    print("stopped" if finished else "stopped; some requests did not finish in time",
          flush=True)
    return 0


def _fetch_champions(model_dir: str) -> bool:
    """Downloads every pipeline's champion into `model_dir`; False (with a message) if
    the store cannot be read or holds no champion."""
    import mlflow

    from suite import registry
    from suite.experiments import champion
    from suite.tracking import tracking_uri

    try:
        fetched = champion.fetch(mlflow.MlflowClient(tracking_uri()), registry.names(),
                                 model_dir, tracking_uri())
    except mlflow.exceptions.MlflowException as e:
        print(f"error: cannot read the registry at {tracking_uri()}: {e.message}",
              file=sys.stderr)
        return False
    if not fetched:
        print(f"error: no champions in the registry at {tracking_uri()}: run `suite run "
              "<pipeline>` first", file=sys.stderr)
        return False
    for name, directory in fetched.items():
        print(f"{name}: champion version {directory.name} fetched into {directory}")
    return True


def cmd_runs(args) -> int:
    import mlflow

    from suite import registry
    from suite.experiments import runs
    from suite.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    names = [args.pipeline] if args.pipeline else registry.names()
    tables = []
    for name in names:
        cls = registry.get(name)
        try:
            found = runs.search(name, args.limit, args.sort, args.where, cls.higher_is_better)
        except runs.RunsQueryError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as e:  # the store is the user's: say which and why
            print(f"error: cannot read runs from {tracking_uri()}: {e}", file=sys.stderr)
            return EXIT_FAILED
        if len(found):
            rows = runs.table_rows(found, cls().compare)
            tables.append(f"{name} ({len(found)} run{'s' * (len(found) > 1)})\n"
                          + _table(rows))
    print("\n\n".join(tables) if tables else f"no runs in {tracking_uri()}")
    return 0


def cmd_champion(args) -> int:
    import mlflow

    from suite import registry
    from suite.experiments import champion
    from suite.tracking import tracking_uri

    client = mlflow.MlflowClient(tracking_uri())
    names = [registry.get(args.pipeline).name] if args.pipeline else registry.names()
    try:
        print("\n".join(champion.report(client, name, registry.get(name)().compare)
                        for name in names))
    except mlflow.exceptions.MlflowException as e:
        print(f"error: cannot read the registry at {tracking_uri()}: {e.message}",
              file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_tune(args) -> int:
    from suite import registry
    from suite.experiments import tune

    overrides = list(args.overrides) + ([f"data.path={args.data}"] if args.data else [])
    result = tune.tune(registry.get(args.pipeline), args.space, trials=args.trials,
                       algorithm=args.algorithm, config_path=args.config,
                       overrides=overrides, out=args.out)
    print(tune.summary(result))
    return 0


def cmd_ui(args) -> int:
    """Starts the MLflow UI on the runs' store until Ctrl-C (or points at the server)."""
    from suite.experiments import ui

    return ui.serve(args.pipeline, host=args.host, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
