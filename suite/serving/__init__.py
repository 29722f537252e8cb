"""TF-Serving-compatible REST and gRPC front ends over the exports under saved_models/.

`suite serve` runs `Server`: every model under the model root, the newest version of each,
over TensorFlow Serving's REST API (port 8501) and gRPC API (port 8500), so a client
written for TF Serving works unchanged. It needs only the exports: it imports TensorFlow,
tensorflow-text (so text models load), grpcio, the `tensorflow-serving-api` protos and
prometheus-client, never the pipelines or the training code.

    model_manager.py   finds, loads, swaps and unloads versions (`ModelManager`)
    servable.py        one loaded version: signatures, input checks, predict
    tensors.py         TF Serving's JSON and TensorProto encodings
    rest.py, grpc_api.py   the two front ends
    batching.py        optional server-side batching of concurrent predict calls
    metrics.py         Prometheus metrics
    server.py          `Server`: both front ends over one manager, graceful shutdown
"""
