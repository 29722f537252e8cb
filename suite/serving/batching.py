"""Server-side batching of concurrent predict calls, TF Serving's batching idea.

Requests to one signature that wait while the model is busy are stacked along their
first dimension, run as one call, and the outputs split back, up to `max_size` examples
a batch. A batch the model rejects (say one undecodable image among good ones) is re-run
request by request, so only the bad request fails.

There is no batching thread: the callers' own threads run the batches. A call that finds
fewer than `workers` batches running runs at once, alone if nothing else waits (so a
lone client pays nothing for batching); calls that arrive while every worker is busy
queue up, and the oldest of them runs the queue as one batch when a worker frees up.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from suite.serving.errors import ServingError


class _Request:
    __slots__ = ("error", "feeds", "finished", "outputs", "rows", "taken", "wake")

    def __init__(self, feeds: dict[str, np.ndarray], lock):
        self.feeds = feeds
        self.rows = len(next(iter(feeds.values()))) if feeds else 0
        self.wake = threading.Condition(lock)
        self.taken = self.finished = False
        self.outputs = None
        self.error = None


class Batcher:
    """Stacks concurrent calls to one signature into batched runs.

    Args:
        run: `(feeds) -> outputs`, runs the signature on a whole batch.
        max_size: the most examples in one batch.
        timeout_ms: how long a batch about to run waits for more requests while it has
            fewer than `max_size` examples (0: it takes what has queued).
        observe: optional `(batch_size) -> None`, told the size of every batch run.
        workers: how many batches may run at once.
    """

    def __init__(self, run, max_size: int, timeout_ms: float, observe=None,
                 workers: int = 1):
        for name, value, low in (("max_size", max_size, 1), ("timeout_ms", timeout_ms, 0),
                                 ("workers", workers, 1)):
            if value < low:
                raise ValueError(f"{name}: got {value}, expected at least {low}")
        self.run_batch = run
        self.max_size = max_size
        self.timeout_ms = timeout_ms
        self.observe = observe
        self.workers = workers
        self._lock = threading.Lock()
        self._filled = threading.Condition(self._lock)
        self._queue: deque[_Request] = deque()
        self._rows = 0  # examples queued
        self._running = 0  # batches running or being gathered
        self._closed = False

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one request's feeds as part of a batch; returns its own outputs.

        Raises:
            ServingError: what running the request raised.
        """
        request = _Request(feeds, self._lock)
        if request.rows == 0 or request.rows >= self.max_size or self._closed:
            return self.run_batch(feeds)
        with self._lock:
            self._queue.append(request)
            self._rows += request.rows
            if self._rows >= self.max_size:
                self._filled.notify()
            while not request.finished:
                if not request.taken and self._running < self.workers:
                    self._lead()
                else:
                    request.wake.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def close(self) -> None:
        """Sends later calls straight to the model; queued calls still run."""
        self._closed = True

    def _lead(self) -> None:
        """Runs the oldest queued requests as one batch (called holding the lock)."""
        self._running += 1
        try:
            if self.timeout_ms and self._rows < self.max_size:
                deadline = time.monotonic() + self.timeout_ms / 1000
                while self._rows < self.max_size and (left := deadline - time.monotonic()) > 0:
                    self._filled.wait(left)
            batch, rows = [], 0
            while self._queue and (not batch or rows + self._queue[0].rows <= self.max_size):
                request = self._queue.popleft()
                request.taken = True
                batch.append(request)
                rows += request.rows
            self._rows -= rows
            self._wake_next()
            self._lock.release()
            try:
                self._run(batch)
            finally:
                self._lock.acquire()
                for request in batch:
                    request.finished = True
                    request.wake.notify()
        finally:
            self._running -= 1
            self._wake_next()

    def _wake_next(self) -> None:
        if self._queue and self._running < self.workers:
            self._queue[0].wake.notify()

    def _run(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            try:
                feeds = {name: np.concatenate([r.feeds[name] for r in batch])
                         for name in batch[0].feeds}
            except ValueError:  # trailing shapes differ: cannot stack
                feeds = None
            if feeds is not None:
                try:
                    outputs = self.run_batch(feeds)
                except Exception:  # noqa: BLE001  the requests one by one tell which failed
                    outputs = None
                rows = sum(r.rows for r in batch)
                if outputs is not None and all(len(v) == rows for v in outputs.values()):
                    if self.observe:
                        self.observe(len(batch))
                    start = 0
                    for request in batch:
                        stop = start + request.rows
                        request.outputs = {k: v[start:stop] for k, v in outputs.items()}
                        start = stop
                    return
        for request in batch:
            try:
                request.outputs = self.run_batch(request.feeds)
                if self.observe:
                    self.observe(1)
            except ServingError as e:
                request.error = e
            except Exception as e:  # never leave a caller waiting
                request.error = ServingError("INTERNAL", f"{type(e).__name__}: {e}")
