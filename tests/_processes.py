"""Real processes for the cluster and fault tests: CLI runs, Dask daemons.

Every process is started in its own session, so that it and anything it spawns
can be stopped as one group, and every helper that starts one has a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from thalamus import schema

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
FINAL_NAMES = (schema.PARQUET_NAME, schema.SQLITE_NAME, schema.MANIFEST_NAME)


def clean_env(**extra) -> dict:
    """The test's environment without a JupyterHub prefix, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTERHUB_SERVICE_PREFIX"}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra})
    return env


def start(args, log: Path, env=None) -> subprocess.Popen:
    """Start ``args`` in a new session, output to ``log``."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [str(a) for a in args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=env or clean_env(),
            start_new_session=True,
        )


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process group started by :func:`start`: TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Whatever the leader left behind in its group goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def thalamus_cmd(*args) -> list[str]:
    return [str(BIN / "thalamus"), "campaign", "run", *map(str, args)]


def run_cli(*args, env=None, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run ``thalamus campaign run ARGS`` to the end and capture its output."""
    return subprocess.run(
        thalamus_cmd(*args),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env or clean_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def digests(out_dir: Path) -> dict:
    """SHA-256 of the Parquet and SQLite files of a run directory."""
    names = (schema.PARQUET_NAME, schema.SQLITE_NAME)
    return {n: hashlib.sha256((out_dir / n).read_bytes()).hexdigest() for n in names}


def final_files(out_dir: Path) -> list[str]:
    """Names of result files under their final names in ``out_dir``."""
    return sorted(name for name in FINAL_NAMES if (out_dir / name).exists())


def temporary_files(out_dir: Path) -> list[str]:
    """Half-written result files (``.<name>.tmp``) left in ``out_dir``."""
    return sorted(p.name for p in out_dir.glob(".*.tmp")) if out_dir.exists() else []


def staged_parts(out_dir: Path) -> list[Path]:
    return sorted((out_dir / ".staging").glob("part-*.arrow"))


def wait_for(condition, timeout: float, what: str, poll: float = 0.05):
    """Poll ``condition`` until it returns something truthy or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"gave up after {timeout} s waiting for {what}")


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class LoopbackCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    scheduler: subprocess.Popen
    workers: list
    scheduler_file: Path
    address: str
    dashboard_port: int
    logs: Path

    def stop(self) -> None:
        for process in (*self.workers, self.scheduler):
            stop(process)

    def worker_address(self, i: int) -> str:
        text = (self.logs / f"worker{i}.log").read_text()
        line = next(x for x in text.splitlines() if "Start worker at" in x)
        return line.split()[-1]


def start_cluster(tmp: Path, n_workers: int = 2, deadline: float = 40):
    """Start a scheduler and ``n_workers`` single-threaded workers.

    The workers run without a nanny, so the process the test holds is the
    worker itself: killing it loses the worker for good, as when a node dies.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    scheduler_file = tmp / "scheduler.json"
    dask = BIN / "dask"
    scheduler = start(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0"]
        + ["--scheduler-file", scheduler_file, "--dashboard-address", "127.0.0.1:0"],
        tmp / "scheduler.log",
    )
    workers = []
    try:
        info = wait_for(
            lambda: _read_json(scheduler_file), deadline, "the scheduler file"
        )
        address = info["address"]
        for i in range(n_workers):
            workers.append(
                start(
                    [dask, "worker", address, "--nthreads", "1", "--no-nanny"]
                    + ["--host", "127.0.0.1", "--no-dashboard"],
                    tmp / f"worker{i}.log",
                )
            )
        for i, process in enumerate(workers):
            log = tmp / f"worker{i}.log"
            wait_for(
                lambda log=log, p=process: _registered(log, p),
                deadline,
                f"worker {i} to register ({log})",
            )
    except BaseException:
        for process in (*workers, scheduler):
            stop(process)
        raise
    port = int(info["services"]["dashboard"])
    return LoopbackCluster(scheduler, workers, scheduler_file, address, port, tmp)


def _registered(log: Path, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"worker exited early:\n{log.read_text()}")
    return "Registered to:" in log.read_text()


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
