"""The MLflow UI over the store the runs went to: `suite ui [pipeline]`.

A local store (the default `sqlite:///mlflow.db`) gets its own `mlflow server`, started
as a child of this Python, bound to 127.0.0.1 unless told otherwise, and stopped with
Ctrl-C or SIGTERM. A tracking server named by `MLFLOW_TRACKING_URI` already is a UI:
nothing is started, its address is printed.

The MLflow 3.17 UI shows every experiment as a GenAI one (traces, no runs table) until
the browser is switched to "Model training"; the experiment's `mlflow.experimentKind` tag
does not change that. So the addresses printed here carry `workflowType=machine_learning`:
they open on the runs table and its comparisons.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from suite import registry, tracking

WORKFLOW_QUERY = "workflowType=machine_learning"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::")


class UIError(RuntimeError):
    """The MLflow UI server could not be started; the message says why."""


class AddressError(UIError):
    """The host and port cannot be listened on (the port is in use, the host is unknown)."""


class UIServer:
    """A running MLflow UI (`mlflow server`) over one tracking store.

    Use it as a context manager, or call `stop()`: the server and every process it
    started are stopped.

    Args:
        process: the `mlflow server` process, leader of its own process group.
        url: the address a person opens.
        local_url: the address this machine reaches it at (the same unless the server
            listens on every interface).
        log: the file the server writes its output to.
    """

    def __init__(self, process: subprocess.Popen, url: str, local_url: str, log):
        self.process = process
        self.url = url
        self.local_url = local_url
        self.log = log

    def experiment_url(self, name: str) -> str | None:
        """The address of experiment `name`'s runs, or None before its first run."""
        experiment_id = experiment_id_of(self.local_url, name)
        return None if experiment_id is None else experiment_page(self.url, experiment_id)

    def compare_url(self, run_ids: list[str], experiment_ids: list[str]) -> str:
        """The address of the page comparing `run_ids` (of `experiment_ids`) side by side."""
        query = urllib.parse.urlencode({"runs": json.dumps(run_ids),
                                        "experiments": json.dumps(experiment_ids)})
        return f"{self.url}/#/compare-runs?{query}&{WORKFLOW_QUERY}"

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Blocks until the server answers.

        Raises:
            UIError: if the server exits first or does not answer within `timeout`
                seconds, with the end of its output.
        """
        deadline = time.monotonic() + timeout
        while not self._answers():
            code = self.process.poll()
            if code is not None:
                raise UIError(f"the MLflow UI server exited with code {code}:\n"
                              f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise UIError(f"the MLflow UI server did not answer at {self.local_url} within "
                              f"{timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output."""
        self.log.flush()
        self.log.seek(max(0, os.fstat(self.log.fileno()).st_size - chars))
        return self.log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stops the server and its workers (SIGTERM, then SIGKILL after `timeout` s)."""
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait()
        self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    def _answers(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.local_url}/health", timeout=2) as response:
                return response.status == 200
        except (OSError, http.client.HTTPException):
            return False


def start(host: str = "127.0.0.1", port: int = 0, uri: str | None = None,
          timeout: float = START_TIMEOUT) -> UIServer:
    """Starts the MLflow UI over a local tracking store and waits until it answers.

    Args:
        host: the address to listen on; `0.0.0.0` listens on every interface.
        port: the port; 0 picks a free one.
        uri: the store (default: `suite.tracking.tracking_uri()`); artifacts are read
            where the runs logged them.
        timeout: seconds to wait for the server to answer.

    Returns:
        The running server; stop it with `stop()` or a `with` block.

    Raises:
        AddressError: if `host:port` cannot be listened on.
        UIError: if `uri` is a tracking server, or the server does not start.

    Example:
        >>> with start() as server:
        ...     print(server.experiment_url("image-classification"))
    """
    uri = uri or tracking.tracking_uri()
    if is_server_uri(uri):
        raise UIError(f"{uri} is a tracking server with its own UI: open it instead")
    port = _listenable_port(host, port)
    log = tempfile.TemporaryFile()
    env = {**os.environ}
    # The job runner serves GenAI evaluation jobs: for training runs it would only start
    # a handful of idle worker processes.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    process = subprocess.Popen(_server_command(uri, host, port), stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    server = UIServer(process, _base_url(_public_host(host), port),
                      _base_url(_local_host(host), port), log)
    try:
        server.wait_until_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server


def serve(pipeline: str | None, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Runs `suite ui`: the MLflow UI until Ctrl-C or SIGTERM; returns the exit code.

    Prints the address of `pipeline`'s runs (or of the UI, when it has none yet). With
    an http(s) `MLFLOW_TRACKING_URI` nothing is started: that server's address is printed.

    Args:
        pipeline: a registered pipeline name, or None for the UI's start page.
        host: the address to listen on (default 127.0.0.1: this machine only).
        port: the port; 0 picks a free one.

    Returns:
        0 when stopped by Ctrl-C or SIGTERM (or nothing had to start); 1 if the server
        failed; 2 if the port is in use or the host cannot be listened on.

    Raises:
        UnknownPipelineError: if `pipeline` is not registered.
    """
    if pipeline is not None:
        registry.get(pipeline)
    uri = tracking.tracking_uri()
    if is_server_uri(uri):
        print(f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI): its UI is already "
              "running, nothing started", flush=True)
        try:
            _print_experiment(pipeline, uri, uri, uri)
        except MlflowException as e:
            print(f"error: cannot read the experiments of {uri}: {e}", file=sys.stderr)
            return 1
        return 0
    with _sigterm_as_interrupt():
        try:
            return _serve_local(pipeline, host, port, uri)
        except KeyboardInterrupt:
            print("MLflow UI stopped", flush=True)
            return 0


