"""Load and life: concurrent clients, a slow request that blocks no one, server-side
batching, graceful SIGTERM, command-line errors, and every pipeline's export served."""

import base64
import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from suite import export, registry
from suite.cli import main
from suite.serving.batching import Batcher
from suite.serving.errors import ServingError
from suite.serving.server import Server
from tests.serving.client import Rest, as_json, example_request, png_bytes, start_server

IMAGE = "image-classification"


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


@pytest.mark.slow
def test_16_clients_200_requests_each_without_errors_or_growing_memory(served):
    images = [png_bytes(8, seed=i) for i in range(8)]
    bodies = [{"instances": [b64(i)]} for i in images]

    def client(n: int, requests: int) -> list:
        rest = Rest(served.rest_port)
        errors = []
        for i in range(requests):
            status, reply = rest.predict(IMAGE, bodies[(n + i) % len(bodies)])
            if status != 200 or len(reply["predictions"]) != 1:
                errors.append((status, reply))
        return errors

    with ThreadPoolExecutor(16) as pool:  # warm up: threads, caches, allocator pools
        assert sum(pool.map(client, range(16), [20] * 16), []) == []
    before = served.rss_bytes()
    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(client, range(16), [200] * 16), []) == []
    grown = served.rss_bytes() - before
    assert grown < 64 << 20, f"the server grew by {grown >> 20} MiB over 3,200 requests"
    assert Rest(served.rest_port).get("/healthz") == (200, "ok\n")


@pytest.mark.slow
def test_a_slow_request_does_not_block_others(served):
    slow_done = threading.Event()

    def slow():
        status, _ = Rest(served.rest_port).predict(
            "echo", {"signature_name": "spin", "inputs": 100_000})
        slow_done.set()
        return status

    with ThreadPoolExecutor(1) as pool:
        slow_status = pool.submit(slow)
        time.sleep(0.3)
        assert not slow_done.is_set(), "the slow request must still be running"
        rest = Rest(served.rest_port)
        start = time.perf_counter()
        for _ in range(5):
            assert rest.predict(IMAGE, {"instances": [b64(png_bytes())]})[0] == 200
        fast = time.perf_counter() - start
        assert not slow_done.is_set(), "the slow request ended before the fast ones: retune"
        assert slow_status.result() == 200
    assert fast < 2.0


def test_batching_stacks_concurrent_calls_and_isolates_a_bad_one(tiny_exports, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_exports[IMAGE], root / IMAGE / "1")
    images = [png_bytes(8, seed=i) for i in range(24)]
    expected = tf.saved_model.load(str(root / IMAGE / "1")).signatures["serving_default"](
        images=tf.constant(images))["probabilities"].numpy()
    server = Server(root, rest_port=0, grpc_port=0, batch_max_size=8,
                    batch_timeout_ms=20).start()
    try:
        def one(i):
            body = {"instances": [b64(images[i]) if i != 5 else b64(b"not an image")]}
            return Rest(server.rest_port).predict(IMAGE, body)

        with ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(one, range(24)))
        assert replies[5][0] == 400 and "Unknown image file format" in replies[5][1]["error"]
        for i, (status, reply) in enumerate(replies):
            if i != 5:
                assert status == 200, reply
                np.testing.assert_allclose(reply["predictions"][0]["probabilities"],
                                           expected[i], rtol=1e-5, atol=1e-6)
        metrics = Rest(server.rest_port).get("/metrics")[1]
        batches = [line for line in metrics.splitlines()
                   if line.startswith("suite_serving_batch_size_bucket")]
        at_most_one = next(float(line.split()[-1]) for line in batches if 'le="1.0"' in line)
        total = next(float(line.split()[-1]) for line in batches if 'le="+Inf"' in line)
        assert total > at_most_one, "no two requests were ever run as one batch"
    finally:
        assert server.stop()


def test_batcher_splits_outputs_back_by_request():
    calls = []

    def run(feeds):
        calls.append(len(feeds["x"]))
        if (feeds["x"] < 0).any():
            raise ServingError("INVALID_ARGUMENT", "negative")
        return {"y": feeds["x"] * 2}

    batcher = Batcher(run, max_size=6, timeout_ms=50)
    inputs = [np.array([i, i + 100]) for i in range(3)] + [np.array([-1])]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.run, {"x": x}) for x in inputs]
        for x, future in zip(inputs[:3], futures):
            np.testing.assert_array_equal(future.result()["y"], x * 2)
        with pytest.raises(ServingError, match="negative"):
            futures[3].result()
    batcher.close()
    assert max(calls) > 2, calls  # some requests ran together
    with pytest.raises(ValueError, match="max_size: got 0"):
        Batcher(run, max_size=0, timeout_ms=1)


