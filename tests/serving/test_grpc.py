"""The gRPC API against a running `suite serve`, through the `tensorflow-serving-api` stubs."""

import base64

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, predict_pb2)

from tests.serving.client import Rest, png_bytes

pytestmark = pytest.mark.slow  # against a `suite serve` subprocess

IMAGE = "image-classification"


@pytest.fixture(scope="module")
def stubs(served):
    return served.stubs()


def predict_request(model: str, version: int | None = None, signature: str = "",
                    **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_predict_matches_the_saved_model_and_rest(stubs, served, model_root):
    prediction, _ = stubs
    images = [png_bytes(8, seed=i) for i in range(4)]
    reply = prediction.Predict(predict_request(IMAGE, images=images), timeout=30)
    assert reply.model_spec.name == IMAGE and reply.model_spec.version.value == 1
    assert reply.model_spec.signature_name == "serving_default"
    assert set(reply.outputs) == {"probabilities", "class_id", "label"}
    local = tf.saved_model.load(str(model_root / IMAGE / "1")).signatures["serving_default"](
        images=tf.constant(images))
    np.testing.assert_allclose(tf.make_ndarray(reply.outputs["probabilities"]),
                               local["probabilities"].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(tf.make_ndarray(reply.outputs["label"]),
                                  local["label"].numpy())
    _, rest = Rest(served.rest_port).predict(IMAGE, {"inputs": [
        {"b64": base64.b64encode(i).decode()} for i in images]})
    np.testing.assert_allclose(rest["outputs"]["probabilities"],
                               tf.make_ndarray(reply.outputs["probabilities"]), rtol=1e-6)

    request = predict_request(IMAGE, 1, images=images[:1])
    request.output_filter.append("label")
    assert set(prediction.Predict(request).outputs) == {"label"}

    pixels = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype("float32")
    reply = prediction.Predict(predict_request(IMAGE, signature="predict_pixels",
                                               pixels=pixels))
    assert tf.make_ndarray(reply.outputs["probabilities"]).shape == (2, 10)


def test_strings_and_several_dtypes(stubs):
    prediction, _ = stubs
    raw = b"\xff\x00 bytes"
    reply = prediction.Predict(predict_request(
        "echo", text=np.array([raw, "é".encode()], dtype=object),
        numbers=np.array([[1, 2], [3, 4]], np.float32), count=np.array([2, 1], np.int32)))
    assert tf.make_ndarray(reply.outputs["text"]).tolist() == [raw, "é".encode()]
    assert tf.make_ndarray(reply.outputs["total"]).tolist() == [6.0, 7.0]
    reply = prediction.Predict(predict_request(
        "translation", sentences=["Open the file %s", "Save the image"]))
    assert tf.make_ndarray(reply.outputs["translation"]).shape == (2,)


def test_metadata_and_status(stubs, served):
    prediction, models = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = IMAGE
    reply = prediction.GetModelMetadata(request)
    assert reply.model_spec.name == IMAGE and reply.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert reply.metadata["signature_def"].Is(get_model_metadata_pb2.SignatureDefMap.DESCRIPTOR)
    reply.metadata["signature_def"].Unpack(signatures)
    images = signatures.signature_def["serving_default"].inputs["images"]
    assert images.dtype == tf.string.as_datatype_enum
    assert [d.size for d in images.tensor_shape.dim] == [-1]
    assert set(signatures.signature_def) == {"serving_default", "predict_pixels"}

    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": IMAGE}))
    (version,) = status.model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert version.status.error_code == 0 and version.status.error_message == ""


@pytest.mark.parametrize("request_,code,message", [
    (predict_request("nope", images=[b"x"]), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    (predict_request(IMAGE, 3, images=[b"x"]), grpc.StatusCode.NOT_FOUND,
     f"Servable not found for request: Specific({IMAGE}, 3)"),
    (predict_request("../etc", images=[b"x"]), grpc.StatusCode.INVALID_ARGUMENT,
     "is not valid"),
    (predict_request(IMAGE, signature="nope", images=[b"x"]),
     grpc.StatusCode.INVALID_ARGUMENT, 'Serving signature name: "nope" not found'),
    (predict_request(IMAGE, images=np.zeros(2, np.float32)), grpc.StatusCode.INVALID_ARGUMENT,
     "expects a tensor of dtype string, got float32"),
    (predict_request(IMAGE, images=[[b"x"]]), grpc.StatusCode.INVALID_ARGUMENT,
     "does not match the signature's [-1]"),
    (predict_request(IMAGE, pictures=[b"x"]), grpc.StatusCode.INVALID_ARGUMENT,
     "input tensor alias not found in signature: pictures"),
    (predict_request(IMAGE), grpc.StatusCode.INVALID_ARGUMENT, "missing input(s) images"),
    (predict_request(IMAGE, images=[b"not an image"]), grpc.StatusCode.INVALID_ARGUMENT,
     "Unknown image file format"),
    (predict_request(IMAGE, images=[b"x" * (1 << 20)]), grpc.StatusCode.RESOURCE_EXHAUSTED,
     ""),
], ids=["model", "version", "name", "signature", "dtype", "shape", "alias", "missing",
        "image", "size"])
def test_errors_carry_tf_serving_codes(stubs, request_, code, message):
    prediction, _ = stubs
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(request_, timeout=30)
    assert raised.value.code() == code
    assert message in raised.value.details()


def test_metadata_and_status_errors(stubs):
    prediction, models = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = IMAGE
    with pytest.raises(grpc.RpcError) as raised:
        prediction.GetModelMetadata(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least one metadata_field" in raised.value.details()
    request.metadata_field.append("something_else")
    with pytest.raises(grpc.RpcError) as raised:
        prediction.GetModelMetadata(request)
    assert "something_else is not supported" in raised.value.details()
    status = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": IMAGE})
    status.model_spec.version.value = 4
    with pytest.raises(grpc.RpcError) as raised:
        models.GetModelStatus(status)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == f"Could not find version 4 of model {IMAGE}"
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Classify(classification_pb2.ClassificationRequest())
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # and after all of it the server still answers
    assert prediction.Predict(predict_request(IMAGE, images=[png_bytes()])).outputs["label"]
