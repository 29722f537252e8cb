"""`suite launch`: a multi-worker run on this machine.

Starts N `suite run` processes, each with the `TF_CONFIG` of one worker of a cluster on
free loopback ports and `trainer.strategy=multi_worker`. Worker 0 is the chief: its
output is this command's output; the others write to `.suite/launch/<pipeline>-worker-<i>.log`.
If any process fails, every other one is stopped (a cluster cannot go on without one of
its workers) and the failed worker's last lines are shown. Running the same command again
resumes from the chief's backup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from suite.cluster import free_ports, tf_config

LOG_ROOT = Path(".suite") / "launch"
_GRACE_SECONDS = 10.0


def launch(pipeline: str, workers: int, run_args: list[str], host: str = "127.0.0.1",
           log_dir: Path = LOG_ROOT, poll: float = 0.2, program: list[str] | None = None
           ) -> int:
    """Runs `suite run <pipeline> <run_args>` as `workers` worker processes; returns the
    exit code (the chief's, or the first failed worker's).

    Args:
        pipeline: a registered pipeline (not `all`).
        workers: how many processes; at least 1.
        run_args: the `suite run` options after the pipeline name.
        host: the address the workers listen on for each other.
        log_dir: where the non-chief workers' output goes.
        poll: seconds between checks of the processes.
        program: the command each worker runs, given its `TF_CONFIG`; default: this
            Python running `suite run <pipeline> <run_args> --set trainer.strategy=
            multi_worker`.
    """
    addresses = [f"{host}:{port}" for port in free_ports(workers, host)]
    log_dir.mkdir(parents=True, exist_ok=True)
    command = program or [sys.executable, "-m", "suite.cli", "run", pipeline, *run_args,
                          "--set", "trainer.strategy=multi_worker"]
    processes, logs = [], []
    print(f"launch: {workers} workers of {pipeline} at {', '.join(addresses)}; worker 0 is "
          f"the chief, the others log to {log_dir}/{pipeline}-worker-<i>.log", file=sys.stderr)
    try:
        for index in range(workers):
            env = {**os.environ, "TF_CONFIG": tf_config(addresses, index)}
            if index == 0:
                out = None
            else:
                path = log_dir / f"{pipeline}-worker-{index}.log"
                out = path.open("w")
                logs.append(path)
            processes.append(subprocess.Popen(command, env=env, stdout=out,
                                              stderr=subprocess.STDOUT if out else None,
                                              start_new_session=True))
            if out is not None:
                out.close()
        return _watch(processes, logs, poll)
    except KeyboardInterrupt:
        print("launch: interrupted; stopping every worker. Run the same command again to "
              "resume from the chief's backup.", file=sys.stderr)
        return 130
    finally:  # whatever ended the launch, no worker outlives it
        _stop(processes)


def _watch(processes: list[subprocess.Popen], logs: list[Path], poll: float) -> int:
    """Waits for every process; stops the others when one fails. Returns the exit code."""
    while True:
        codes = [p.poll() for p in processes]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            index = failed[0]
            _stop(processes)
            code = codes[index]
            how = (f"was killed by {signal.Signals(-code).name}" if code < 0
                   else f"exited with code {code}")
            print(f"launch: worker {index} {how}; stopped every other worker. Run the same "
                  "command again to resume from the chief's backup.", file=sys.stderr)
            if index > 0:
                tail = logs[index - 1].read_text(errors="replace").splitlines()[-20:]
                print(f"launch: the last lines of {logs[index - 1]}:\n  "
                      + "\n  ".join(tail), file=sys.stderr)
            return code if code > 0 else 1
        if all(code == 0 for code in codes):
            return 0
        time.sleep(poll)


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every running process's group, SIGKILL after a grace period."""
    running = [p for p in processes if p.poll() is None]
    for p in running:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_SECONDS
    for p in running:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(p, signal.SIGKILL)
            p.wait()


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
