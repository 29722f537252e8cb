"""The REST API against a running `suite serve`, over plain HTTP."""

import base64

import numpy as np
import pytest
import tensorflow as tf

from suite import export
from tests.serving.client import Rest, png_bytes

pytestmark = pytest.mark.slow  # against a `suite serve` subprocess

IMAGE = "image-classification"


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


@pytest.fixture(scope="module")
def rest(served):
    return served.rest()


def test_status_of_all_versions_and_of_one(rest):
    status, reply = rest.get(f"/v1/models/{IMAGE}")
    assert status == 200
    assert reply == {"model_version_status": [{
        "version": "1", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}
    assert rest.get(f"/v1/models/{IMAGE}/versions/1") == (200, reply)
    assert rest.get("/v1/models/nope") == (
        404, {"error": "Could not find any versions of model nope"})
    assert rest.get(f"/v1/models/{IMAGE}/versions/9") == (
        404, {"error": f"Could not find version 9 of model {IMAGE}"})


def test_metadata_are_the_signature_defs(rest, model_root):
    status, reply = rest.get(f"/v1/models/{IMAGE}/metadata")
    assert status == 200
    assert reply["model_spec"] == {"name": IMAGE, "version": "1", "signature_name": ""}
    defs = reply["metadata"]["signature_def"]["signature_def"]
    manifest = export.read_manifest(model_root / IMAGE / "1")
    assert set(defs) == set(manifest["signatures"])
    images = defs["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_STRING"
    assert images["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}],
                                      "unknown_rank": False}
    assert set(defs["serving_default"]["outputs"]) == {"probabilities", "class_id", "label"}
    assert defs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert rest.get(f"/v1/models/{IMAGE}/versions/1/metadata") == (200, reply)
    assert rest.get(f"/v1/models/{IMAGE}/versions/2/metadata") == (
        404, {"error": f"Servable not found for request: Specific({IMAGE}, 2)"})


def test_predict_row_and_columnar_formats_with_b64(rest, model_root):
    images = [png_bytes(8, seed=i) for i in range(3)]
    local = tf.saved_model.load(str(model_root / IMAGE / "1")).signatures["serving_default"](
        images=tf.constant(images))

    status, reply = rest.predict(IMAGE, {"instances": [b64(i) for i in images]})
    assert status == 200, reply
    rows = reply["predictions"]
    assert [sorted(r) for r in rows] == [["class_id", "label", "probabilities"]] * 3
    np.testing.assert_allclose([r["probabilities"] for r in rows],
                               local["probabilities"].numpy(), rtol=1e-6)
    assert [r["label"] for r in rows] == [v.decode() for v in local["label"].numpy()]
    assert [r["class_id"] for r in rows] == local["class_id"].numpy().tolist()

    status, reply = rest.predict(IMAGE, {"signature_name": "serving_default",
                                         "inputs": {"images": [b64(i) for i in images]}})
    assert status == 200, reply
    outputs = reply["outputs"]
    assert set(outputs) == {"class_id", "label", "probabilities"}
    np.testing.assert_allclose(outputs["probabilities"], local["probabilities"].numpy(),
                               rtol=1e-6)
    assert outputs["class_id"] == local["class_id"].numpy().tolist()
    assert rest.predict(IMAGE, {"inputs": [b64(i) for i in images]}, version=1) == (
        200, reply)

    pixels = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype("float32")
    status, reply = rest.predict(IMAGE, {"signature_name": "predict_pixels",
                                         "instances": pixels.tolist()})
    assert status == 200, reply
    assert len(reply["predictions"]) == 2


def test_translation_takes_and_returns_strings(rest, model_root):
    sentences = ["Open the file %s", "Cannot delete the folder", "¿Qué?"]
    serve = tf.saved_model.load(str(model_root / "translation" / "1")).signatures[
        "serving_default"]
    expected = [t.decode() for t in serve(sentences=tf.constant(sentences))["translation"]
                .numpy()]
    # one output: the row format lists its values, the columnar format is the tensor itself
    assert rest.predict("translation", {"instances": sentences}) == (
        200, {"predictions": expected})
    assert rest.predict("translation", {"inputs": {"sentences": sentences}}) == (
        200, {"outputs": expected})
    assert rest.predict("translation", {"inputs": [b64(s.encode()) for s in sentences]}) == (
        200, {"outputs": expected})


def test_every_dtype_bytes_outputs_and_text_that_is_not_utf8(rest):
    raw = b"\xff\xfe not utf-8"
    status, reply = rest.predict("echo", {"instances": [
        {"text": "héllo", "numbers": [1.5, 2.5], "count": 2},
        {"text": b64(raw), "numbers": [-1, 0.25], "count": 3}]})
    assert status == 200, reply
    assert reply["predictions"] == [
        {"text": "héllo", "text_bytes": b64("héllo".encode()), "total": 8.0},
        {"text": b64(raw), "text_bytes": b64(raw), "total": -2.25}]
    status, reply = rest.predict("echo", {"inputs": {
        "text": ["a"], "numbers": [[float("nan"), 1]], "count": [1]}})
    assert status == 200
    assert np.isnan(reply["outputs"]["total"][0])
    status, reply = rest.predict("echo", {"signature_name": "spin", "inputs": 3})
    assert status == 200 and isinstance(reply["outputs"], float)
    # a scalar output has no batch dimension: the row format cannot carry it
    status, reply = rest.predict("echo", {"signature_name": "spin", "instances": [3]})
    assert status == 400


BAD_REQUESTS = [
    (IMAGE, b"{not json", 400, "JSON Parse error"),
    (IMAGE, b"", 400, "The document is empty"),
    (IMAGE, b"[1, 2]", 400, "Is not object"),
    (IMAGE, {"instances": [], "inputs": []}, 400, "exactly one of 'instances'"),
    (IMAGE, {"instances": []}, 400, "No values in 'instances'"),
    (IMAGE, {"foo": 1}, 400, "exactly one of 'instances'"),
    (IMAGE, {"signature_name": "nope", "instances": ["x"]}, 400,
     'Serving signature name: "nope" not found'),
    (IMAGE, {"signature_name": 3, "instances": ["x"]}, 400, "'signature_name' must be a string"),
    (IMAGE, {"instances": [1, 2]}, 400, "expected type string"),
    (IMAGE, {"instances": [{"b64": "***"}]}, 400, "not valid base64"),
    (IMAGE, {"instances": ["not an image"]}, 400, "Unknown image file format"),
    (IMAGE, {"instances": [["a"], ["b"]]}, 400, "shape [2, 1] does not match the signature's [-1]"),
    (IMAGE, {"signature_name": "predict_pixels", "instances": [[[["x"]]]]}, 400,
     "expected type float32"),
    (IMAGE, {"signature_name": "predict_pixels", "instances": [[1, 2], [3]]}, 400, "ragged"),
    ("echo", {"inputs": {"text": ["a"], "numbers": [[1, 2]]}}, 400,
     "Missing named input: count"),
    ("echo", {"inputs": {"text": ["a"], "numbers": [[1, 2]], "count": [1], "x": 1}}, 400,
     "unknown input(s) x"),
    ("echo", {"instances": ["a"]}, 400, "instances is a plain list"),
    ("echo", {"instances": [{"text": "a", "numbers": [1, 2]}]}, 400, "with the keys"),
    ("echo", {"inputs": {"text": ["a"], "numbers": [[1, 2]], "count": [1.5]}}, 400,
     "expected type int32"),
    ("echo", {"inputs": {"text": ["a"], "numbers": [[1, 2]], "count": [2 ** 40]}}, 400,
     "out of range for int32"),
    ("echo", {"inputs": {"text": ["a"], "numbers": [["1", 2]], "count": [1]}}, 400,
     "expected type float32"),
    ("echo", {"inputs": {"text": [{"x": 1}], "numbers": [[1, 2]], "count": [1]}}, 400,
     "not formatted correctly for base64"),
    ("nope", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
]


@pytest.mark.parametrize("model,body,status,message", BAD_REQUESTS,
                         ids=[f"{m}-{msg[:30]}" for m, _, _, msg in BAD_REQUESTS])
def test_bad_requests_get_tf_serving_errors(rest, model, body, status, message):
    got, reply = rest.predict(model, body)
    assert got == status, reply
    assert set(reply) == {"error"} and message in reply["error"], reply


@pytest.mark.parametrize("method,path,status,message", [
    ("POST", f"/v1/models/{IMAGE}/versions/5:predict", 404,
     f"Servable not found for request: Specific({IMAGE}, 5)"),
    ("POST", f"/v1/models/{IMAGE}/versions/x1:predict", 400, "Failed to convert version"),
    ("POST", f"/v1/models/{IMAGE}/labels/stable:predict", 400,
     "Unrecognized servable version label: stable"),
    ("POST", f"/v1/models/{IMAGE}:classify", 501, "classify is not served"),
    ("GET", "/v1/models", 400, "Missing model name"),
    ("GET", "/v1/models/..%2F..%2Fetc", 400, "is not valid"),
    ("GET", "/v1/models/%2Fetc%2Fpasswd/metadata", 400, "is not valid"),
    ("POST", "/v1/models/..:predict", 400, "is not valid"),
    ("GET", "/v1/models/.hidden", 400, "is not valid"),
    ("GET", "/v1/models/empty-model", 404, "Could not find any versions of model empty-model"),
    ("GET", "/v1/models/README.txt", 404, "Could not find any versions"),
    ("GET", f"/v1/models/{IMAGE}:predict", 400, "Malformed request: GET"),
    ("DELETE", f"/v1/models/{IMAGE}", 400, "Malformed request: DELETE"),
    ("GET", "/", 404, "Not found"),
    ("GET", "/debug/vars", 404, "Not found"),
])
def test_bad_paths_names_and_versions(rest, method, path, status, message):
    got, reply, _ = rest.call(method, path, b"{}" if method == "POST" else None)
    assert got == status, reply
    assert message in reply["error"], reply


def test_a_body_over_the_limit_gets_413_and_the_server_goes_on(served):
    rest = Rest(served.rest_port)
    body = b'{"instances": ["' + b"x" * (1 << 20) + b'"]}'  # the server takes 1 MiB here
    status, reply, headers = rest.call("POST", f"/v1/models/{IMAGE}:predict", body)
    assert status == 413 and "at most 1048576" in reply["error"]
    assert headers["Connection"] == "close"
    status, reply = Rest(served.rest_port).predict(IMAGE, {"instances": [b64(png_bytes())]})
    assert status == 200


def test_keep_alive_serves_many_requests_on_one_connection_after_errors(served):
    rest = Rest(served.rest_port)
    for _ in range(3):
        assert rest.predict(IMAGE, b"{oops")[0] == 400
        assert rest.get("/v1/models/nope")[0] == 404
        assert rest.predict(IMAGE, {"instances": [b64(png_bytes())]})[0] == 200


def test_healthz_and_metrics(served):
    rest = Rest(served.rest_port)
    assert rest.get("/healthz") == (200, "ok\n")
    rest.predict(IMAGE, {"instances": [b64(png_bytes())]})
    rest.predict("made-up-model", {"instances": [1]})
    status, text = rest.get("/metrics")
    assert status == 200
    lines = text.splitlines()

    def value(prefix):
        found = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix)]
        assert found, f"no metric line starts with {prefix}"
        return found[0]

    assert value('suite_serving_requests_total{api="predict",code="200",'
                 f'model="{IMAGE}",protocol="rest"}}') >= 1
    assert value('suite_serving_requests_total{api="predict",code="404",model="",'
                 'protocol="rest"}') >= 1
    assert value('suite_serving_request_latency_seconds_count{api="predict",'
                 f'model="{IMAGE}",protocol="rest"}}') >= 1
    assert value(f'suite_serving_loaded_versions{{model="{IMAGE}"}}') == 1
    assert value('suite_serving_latest_version{model="echo"}') == 1
    assert not any('model="made-up-model"' in line for line in lines)
