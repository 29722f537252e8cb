"""A `suite serve` process for the tests, clients (plain HTTP for REST, the
`tensorflow-serving-api` stubs for gRPC), and an example request for any export, chosen by
the kinds its manifest declares."""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A running `suite serve` process and where to reach it."""

    process: object
    rest_port: int
    grpc_port: int
    root: Path
    out: Path
    err: Path

    def rest(self) -> Rest:
        return Rest(self.rest_port)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")

    def stubs(self):
        """`(PredictionServiceStub, ModelServiceStub)` on a fresh channel."""
        channel = self.channel()
        return (prediction_service_pb2_grpc.PredictionServiceStub(channel),
                model_service_pb2_grpc.ModelServiceStub(channel))

    def rss_bytes(self) -> int:
        """The server process's resident memory."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")


def start_server(model_root: Path, logdir: Path, *args: str) -> Served:
    """Starts `suite serve` in a subprocess on free loopback ports; waits until it serves."""
    out, err = logdir / "serve.out", logdir / "serve.err"
    process = subprocess.Popen(
        [sys.executable, "-m", "suite.cli", "serve", "--model-dir", str(model_root),
         "--rest-port", "0", "--grpc-port", "0", "--poll-seconds", "0.2", *args],
        stdout=out.open("w"), stderr=err.open("w"), cwd=logdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines()
        if process.poll() is not None:
            pytest.fail(f"suite serve exited with {process.returncode}:\n{err.read_text()}")
        if len(lines) >= 3 and lines[2].startswith("gRPC"):
            rest = int(lines[1].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            grpc_port = int(lines[2].rsplit(":", 1)[1])
            return Served(process, rest, grpc_port, model_root, out, err)
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"suite serve did not start in 180 s:\n{err.read_text()}")


def stop_server(served: Served) -> int:
    """Sends SIGTERM and returns the exit code."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(60)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()
    return served.process.returncode


class Rest:
    """A keep-alive HTTP connection to the REST port."""

    def __init__(self, port: int, timeout: float = 60):
        self.port, self.timeout = port, timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method: str, path: str, body=None, headers=None
             ) -> tuple[int, dict | str, dict]:
        """`(status, JSON reply or text, headers)`; `body` is sent as JSON unless bytes."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        try:
            self.connection.request(method, path, body, headers or {})
            reply = self.connection.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        if reply.getheader("Connection", "").lower() == "close":
            self.connection.close()
        kind = reply.getheader("Content-Type", "")
        return (reply.status, json.loads(data) if "json" in kind else data.decode(),
                dict(reply.getheaders()))

    def get(self, path: str):
        status, data, _ = self.call("GET", path)
        return status, data

    def post(self, path: str, body):
        status, data, _ = self.call("POST", path, body, {"Content-Type": "application/json"})
        return status, data

    def predict(self, model: str, body, version: int | None = None):
        where = f"/v1/models/{model}" + (f"/versions/{version}" if version else "")
        return self.post(where + ":predict", body)


def png_bytes(size: int = 8, channels: int = 1, seed: int = 0) -> bytes:
    """A small PNG of random grey (or RGB) pixels."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size, size) if channels == 1 else (size, size, channels)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * t / rate))
                  for t in range(int(seconds * rate)))
        w.writeframes(b"".join(struct.pack("<h", f) for f in frames))
    return out.getvalue()


def example_input(manifest: dict, name: str, spec: dict):
    """One example of an input, as a Python value of its dtype, by the input's kind.

    Raises:
        AssertionError: for a kind these tests do not know yet, naming it: add it here.
    """
    kind = spec.get("kind")
    data = manifest.get("config", {}).get("data", {})
    if kind == "encoded_image":
        return png_bytes(int(data.get("image_size") or 32), int(data.get("channels") or 1))
    if kind == "encoded_audio":
        return wav_bytes()
    if kind == "text":
        return "Open the file"
    if kind == "numeric_window":
        shape = [d or 1 for d in spec["shape"][1:]]
        return np.linspace(1.0, 2.0, int(np.prod(shape))).reshape(shape).astype("float32")
    raise AssertionError(f"input {name!r} is of kind {kind!r}, which the serving tests "
                         "cannot make an example of: add it to tests/serving/client.py")


def example_request(manifest: dict) -> dict[str, object]:
    """`{input: one example}` for the manifest's default signature."""
    signature = manifest["signatures"][manifest.get("signature_name", "serving_default")]
    return {name: example_input(manifest, name, spec)
            for name, spec in signature["inputs"].items()}


def as_json(value):
    """A Python example as TF Serving's JSON encodes it (bytes as `{"b64": ...}`)."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