def test_batcher_runs_a_lone_call_on_its_own_thread_and_queues_behind_busy_workers():
    threads, release, started = [], threading.Event(), threading.Semaphore(0)

    def run(feeds):
        threads.append((threading.current_thread(), len(feeds["x"])))
        if feeds["x"][0] < 0:  # the first two calls hold both workers
            started.release()
            release.wait(10)
        return {"y": feeds["x"]}

    batcher = Batcher(run, max_size=8, timeout_ms=0, workers=2)
    assert batcher.run({"x": np.array([1])})["y"].tolist() == [1]
    assert threads == [(threading.current_thread(), 1)]
    threads.clear()
    with ThreadPoolExecutor(6) as pool:
        busy = [pool.submit(batcher.run, {"x": np.array([-1])}) for _ in range(2)]
        for _ in range(2):
            assert started.acquire(timeout=10)
        queued = [pool.submit(batcher.run, {"x": np.array([i])}) for i in range(4)]
        time.sleep(0.2)
        assert len(threads) == 2, "a third call ran while both workers were busy"
        release.set()
        assert [f.result()["y"].tolist() for f in queued] == [[0], [1], [2], [3]]
        assert [f.result()["y"].tolist() for f in busy] == [[-1], [-1]]
    assert [rows for _, rows in threads[2:]] == [4]  # the queue ran as one batch
    batcher.close()
    assert batcher.run({"x": np.array([5])})["y"].tolist() == [5]


@pytest.mark.slow
def test_sigterm_finishes_the_requests_in_flight_and_exits_0(model_root, tmp_path):
    served = start_server(model_root, tmp_path)
    result = {}

    def slow_rest():
        result["rest"] = Rest(served.rest_port).predict(
            "echo", {"signature_name": "spin", "inputs": 80_000})

    def slow_grpc():
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = "echo", "spin"
        request.inputs["steps"].CopyFrom(tf.make_tensor_proto(np.int32(80_000)))
        reply = served.stubs()[0].Predict(request, timeout=60)
        result["grpc"] = tf.make_ndarray(reply.outputs["trace"])

    threads = [threading.Thread(target=f) for f in (slow_rest, slow_grpc)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert all(t.is_alive() for t in threads), "the slow requests must still be running"
    served.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    assert result["rest"][0] == 200
    assert np.isfinite(result["grpc"])
    assert served.process.wait(60) == 0
    assert served.out.read_text().splitlines()[-1] == "stopped"
    with pytest.raises(OSError):
        Rest(served.rest_port).get("/healthz")


@pytest.mark.parametrize("args,message", [
    (["--model-dir", "no-such-dir"], "model directory 'no-such-dir' does not exist"),
    (["--versions", "0"], "versions: got 0, expected an integer >= 1"),
    (["--rest-port", "70000"], "expected port numbers up to 65535"),
])
def test_command_line_errors_exit_2(workdir, capsys, args, message):
    (workdir / "saved_models").mkdir()
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_port_in_use_exits_2(served, workdir, capsys):
    (workdir / "saved_models").mkdir()
    assert main(["serve", "--rest-port", str(served.rest_port), "--grpc-port", "0"]) == 2
    assert (f"cannot listen for REST on 127.0.0.1:{served.rest_port}"
            in capsys.readouterr().err)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", registry.names())
def test_every_pipeline_export_is_served(pipeline, served, tiny_exports):
    """Whatever `suite run` exports, `suite serve` serves: each registered pipeline's tiny
    export, trained with XLA and bfloat16 compute, answers one REST and one gRPC request
    with its manifest's outputs."""
    source = tiny_exports[pipeline]
    trainer = export.read_manifest(source)["config"]["trainer"]
    assert (trainer["jit_compile"], trainer["mixed_precision"]) == ("true", "bfloat16")
    target = served.root / pipeline / "1"
    if not target.exists():
        shutil.copytree(source, served.root / pipeline / ".incoming")
        os.rename(served.root / pipeline / ".incoming", target)
    rest = served.rest()
    deadline = time.monotonic() + 120
    state = {}
    while state.get("state") not in ("AVAILABLE", "END") and time.monotonic() < deadline:
        status, reply = rest.get(f"/v1/models/{pipeline}/versions/1")
        state = reply["model_version_status"][0] if status == 200 else {}
        time.sleep(0.05)
    assert state.get("state") == "AVAILABLE", state
    manifest = export.read_manifest(target)
    example = example_request(manifest)
    outputs = set(manifest["outputs"])

    status, reply = rest.predict(pipeline, {"inputs": {k: [as_json(v)]
                                                       for k, v in example.items()}})
    assert status == 200, reply
    got = reply["outputs"]
    if len(outputs) > 1:  # a dict by output name
        assert set(got) == outputs
        shapes = {name: np.shape(value) for name, value in got.items()}
    else:  # TF Serving sends a lone output as the value itself, without its name
        assert not (isinstance(got, dict) and set(got) - outputs), got
        shapes = {name: np.shape(got) for name in outputs}
    for name, shape in shapes.items():  # one example in; each output's rank as declared
        declared = manifest["outputs"][name]["shape"]
        assert shape[0] == 1 and len(shape) == len(declared), (name, shape, declared)

    prediction, _ = served.stubs()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = pipeline
    for name, value in example.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(
            np.array([value], dtype=object) if isinstance(value, (bytes, str))
            else np.asarray(value)[None]))
    reply = prediction.Predict(request, timeout=120)
    assert set(reply.outputs) == outputs
    for name in outputs:
        assert tf.make_ndarray(reply.outputs[name]).shape[0] == 1
