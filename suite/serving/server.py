"""`suite serve`: the REST and gRPC front ends over one set of models, and their life."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from suite.serving.batching import Batcher
from suite.serving.metrics import Metrics
from suite.serving.model_manager import ModelManager

log = logging.getLogger(__name__)


class Server:
    """Serves every model under a root over TF Serving's REST and gRPC APIs.

    Args:
        model_dir: the model root, `<model_dir>/<model>/<version>/saved_model.pb`.
        host: the address both front ends bind (127.0.0.1: this machine only).
        rest_port: the REST port (0: a free one; see `rest_port` after `start`).
        grpc_port: the gRPC port (0: a free one; see `grpc_port` after `start`).
        versions: how many of each model's newest versions to keep loaded.
        poll_seconds: how often the root is scanned for new and removed versions.
        max_request_bytes: the largest request accepted (REST 413, gRPC
            RESOURCE_EXHAUSTED past it).
        batch_max_size: batch concurrent predict calls up to this many examples (0: off).
        batch_timeout_ms: how long a batch waits for more calls (0: a batch is what
            queued while the model was busy); up to one batch per core runs at once.
        threads: gRPC calls run at once (REST runs a thread per connection).
        op_threads: threads TensorFlow gives one op (its intra-op parallelism, set for
            the whole process by `start`, before the first model loads; None:
            TensorFlow's default, one per core). 1 by default: concurrent requests keep
            the cores busy already, and waking more threads for a small op costs more CPU
            than it saves (the digits classifier: 0.44 instead of 0.75 ms of CPU a call,
            docs/serving.md). `TF_NUM_INTRAOP_THREADS` in the environment wins over it.

    Example:
        server = Server("saved_models", rest_port=0, grpc_port=0).start()
        ...  # http://127.0.0.1:{server.rest_port}/v1/models/image-classification
        server.stop()
    """

    def __init__(self, model_dir: str | Path = "saved_models", host: str = "127.0.0.1",
                 rest_port: int = 8501, grpc_port: int = 8500, versions: int = 1,
                 poll_seconds: float = 1.0, max_request_bytes: int = 32 << 20,
                 batch_max_size: int = 0, batch_timeout_ms: float = 0.0, threads: int = 32,
                 op_threads: int | None = 1):
        for name, value, low in (("rest_port", rest_port, 0), ("grpc_port", grpc_port, 0),
                                 ("versions", versions, 1), ("max_request_bytes",
                                                             max_request_bytes, 1),
                                 ("batch_max_size", batch_max_size, 0), ("threads", threads, 1),
                                 ("op_threads", 1 if op_threads is None else op_threads, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: got {value!r}, expected an integer >= {low}")
        if rest_port > 65535 or grpc_port > 65535:
            raise ValueError(f"rest_port, grpc_port: got {rest_port}, {grpc_port}; expected "
                             "port numbers up to 65535")
        if poll_seconds <= 0 or batch_timeout_ms < 0:
            raise ValueError(f"poll_seconds, batch_timeout_ms: got {poll_seconds}, "
                             f"{batch_timeout_ms}; expected > 0 and >= 0")
        self.model_dir = Path(model_dir)
        self.host = host
        self.rest_port, self.grpc_port = rest_port, grpc_port
        self.poll_seconds = poll_seconds
        self.max_request_bytes = max_request_bytes
        self.batch_max_size, self.batch_timeout_ms = batch_max_size, batch_timeout_ms
        self.threads = threads
        self.op_threads = op_threads
        self.metrics = Metrics()
        self.manager = ModelManager(
            self.model_dir, versions, on_load=self._on_load,
            on_change=self.metrics.set_versions,
            on_failure=lambda model: self.metrics.load_failures.labels(model).inc())
        self._rest = self._grpc = None
        self._rest_thread = None
        self._stopped = threading.Event()

    def _on_load(self, servable) -> None:
        if self.batch_max_size:
            servable.enable_batching(lambda run: Batcher(
                run, self.batch_max_size, self.batch_timeout_ms,
                observe=self.metrics.batch_size.observe, workers=_cores()))

    def start(self) -> Server:
        """Loads the models found now, then opens both ports and starts polling.

        Raises:
            FileNotFoundError: if the model root is not a directory.
            OSError: if a port cannot be bound, naming the address.
        """
        from suite.serving.grpc_api import grpc_server
        from suite.serving.rest import RestServer

        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"model directory {str(self.model_dir)!r} does not exist: "
                                    "export a model with `suite run` first, or pass "
                                    "--model-dir")
        self._set_op_threads()
        self.manager.poll()
        try:
            self._rest = RestServer((self.host, self.rest_port), self.manager, self.metrics,
                                    self.max_request_bytes)
        except OSError as e:
            raise OSError(f"cannot listen for REST on {self.host}:{self.rest_port}: "
                          f"{e.strerror or e}") from None
        self.rest_port = self._rest.server_address[1]
        try:
            self._grpc, self.grpc_port = grpc_server(
                f"{_bracket(self.host)}:{self.grpc_port}", self.manager, self.metrics,
                self.max_request_bytes, self.threads)
        except OSError:
            self._rest.server_close()
            raise
        self._rest_thread = threading.Thread(target=self._rest.serve_forever,
                                             kwargs={"poll_interval": 0.2},
                                             name="rest", daemon=True)
        self._rest_thread.start()
        self.manager.start(self.poll_seconds)
        return self

    def _set_op_threads(self) -> None:
        if self.op_threads is None or "TF_NUM_INTRAOP_THREADS" in os.environ:
            return
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(self.op_threads)
        except RuntimeError:  # TensorFlow ran ops in this process already
            if tf.config.threading.get_intra_op_parallelism_threads() != self.op_threads:
                log.info("TensorFlow is initialised already: ops keep its thread count")

    def stop(self, grace: float = 30.0) -> bool:
        """Stops accepting, lets requests in flight finish (up to `grace` seconds), stops.

        Returns:
            True if every request in flight finished in time.
        """
        if self._stopped.is_set():
            return True
        self._stopped.set()
        self.manager.stop()
        done = self._grpc.stop(grace) if self._grpc else None
        finished = self._rest.drain(grace) if self._rest else True
        if done is not None:
            finished = done.wait(grace) and finished
        return finished

    def serve_until_signalled(self) -> bool:
        """Serves until SIGTERM or SIGINT, then stops gracefully; returns `stop()`'s
        result. Call from the main thread."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(1.0):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.warning("stopping: finishing the requests in flight")
        return self.stop()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
