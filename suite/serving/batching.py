"""Server-side batching of concurrent predict calls, TF Serving's batching idea.

Requests to one signature that arrive within `timeout_ms` of the first waiting one are
stacked along their first dimension, run as one call, and the outputs split back, up to
`max_size` examples a batch. A batch the model rejects (say one undecodable image among
good ones) is re-run request by request, so only the bad request fails.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from suite.serving.errors import ServingError


class _Request:
    __slots__ = ("done", "error", "feeds", "outputs", "rows")

    def __init__(self, feeds: dict[str, np.ndarray]):
        self.feeds = feeds
        self.rows = len(next(iter(feeds.values()))) if feeds else 0
        self.done = threading.Event()
        self.outputs = None
        self.error = None


class Batcher:
    """Stacks concurrent calls to one signature into batched runs.

    Args:
        run: `(feeds) -> outputs`, runs the signature on a whole batch.
        max_size: the most examples in one batch.
        timeout_ms: how long the first request of a batch waits for others.
        observe: optional `(batch_size) -> None`, told the size of every batch run.
    """

    def __init__(self, run, max_size: int, timeout_ms: float, observe=None):
        if max_size < 1:
            raise ValueError(f"max_size: got {max_size}, expected at least 1")
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms: got {timeout_ms}, expected 0 or more")
        self.run_batch = run
        self.max_size = max_size
        self.timeout_ms = timeout_ms
        self.observe = observe
        self._queue: deque[_Request] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self._thread.start()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one request's feeds as part of a batch; returns its own outputs.

        Raises:
            ServingError: what running the request raised.
        """
        request = _Request(feeds)
        if request.rows == 0 or request.rows >= self.max_size:
            return self.run_batch(feeds)
        with self._ready:
            if self._closed:  # the version was swapped out after this request took it
                return self.run_batch(feeds)
            self._queue.append(request)
            self._ready.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def close(self) -> None:
        """Runs what is queued, then stops the batching thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue and self._closed:
                    return
                deadline = time.monotonic() + self.timeout_ms / 1000
                while (sum(r.rows for r in self._queue) < self.max_size
                       and not self._closed):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
                batch, rows = [], 0
                while self._queue and rows + self._queue[0].rows <= self.max_size:
                    request = self._queue.popleft()
                    batch.append(request)
                    rows += request.rows
            self._run(batch)

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
                except ServingError:
                    outputs = None  # find which request it was, below
                rows = sum(r.rows for r in batch)
                if outputs is not None and all(len(v) == rows for v in outputs.values()):
                    if self.observe:
                        self.observe(len(batch))
                    start = 0
                    for request in batch:
                        stop = start + request.rows
                        request.outputs = {k: v[start:stop] for k, v in outputs.items()}
                        start = stop
                        request.done.set()
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
            request.done.set()
