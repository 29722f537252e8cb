"""The cluster a multi-worker run belongs to, as `TF_CONFIG` describes it.

TensorFlow's `MultiWorkerMirroredStrategy` reads the same variable; this module answers
the questions the suite asks of it (how many workers, is this process the chief) without
starting TensorFlow, and writes it for `suite launch`.

`TF_CONFIG` is JSON: `{"cluster": {"worker": ["host1:port", "host2:port"]}, "task":
{"type": "worker", "index": 0}}`. The chief is the `chief` task if the cluster names one,
else worker 0; it alone logs to MLflow, writes checkpoints and exports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket

from suite.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
    """This process's place in the cluster.

    Args:
        workers: the number of training processes (chief included).
        task_type: `"chief"` or `"worker"` (`"worker"` without a `TF_CONFIG`).
        index: the task's index among its type.
    """

    workers: int = 1
    task_type: str = "worker"
    index: int = 0

    @property
    def is_chief(self) -> bool:
        """True for the process that logs, checkpoints and exports."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0
                                             and not self._has_chief)

    @property
    def name(self) -> str:
        """`chief`, `worker 1`, ...: how messages name this process."""
        return "chief" if self.is_chief else f"{self.task_type} {self.index}"

    _has_chief: bool = False


def current_task(environ=os.environ) -> Task:
    """This process's task per `TF_CONFIG` (one worker, the chief, without one).

    Raises:
        ConfigError: if `TF_CONFIG` is not JSON or its task is not in its cluster.
    """
    text = environ.get("TF_CONFIG") or ""
    if not text.strip():
        return Task()
    try:
        spec = json.loads(text)
        cluster = spec.get("cluster", {})
        task = spec.get("task", {})
    except (ValueError, AttributeError):
        raise ConfigError(f"TF_CONFIG: got {text!r}, expected JSON like "
                          '{"cluster": {"worker": ["host:port", ...]}, '
                          '"task": {"type": "worker", "index": 0}}') from None
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    if not workers:
        return Task()
    task_type, index = task.get("type", "worker"), task.get("index", 0)
    if task_type not in ("chief", "worker") or not isinstance(index, int) \
            or not 0 <= index < len(cluster.get(task_type, [])):
        raise ConfigError(f"TF_CONFIG: task {task!r} is not one of the cluster's chief or "
                          f"worker tasks {cluster!r}")
    return Task(workers, task_type, index, _has_chief=bool(cluster.get("chief")))


def tf_config(addresses: list[str], index: int) -> str:
    """The `TF_CONFIG` of worker `index` in a cluster of workers at `addresses`."""
    return json.dumps({"cluster": {"worker": list(addresses)},
                       "task": {"type": "worker", "index": index}})


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that are free on `host` now (the sockets are held until all
    are found, so no port is returned twice)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