def is_server_uri(uri: str) -> bool:
    """True for the URI of a tracking server (http or https), whose UI already runs."""
    return urllib.parse.urlparse(uri).scheme in ("http", "https")


def experiment_id_of(tracking_uri: str, name: str) -> str | None:
    """The id of experiment `name` in the store at `tracking_uri`, or None if there is none."""
    experiment = MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name(name)
    return None if experiment is None else experiment.experiment_id


def experiment_page(base_url: str, experiment_id: str) -> str:
    """The UI address of an experiment's runs table."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}?{WORKFLOW_QUERY}"


def _serve_local(pipeline: str | None, host: str, port: int, uri: str) -> int:
    try:
        server = start(host, port, uri)
    except AddressError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except UIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with server:
        print(f"MLflow UI of {uri} at {server.url} (Ctrl-C stops it)", flush=True)
        _print_experiment(pipeline, uri, server.url, server.local_url)
        code = server.process.wait()
        print(f"error: the MLflow UI server stopped by itself (exit code {code}):\n"
              f"{server.log_tail()}", file=sys.stderr)
    return 1


def _print_experiment(pipeline: str | None, uri: str, base_url: str, api_url: str) -> None:
    if pipeline is None:
        return
    experiment_id = experiment_id_of(api_url, pipeline)
    if experiment_id is None:
        print(f"{pipeline} has no runs in {uri} yet; the UI: {base_url}", flush=True)
    else:
        print(f"{pipeline}: {experiment_page(base_url, experiment_id)}", flush=True)


@contextmanager
def _sigterm_as_interrupt():
    """Within the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _server_command(uri: str, host: str, port: int) -> list[str]:
    """`mlflow server` over `uri`; experiments made in the UI keep artifacts where runs do."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
            "--default-artifact-root", str(Path("mlruns").resolve()),
            "--host", host, "--port", str(port), "--workers", "1",
            *_security_options(host, port)]


def _security_options(host: str, port: int) -> list[str]:
    """MLflow's host and origin checks, widened to the names a browser reaches `host` by.

    MLflow accepts requests for localhost and private addresses, and state-changing ones
    (the UI searches runs with POST) only from localhost pages: a UI listening beyond
    loopback would load but show no runs.
    """
    if host in LOOPBACK_HOSTS:
        return []
    from mlflow.server.security_utils import get_default_allowed_hosts

    names = [_url_host(name) for name in _reachable_names(host)]
    hosts = [*get_default_allowed_hosts(), *names, *(f"{name}:{port}" for name in names)]
    origins = [f"http://{name}:{port}" for name in names]
    return ["--allowed-hosts", ",".join(hosts), "--cors-allowed-origins", ",".join(origins)]


def _reachable_names(host: str) -> list[str]:
    """`host`, or for every interface this machine's names and addresses."""
    if host not in WILDCARD_HOSTS:
        return [host]
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        addresses = set()
    return sorted({name, socket.getfqdn(), *addresses})


def _listenable_port(host: str, port: int) -> int:
    """`port` if `host:port` can be listened on now (0: a free port), else AddressError."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            return sock.getsockname()[1]
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise AddressError(f"port {port} on {host} is in use; stop what listens there or "
                               "choose another with --port (0 picks a free one)") from None
        raise AddressError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _public_host(host: str) -> str:
    return socket.gethostname() if host in WILDCARD_HOSTS else host


def _local_host(host: str) -> str:
    return {"::": "::1", "0.0.0.0": "127.0.0.1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _base_url(host: str, port: int) -> str:
    return f"http://{_url_host(host)}:{port}"
