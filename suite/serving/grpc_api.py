"""TF Serving's gRPC API on the servicer classes `tensorflow-serving-api` ships.

`PredictionService.Predict` and `GetModelMetadata`, `ModelService.GetModelStatus`; the
other methods (`Classify`, `Regress`, `MultiInference`, `HandleReloadConfigRequest`) keep
the servicers' UNIMPLEMENTED answer. Errors carry TF Serving's status codes.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from suite.serving import protos, tensors
from suite.serving.errors import ServingError, invalid
from suite.serving.model_manager import check_name

log = logging.getLogger(__name__)


def _version(spec) -> int | None:
    if spec.version_label:
        raise invalid(f"Unrecognized servable version label: {spec.version_label[:64]} "
                      "(version labels are not configured; set model_spec.version)")
    return spec.version.value if spec.HasField("version") else None


class _Calls:
    """Runs a servicer method: maps `ServingError` to the gRPC status and counts it."""

    def __init__(self, manager, metrics):
        self.manager, self.metrics = manager, metrics

    def __call__(self, api: str, spec, context, work):
        start = time.perf_counter()
        code = "OK"
        try:
            check_name(spec.name)
            return work()
        except ServingError as e:
            code = e.grpc_code.name
            context.abort(e.grpc_code, e.message)
        except Exception:
            code = "INTERNAL"
            log.exception("gRPC %s for %r failed", api, spec.name)
            context.abort(grpc.StatusCode.INTERNAL,
                          "internal error; the server log has the details")
        finally:
            known = self.manager.has(spec.name)
            self.metrics.observe(spec.name if known else "", api, "grpc", code,
                                 time.perf_counter() - start)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`tensorflow.serving.PredictionService`: Predict and GetModelMetadata.

    Args:
        manager: the `ModelManager` whose models it serves.
        metrics: the `Metrics` it counts requests in.
    """

    def __init__(self, manager, metrics):
        self.manager = manager
        self._calls = _Calls(manager, metrics)

    def Predict(self, request, context):
        def work():
            servable = self.manager.get(request.model_spec.name, _version(request.model_spec))
            key = servable.signature(request.model_spec.signature_name)
            specs = servable.inputs[key]
            unknown = sorted(set(request.inputs) - set(specs))
            if unknown:
                raise invalid(f"input tensor alias not found in signature: "
                              f"{', '.join(unknown)}. Inputs expected to be in the set "
                              f"{{{','.join(sorted(specs))}}}.")
            feeds = {name: tensors.array_from_proto(proto, specs[name], name)
                     for name, proto in request.inputs.items()}
            servable.check(key, feeds)
            outputs = servable.predict(key, feeds, tuple(request.output_filter))
            response = predict_pb2.PredictResponse(
                model_spec=protos.model_spec(servable.name, servable.version, key))
            for name, array in outputs.items():
                tensors.array_to_proto(array, response.outputs[name])
            return response

        return self._calls("predict", request.model_spec, context, work)

    def GetModelMetadata(self, request, context):
        def work():
            fields = list(request.metadata_field)
            if not fields:
                raise invalid("GetModelMetadataRequest must specify at least one "
                              "metadata_field")
            unsupported = [f for f in fields if f != protos.SIGNATURE_DEF]
            if unsupported:
                raise invalid(f"Metadata field {unsupported[0]} is not supported; "
                              f"{protos.SIGNATURE_DEF} is")
            servable = self.manager.get(request.model_spec.name, _version(request.model_spec))
            return protos.metadata_response(servable)

        return self._calls("metadata", request.model_spec, context, work)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """`tensorflow.serving.ModelService`: GetModelStatus.

    Args:
        manager: the `ModelManager` whose models it reports on.
        metrics: the `Metrics` it counts requests in.
    """

    def __init__(self, manager, metrics):
        self.manager = manager
        self._calls = _Calls(manager, metrics)

    def GetModelStatus(self, request, context):
        def work():
            if request.model_spec.version_label:
                _version(request.model_spec)
            version = (request.model_spec.version.value
                       if request.model_spec.HasField("version") else None)
            return protos.status_response(self.manager.status(request.model_spec.name,
                                                              version))

        return self._calls("status", request.model_spec, context, work)


def grpc_server(address: str, manager, metrics, max_request_bytes: int,
                threads: int) -> tuple[grpc.Server, int]:
    """A started gRPC server with both services.

    Args:
        address: `host:port`; port 0 picks a free one.
        manager: the `ModelManager` whose models it serves.
        metrics: the `Metrics` it counts requests in.
        max_request_bytes: the largest request message accepted (RESOURCE_EXHAUSTED past it).
        threads: how many calls run at once.

    Returns:
        `(server, port)`.

    Raises:
        OSError: if the address cannot be bound, naming it.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        options=[("grpc.max_receive_message_length", max_request_bytes),
                 ("grpc.max_send_message_length", -1),
                 ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(manager, metrics), server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"cannot listen for gRPC on {address}: {e}") from None
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}: the address is in use or "
                      "not available")
    server.start()
    return server, port
