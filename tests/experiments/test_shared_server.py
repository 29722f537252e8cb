"""The team's shared MLflow server (scripts/mlflow-server.sh): PostgreSQL holds the runs,
the server proxies the artifacts, and `suite run` and `suite runs` work through it."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import mlflow
import psycopg2
import pytest

from suite.cli import main
from tests.tiny import tiny_run_args

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mlflow-server.sh"
PASSWORD = "team:pass'word\\1"  # a colon, a quote and a backslash: each file quotes it
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class SharedServer:
    """A running server: its URL, its directory and the settings the script ran with."""

    url: str
    root: Path
    pg_port: int
    env: dict

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"


def _script_env(**settings: str) -> dict:
    """The environment without the caller's own server settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_")}
    return {**env, **settings}


def _script(*args: str, env: dict) -> subprocess.CompletedProcess:
    """Runs the script with `args`, whatever its exit status."""
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=900, check=False)


def _run_script(*args: str, env: dict) -> str:
    """Runs the script; returns its output, or fails with all of it."""
    result = _script(*args, env=env)
    assert result.returncode == 0, (f"mlflow-server.sh {' '.join(args)} exited with "
                                    f"{result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def _free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _cluster_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: `postgres` when the tests run as root, else the caller."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' user for PostgreSQL to run as (root is refused); "
                    "the Debian package postgresql creates it")


def _live_pids(pgid: int) -> list[int]:
    """The processes of group `pgid` that still run (zombies waiting to be reaped are not)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _server_groups(root: Path) -> list[int]:
    """The process groups of the MLflow server and of PostgreSQL, from their pid files."""
    groups = []
    for pidfile in (root / "run" / "mlflow.pid", root / "postgres" / "postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            groups.append(int(pidfile.read_text().split()[0]))
    return groups


def _left_running(groups: list[int], grace: float = 10.0) -> dict[int, list[int]]:
    """The processes of `groups` still running after `grace` seconds (PostgreSQL removes its
    pid file, which `pg_ctl stop` waits for, just before its last process ends)."""
    deadline = time.monotonic() + grace
    while True:
        left = {pgid: pids for pgid in groups if (pids := _live_pids(pgid))}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _shut_down(server: SharedServer) -> None:
    """Stops both servers with the script and checks that none of their processes is left;
    any that is, is killed (and the test fails)."""
    groups = _server_groups(server.root)
    try:
        _run_script("stop", env=server.env)
    finally:
        left = _left_running(groups)
        for pgid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        shutil.rmtree(server.root, ignore_errors=True)
    assert not left, f"`mlflow-server.sh stop` left processes running: {left}"


@pytest.fixture
def shared_server():
    """A private PostgreSQL cluster and an MLflow server on it, on free loopback ports.

    Its directory is made under /tmp rather than pytest's tmp_path: root's pytest directory
    is closed to other users, and PostgreSQL's socket path must stay short.
    """
    if not (glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")):
        pytest.skip("PostgreSQL's server programs are not installed "
                    "(Debian package: postgresql)")
    user = _cluster_user()
    root = Path(tempfile.mkdtemp(prefix="mlflow-server-"))
    pg_port, mlflow_port = _free_ports(2)
    settings = {"SUITE_MLFLOW_DIR": str(root), "SUITE_PG_PORT": str(pg_port),
                "SUITE_MLFLOW_PORT": str(mlflow_port), "SUITE_MLFLOW_WORKERS": "1",
                "SUITE_MLFLOW_START_TIMEOUT": "600", "SUITE_DB_PASSWORD": PASSWORD}
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        settings["SUITE_MLFLOW_USER"] = user.pw_name
    server = SharedServer(url=f"http://127.0.0.1:{mlflow_port}", root=root, pg_port=pg_port,
                          env=_script_env(**settings))
    try:
        _run_script("init", env=server.env)
        _run_script("start", env=server.env)
        yield server
    finally:
        _shut_down(server)


def _query(server: SharedServer, sql: str, *args) -> list[tuple]:
    """Runs `sql` on the PostgreSQL database as the MLflow server's user; returns the rows."""
    connection = psycopg2.connect(host="127.0.0.1", port=server.pg_port, dbname="mlflow",
                                  user="mlflow", password=PASSWORD)
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute(sql, args)
        rows = cursor.fetchall() if cursor.description else []
        connection.commit()
        return rows


