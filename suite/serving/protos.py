"""The `tensorflow_serving.apis` replies both front ends send (REST sends their JSON)."""

from __future__ import annotations

from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    status_pb2,
)

from suite.serving.model_manager import VersionState
from suite.serving.servable import Servable

SIGNATURE_DEF = "signature_def"
_ERROR_CODES = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type


def model_spec(name: str, version: int, signature_name: str = "") -> model_pb2.ModelSpec:
    """The `ModelSpec` of a reply: the model, the version that answered, the signature."""
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_name)
    spec.version.value = version
    return spec


def status_response(states: list[tuple[int, VersionState]]
                    ) -> get_model_status_pb2.GetModelStatusResponse:
    """The `GetModelStatusResponse` for `(version, state)` pairs."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state in states:
        status = response.model_version_status.add(
            version=version, state=get_model_status_pb2.ModelVersionStatus.State.Value(
                state.state))
        status.status.error_code = _ERROR_CODES.values_by_name[state.error_code].number
        status.status.error_message = state.error_message
    return response


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The `GetModelMetadataResponse` with the servable's signature defs."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signatures.signature_def[key].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse(
        model_spec=model_spec(servable.name, servable.version))
    response.metadata[SIGNATURE_DEF].Pack(signatures)
    return response


def status_json(response) -> dict:
    """A `GetModelStatusResponse` as TF Serving's REST API writes it."""
    return json_format.MessageToDict(response, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_json(response) -> dict:
    """A `GetModelMetadataResponse` as TF Serving's REST API writes it: the model spec and
    the unpacked `SignatureDefMap` (TF Serving's `http_rest_api_util.cc`)."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF].Unpack(signatures)
    options = {"preserving_proto_field_name": True,
               "always_print_fields_with_no_presence": True}
    return {"model_spec": json_format.MessageToDict(response.model_spec, **options),
            "metadata": {SIGNATURE_DEF: json_format.MessageToDict(signatures, **options)}}
