import json
import os
import sys
import time

import pytest

from suite import launch
from suite.cli import main
from suite.cluster import Task, current_task, free_ports, tf_config
from suite.config import ConfigError


def test_without_tf_config_a_process_is_a_single_chief():
    task = current_task({})
    assert task == Task() and task.is_chief and task.workers == 1


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_launchers_tf_config_describes_each_worker_of_the_cluster(workers):
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    assert len(set(addresses)) == workers
    for index in range(workers):
        spec = json.loads(tf_config(addresses, index))
        assert spec == {"cluster": {"worker": addresses},
                        "task": {"type": "worker", "index": index}}
        task = current_task({"TF_CONFIG": tf_config(addresses, index)})
        assert task.workers == workers
        assert task.is_chief is (index == 0)
        assert task.name == ("chief" if index == 0 else f"worker {index}")


def test_a_chief_task_is_the_chief_and_worker_0_is_not():
    cluster = {"chief": ["h:1"], "worker": ["h:2", "h:3"]}
    chief = current_task({"TF_CONFIG": json.dumps({"cluster": cluster,
                                                   "task": {"type": "chief", "index": 0}})})
    worker = current_task({"TF_CONFIG": json.dumps({"cluster": cluster,
                                                    "task": {"type": "worker", "index": 0}})})
    assert chief.is_chief and chief.workers == 3
    assert not worker.is_chief


@pytest.mark.parametrize("text, match", [
    ("{not json", "TF_CONFIG: got '{not json', expected JSON"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}',
     "is not one of the cluster's chief or worker tasks"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}}',
     "is not one of the cluster's chief or worker tasks"),
])
def test_a_malformed_tf_config_is_an_error_naming_it(text, match):
    with pytest.raises(ConfigError, match=match):
        current_task({"TF_CONFIG": text})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended
        return f.read().split(") ")[1][0] != "Z"


def test_when_a_worker_dies_the_launcher_stops_every_other_worker(workdir, capsys):
    # Worker 1 fails at once; worker 0 (the chief) would run for a minute, and notes its
    # pid so the test can check it is gone.
    program = [sys.executable, "-c", (
        "import json, os, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "open(f'pid{index}', 'w').write(str(os.getpid()))\n"
        "if index == 1:\n"
        "    print('worker 1: out of memory', flush=True); sys.exit(3)\n"
        "time.sleep(60)\n")]
    start = time.monotonic()
    code = launch.launch("image-classification", 3, [], log_dir=workdir / "logs",
                         program=program)
    assert code == 3
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert "worker 1 exited with code 3; stopped every other worker" in err
    assert "worker 1: out of memory" in err  # the failed worker's last lines are shown
    for index in (0, 2):
        assert not _alive(int((workdir / f"pid{index}").read_text()))


def test_a_worker_killed_by_a_signal_is_named(workdir, capsys):
    program = [sys.executable, "-c", (
        "import json, os, signal, time\n"
        "if json.loads(os.environ['TF_CONFIG'])['task']['index'] == 1:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "time.sleep(60)\n")]
    assert launch.launch("forecasting", 2, [], log_dir=workdir / "logs", program=program) == 1
    assert "worker 1 was killed by SIGKILL" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--workers", "0", "forecasting"], "--workers: got 0, expected a whole number >= 1"),
    (["--workers", "2", "all"], "expected one pipeline"),
    (["--workers", "2", "forecasting", "--set", "trainer.epochs=0"], "trainer.epochs"),
])
def test_launch_checks_its_arguments_before_starting_workers(args, message, workdir, capsys):
    assert main(["launch", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / ".suite").exists()