@pytest.mark.slow
def test_a_suite_run_is_tracked_in_postgresql_through_the_shared_server(
        shared_server, tmp_path, monkeypatch, capsys):
    assert shared_server.url in _run_script("status", env=shared_server.env)
    workdir = tmp_path / "member"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_server.url)
    name = "image-classification"

    assert main(["run", name, *tiny_run_args(name, workdir)]) == 0
    capsys.readouterr()
    assert main(["runs", name]) == 0
    table = capsys.readouterr().out

    client = mlflow.MlflowClient(shared_server.url)
    (run,) = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    run_id = run.info.run_id
    assert run_id[:12] in table  # the table may shorten ids
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.epochs"] == "1"
    assert "test_accuracy" in run.data.metrics
    assert run.data.tags["pipeline"] == name

    # artifacts go through the server (mlflow-artifacts:) into its artifact root
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    downloaded = Path(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="figures/learning_curves.png",
        dst_path=str(tmp_path / "download"), tracking_uri=shared_server.url))
    assert downloaded.read_bytes().startswith(PNG_MAGIC)
    (stored,) = shared_server.artifacts.rglob(f"{run_id}/artifacts/figures/learning_curves.png")
    assert stored.read_bytes() == downloaded.read_bytes()

    # the rows are in PostgreSQL
    assert _query(shared_server, "SELECT status FROM runs WHERE run_uuid = %s",
                  run_id) == [("FINISHED",)]
    assert _query(shared_server, "SELECT value FROM params WHERE run_uuid = %s AND key = %s",
                  run_id, "trainer.epochs") == [("1",)]
    ((accuracy,),) = _query(shared_server, "SELECT value FROM latest_metrics "
                            "WHERE run_uuid = %s AND key = %s", run_id, "test_accuracy")
    assert accuracy == pytest.approx(run.data.metrics["test_accuracy"])

    # a backup brings back what was lost after it
    backup = shared_server.root / "backups" / "mlflow.dump"
    _run_script("backup", str(backup), env=shared_server.env)
    assert backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    pipeline_tag = "SELECT value FROM tags WHERE run_uuid = %s AND key = 'pipeline'"
    _query(shared_server, "DELETE FROM tags WHERE run_uuid = %s", run_id)
    assert _query(shared_server, pipeline_tag, run_id) == []
    _run_script("restore", str(backup), env=shared_server.env)
    assert _query(shared_server, pipeline_tag, run_id) == [(name,)]


@pytest.mark.parametrize("args, settings, expected", [
    (["frobnicate"], {}, "unknown command 'frobnicate'; expected one of: init, start, stop"),
    (["start"], {"SUITE_PG_PORT": "54x"},
     "SUITE_PG_PORT='54x': expected a whole number from 1 to 65535"),
    (["init"], {"SUITE_DB_USER": "mlflow; DROP"},
     "SUITE_DB_USER='mlflow; DROP': expected a PostgreSQL name"),
    (["init"], {"SUITE_MLFLOW_USER": "no-such-user"},
     "SUITE_MLFLOW_USER='no-such-user': no such user on this machine"),
])
def test_the_script_refuses_bad_input_clearly(args, settings, expected, tmp_path):
    result = _script(*args, env=_script_env(SUITE_MLFLOW_DIR=str(tmp_path / "server"),
                                            **settings))
    assert result.returncode in (1, 2) and expected in result.stderr
    assert not (tmp_path / "server").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused")
def test_root_is_told_how_to_run_postgresql_as_another_user(tmp_path):
    result = _script("init", env=_script_env(SUITE_MLFLOW_DIR=str(tmp_path / "server")))
    assert result.returncode == 1
    assert "PostgreSQL refuses to run as root" in result.stderr
    assert "SUITE_MLFLOW_USER=<user>" in result.stderr
    assert not (tmp_path / "server").exists()
