"""Serving speed: `suite serve` over REST and gRPC against the in-process SavedModel call
and `mlflow models serve` of the same model.

Exports `image-classification` with its default config (baselines off: only the export
matters here), in a temporary directory with its own MLflow store, then sends one digit
PNG per request (the test split's, as a client would) at concurrency 1, 8 and 32 to:

* the in-process call `model.signatures["serving_default"](images=...)`, the floor;
* `suite serve` over REST (keep-alive `http.client`, row format with b64) and gRPC
  (the `tensorflow-serving-api` stub, one channel per client), batching off (the default);
* the same, with server-side batching on (`--batch-max-size 32`; a batch is what
  queued while the previous one ran);
* `mlflow models serve` of the same SavedModel logged as an MLflow pyfunc model
  (`/invocations` with the image as a base64 string in `dataframe_split`).

Clients are threads of this process, so every server is measured with the same client
overhead. Prints p50/p99 latency, requests/s and the server's CPU time per request (its
processes' user + system time over the measured requests; for the in-process call, this
process's, clients included) per path and concurrency, then the issue's targets: REST p50
at concurrency 1 within 2 ms of the in-process call; at concurrency 8, at least 3x the
requests/s of `mlflow models serve` and at most 1/3 of its p50. On a machine shared with
other jobs, requests/s and latency move with their load; CPU per request much less.

    python benchmarks/serving.py [--requests 600] [--model-dir DIR] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import isolate  # noqa: I001  (sets the environment first)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "image-classification"
CONCURRENCY = (1, 8, 32)


def digit_pngs(count: int) -> list[bytes]:
    """Digits as the 8-bit PNGs a client sends (`round(v * 255 / 16)`, as
    docs/pipelines/image-classification.md says)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    images = load_digits().images[-count:]
    out = []
    for pixels in images:
        buffer = io.BytesIO()
        Image.fromarray(np.round(pixels * 255 / 16).astype(np.uint8), mode="L").save(
            buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def export_model(model_dir: Path | None) -> Path:
    """The version directory to serve: the newest under `model_dir`, or a fresh export."""
    from suite import export
    from suite.cli import main

    if model_dir is None:
        model_dir = Path("saved_models")
        code = main(["run", MODEL, "--set", "eval.baselines=none", "--model-dir",
                     str(model_dir)])
        if code != 0:
            sys.exit(f"the export run failed with exit code {code}")
    return export.latest(Path(model_dir) / MODEL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants, in seconds."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(child)
        times[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo += children.get(current, [])
    return total


def measure(make_call, concurrency: int, requests: int, cpu=time.process_time) -> dict:
    """Runs `requests` calls over `concurrency` threads, each with its own `make_call()`;
    returns p50/p99 latency in ms, requests/s and `cpu()` seconds per request in ms (a
    first call per thread is warm-up)."""
    per_thread = max(1, requests // concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)

    def worker(n: int):
        call = make_call()
        call(n)
        ready.wait()
        mine = []
        for i in range(per_thread):
            start = time.perf_counter()
            try:
                call(n + i)
            except Exception as e:  # count it and go on: the table reports errors
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    start, cpu_start = time.perf_counter(), cpu()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu_ms = (cpu() - cpu_start) / len(latencies) * 1000
    ms = np.array(latencies) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "rps": len(latencies) / wall, "cpu_ms": cpu_ms, "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def in_process(version_dir: Path, pngs: list[bytes]):
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]

    def make_call():
        def call(i):
            out = serve(images=tf.constant([pngs[i % len(pngs)]]))
            return {k: v.numpy() for k, v in out.items()}
        return call
    return make_call


def json_post_client(port: int, path: str, bodies: list[str]):
    """`make_call` for JSON POSTs to `path` on a loopback HTTP server, one keep-alive
    connection per thread; a reply other than 200 raises."""
    def make_call():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def call(i):
            connection.request("POST", path, bodies[i % len(bodies)],
                               {"Content-Type": "application/json"})
            reply = connection.getresponse()
            data = reply.read()
            if reply.status != 200:
                raise RuntimeError(f"HTTP {reply.status}: {data[:200]!r}")
            return json.loads(data)
        return call
    return make_call


def rest_client(port: int, pngs: list[bytes]):
    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(p).decode()}]})
              for p in pngs]
    return json_post_client(port, f"/v1/models/{MODEL}:predict", bodies)


def grpc_client(port: int, pngs: list[bytes]):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    requests = []
    for png in pngs:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(tf.make_tensor_proto([png]))
        requests.append(request)

    def make_call():
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}"))

        def call(i):
            return stub.Predict(requests[i % len(requests)], timeout=60)
        return call
    return make_call


def mlflow_client(port: int, pngs: list[bytes]):
    bodies = [json.dumps({"dataframe_split": {"columns": ["images"], "data": [
        [base64.b64encode(p).decode()]]}}) for p in pngs]
    return json_post_client(port, "/invocations", bodies)


