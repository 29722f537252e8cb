"""Hot loading: new versions switch in without failing requests in flight, a broken version
leaves the old one serving, a removed model is unloaded, `--versions N` keeps N."""

import base64
import os
import shutil
import threading
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from suite.serving.server import Server
from tests.serving.client import Rest, png_bytes

IMAGE = "image-classification"
BODY = {"instances": [{"b64": base64.b64encode(png_bytes()).decode()}]}


def wait_for(condition, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def place(source, root, name: str, version: int) -> None:
    """Puts a version in place the way `suite run` does: a hidden copy, then one rename."""
    tmp = root / name / f".tmp-{version}"
    shutil.copytree(source, tmp)
    os.rename(tmp, root / name / str(version))


def states(rest: Rest, name: str) -> dict[str, dict]:
    status, reply = rest.get(f"/v1/models/{name}")
    if status != 200:
        return {}
    return {s["version"]: s for s in reply["model_version_status"]}


@pytest.mark.slow
def test_a_new_version_switches_in_while_clients_loop(served, tiny_exports):
    root, rest = served.root, served.rest()
    place(tiny_exports[IMAGE], root, "switch", 1)
    wait_for(lambda: states(rest, "switch").get("1", {}).get("state") == "AVAILABLE",
             what="version 1 to load")

    stop, failures, versions = threading.Event(), [], set()

    def rest_loop():
        client = Rest(served.rest_port)
        while not stop.is_set():
            try:
                status, reply = client.predict("switch", BODY)
                if status != 200:
                    failures.append((status, reply))
            except OSError as e:
                failures.append(repr(e))

    def grpc_loop():
        prediction, _ = served.stubs()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "switch"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto([png_bytes()]))
        while not stop.is_set():
            try:
                versions.add(prediction.Predict(request, timeout=30).model_spec.version.value)
            except grpc.RpcError as e:
                failures.append((e.code(), e.details()))

    threads = [threading.Thread(target=f) for f in (rest_loop, rest_loop, grpc_loop)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: 1 in versions, what="a reply from version 1")
        place(tiny_exports[IMAGE], root, "switch", 2)
        wait_for(lambda: 2 in versions, what="a reply from version 2")
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert versions == {1, 2}
    now = states(rest, "switch")
    assert now["2"]["state"] == "AVAILABLE" and now["1"]["state"] == "END"
    assert rest.predict("switch", BODY, version=1)[0] == 404


@pytest.mark.slow
def test_a_broken_version_leaves_the_old_one_serving(served, tiny_exports, tmp_path):
    root, rest = served.root, served.rest()
    place(tiny_exports[IMAGE], root, "broken", 1)
    wait_for(lambda: states(rest, "broken").get("1", {}).get("state") == "AVAILABLE",
             what="version 1 to load")
    bad = tmp_path / "bad"
    shutil.copytree(tiny_exports[IMAGE], bad)
    (bad / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    place(bad, root, "broken", 2)
    (root / "broken" / "3").mkdir()  # no saved_model.pb: not a version, ignored
    failed = wait_for(lambda: states(rest, "broken").get("2", {}).get("state") == "END"
                      and states(rest, "broken")["2"], what="version 2 to fail")
    assert failed["status"]["error_code"] == "UNKNOWN"
    assert "cannot load" in failed["status"]["error_message"]
    assert states(rest, "broken")["1"]["state"] == "AVAILABLE"
    assert "3" not in states(rest, "broken")
    status, reply = rest.predict("broken", BODY)
    assert status == 200 and len(reply["predictions"]) == 1
    assert rest.predict("broken", BODY, version=2)[0] == 404
    _, metrics = rest.get("/metrics")
    assert 'suite_serving_load_failures_total{model="broken"} 1.0' in metrics
    assert 'suite_serving_latest_version{model="broken"} 1.0' in metrics

    place(tiny_exports[IMAGE], root, "broken", 4)  # a good one after it switches in
    wait_for(lambda: states(rest, "broken").get("4", {}).get("state") == "AVAILABLE",
             what="version 4 to load")


@pytest.mark.slow
def test_a_removed_model_is_unloaded(served, tiny_exports):
    root, rest = served.root, served.rest()
    place(tiny_exports[IMAGE], root, "removed", 1)
    wait_for(lambda: rest.predict("removed", BODY)[0] == 200, what="the model to serve")
    shutil.rmtree(root / "removed")
    wait_for(lambda: rest.predict("removed", BODY)[0] == 404, what="the model to go")
    assert rest.get("/v1/models/removed")[0] == 404
    _, metrics = rest.get("/metrics")
    assert 'model="removed"' not in metrics.split("suite_serving_loaded_versions")[-1]


def test_versions_n_keeps_the_newest_n_for_pinned_requests(tiny_exports, tmp_path):
    root = tmp_path / "models"
    for version in (1, 2, 3):
        place(tiny_exports[IMAGE], root, IMAGE, version)
    server = Server(root, rest_port=0, grpc_port=0, versions=2, poll_seconds=0.1).start()
    try:
        rest = Rest(server.rest_port)
        assert server.manager.loaded() == {IMAGE: [2, 3]}
        assert rest.predict(IMAGE, BODY, version=2)[0] == 200
        assert rest.predict(IMAGE, BODY, version=1)[0] == 404
        assert {v: s["state"] for v, s in states(rest, IMAGE).items()} == {
            "3": "AVAILABLE", "2": "AVAILABLE"}
        place(tiny_exports[IMAGE], root, IMAGE, 4)
        wait_for(lambda: server.manager.loaded() == {IMAGE: [3, 4]}, what="version 4")
        assert rest.predict(IMAGE, BODY, version=2)[0] == 404
        assert states(rest, IMAGE)["2"]["state"] == "END"
    finally:
        assert server.stop()


@pytest.mark.parametrize("value", [0, -1])
def test_versions_must_be_positive(tmp_path, value):
    with pytest.raises(ValueError, match=f"versions: got {value}, expected an integer >= 1"):
        Server(tmp_path, versions=value)
