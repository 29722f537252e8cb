"""Prometheus metrics of the server, in their own registry (served at `GET /metrics`)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
                    5.0, 10.0)


class Metrics:
    """Request counts and latencies per model, API and protocol, and the loaded versions.

    Labels name only models the server has loaded (any other name counts as `""`), so a
    client cannot grow the series without bound by asking for made-up models.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "suite_serving_requests", "Requests answered, by model, API, protocol and status.",
            ["model", "api", "protocol", "code"], registry=self.registry)
        self.latency = Histogram(
            "suite_serving_request_latency_seconds",
            "Time from a request's arrival to its reply being ready, in seconds.",
            ["model", "api", "protocol"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.loaded = Gauge("suite_serving_loaded_versions", "Versions loaded, by model.",
                            ["model"], registry=self.registry)
        self.latest = Gauge("suite_serving_latest_version",
                            "The version that requests without a version get, by model.",
                            ["model"], registry=self.registry)
        self.load_failures = Counter("suite_serving_load_failures",
                                     "Versions that failed to load, by model.", ["model"],
                                     registry=self.registry)
        self.batch_size = Histogram("suite_serving_batch_size",
                                    "Requests run together in one batch.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
                                    registry=self.registry)
        self._models: set[str] = set()

    def observe(self, model: str, api: str, protocol: str, code: str, seconds: float) -> None:
        """Counts one answered request and its latency."""
        self.requests.labels(model, api, protocol, code).inc()
        self.latency.labels(model, api, protocol).observe(seconds)

    def set_versions(self, loaded: dict[str, list[int]]) -> None:
        """Sets the loaded-version gauges to `{model: [versions]}`; forgets other models."""
        current = {model for model, versions in loaded.items() if versions}
        for model in self._models - current:
            self.loaded.remove(model)
            self.latest.remove(model)
        self._models = current
        for model in current:
            self.loaded.labels(model).set(len(loaded[model]))
            self.latest.labels(model).set(max(loaded[model]))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