def start_suite_serve(model_root: Path, *args: str) -> tuple[subprocess.Popen, int, int]:
    out = Path(f"serve-{len(args)}.out")
    process = subprocess.Popen(
        [sys.executable, "-m", "suite.cli", "serve", "--model-dir", str(model_root),
         "--rest-port", "0", "--grpc-port", "0", *args],
        stdout=out.open("w"), stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines()
        if len(lines) >= 3 and lines[2].startswith("gRPC"):
            rest = int(lines[1].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            return process, rest, int(lines[2].rsplit(":", 1)[1])
        if process.poll() is not None:
            sys.exit(f"suite serve exited with {process.returncode}")
        time.sleep(0.1)
    process.kill()
    sys.exit("suite serve did not start in 300 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


class SavedModelPyfunc:
    """An MLflow pyfunc model that wraps the exported SavedModel (built lazily so that
    importing this file needs no MLflow)."""

    @staticmethod
    def build():
        import mlflow

        class Wrapper(mlflow.pyfunc.PythonModel):
            def load_context(self, context):
                import tensorflow as tf

                self.tf = tf
                self.serve = tf.saved_model.load(
                    context.artifacts["saved_model"]).signatures["serving_default"]

            def predict(self, context, model_input, params=None):
                import pandas as pd

                images = [base64.b64decode(s) for s in model_input["images"]]
                out = self.serve(images=self.tf.constant(images))
                return pd.DataFrame({
                    "label": [v.decode() for v in out["label"].numpy()],
                    "class_id": out["class_id"].numpy(),
                    "probabilities": list(out["probabilities"].numpy())})

        return Wrapper()


def start_mlflow_serve(version_dir: Path) -> tuple[subprocess.Popen, int]:
    import mlflow

    mlflow.set_experiment("serving-benchmark")
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=SavedModelPyfunc.build(),
                                artifacts={"saved_model": str(version_dir)})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    process = subprocess.Popen(
        [mlflow_cli, "models", "serve", "-m", f"runs:/{run.info.run_id}/model",
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=open("mlflow-serve.err", "w"),
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        if process.poll() is not None:
            sys.exit(f"mlflow models serve exited with {process.returncode}: "
                     f"{Path('mlflow-serve.err').read_text()[-2000:]}")
        time.sleep(0.5)
    process.kill()
    sys.exit("mlflow models serve did not answer /ping in 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600,
                        help="requests per path and concurrency")
    parser.add_argument("--model-dir", type=Path,
                        help="serve the newest image-classification export under this root "
                             "instead of exporting one")
    parser.add_argument("--skip-mlflow", action="store_true",
                        help="leave out `mlflow models serve`")
    args = parser.parse_args()
    model_dir = args.model_dir.resolve() if args.model_dir else None
    isolate("serving")
    version_dir = export_model(model_dir)
    root = Path("served")
    shutil.copytree(version_dir, root / MODEL / "1")
    pngs = digit_pngs(64)
    results = {}

    def run_all(path: str, make_call_factory, process=None):
        cpu = (lambda: cpu_seconds(process.pid)) if process else time.process_time
        for c in CONCURRENCY:
            results[(path, c)] = measure(make_call_factory, c, max(args.requests, c * 10),
                                         cpu)
            print(f"  {path:<28} c={c:<3} done", file=sys.stderr, flush=True)

    run_all("in-process SavedModel call", in_process(version_dir, pngs))
    process, rest, grpc_port = start_suite_serve(root)
    try:
        run_all("suite serve REST", rest_client(rest, pngs), process)
        run_all("suite serve gRPC", grpc_client(grpc_port, pngs), process)
    finally:
        stop(process)
    process, rest, grpc_port = start_suite_serve(root, "--batch-max-size", "32",
                                                 "--batch-timeout-ms", "0")
    try:
        run_all("suite serve REST, batching", rest_client(rest, pngs), process)
        run_all("suite serve gRPC, batching", grpc_client(grpc_port, pngs), process)
    finally:
        stop(process)
    if not args.skip_mlflow:
        process, port = start_mlflow_serve(version_dir)
        try:
            run_all("mlflow models serve", mlflow_client(port, pngs), process)
        finally:
            stop(process)

    print(f"\nserving {MODEL} ({version_dir.name}: one 8x8 digit PNG per request), "
          f"{args.requests} requests per row, {os.cpu_count()} CPU cores\n")
    rows = [("path", "concurrency", "p50 ms", "p99 ms", "req/s", "CPU ms/req", "errors")]
    for (path, c), r in results.items():
        rows.append((path, str(c), f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['rps']:.0f}",
                     f"{r['cpu_ms']:.2f}", str(r["errors"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for r in results.values():
        if r["errors"]:
            print(f"first error: {r['first_error']}")
            break

    floor, rest1 = results[("in-process SavedModel call", 1)], results[("suite serve REST", 1)]
    gap = rest1["p50"] - floor["p50"]
    print(f"\nREST p50 at concurrency 1: {rest1['p50']:.2f} ms, {gap:+.2f} ms over the "
          f"in-process call (target: within 2 ms): {'met' if gap <= 2 else 'MISSED'}")
    if ("mlflow models serve", 8) in results:
        m8 = results[("mlflow models serve", 8)]
        for name in ("REST", "gRPC", "REST, batching", "gRPC, batching"):
            r = results[(f"suite serve {name}", 8)]
            ratio, share = r["rps"] / m8["rps"], r["p50"] / m8["p50"]
            print(f"{name} at concurrency 8: {ratio:.1f}x the requests/s of mlflow models "
                  f"serve (target >= 3x), p50 {share:.2f} of its p50 (target <= 1/3): "
                  f"{'met' if ratio >= 3 and share <= 1 / 3 else 'MISSED'}; "
                  f"{m8['cpu_ms'] / r['cpu_ms']:.1f}x less server CPU per request")


if __name__ == "__main__":
    main()
