"""A real multi-process cluster: scheduler and workers as separate processes.

The runs here go through ``dask scheduler`` and ``dask worker`` processes on
127.0.0.1, as they would on separate nodes, and must write the same bytes as a
synchronous run in one process.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import time

import pytest

from tests import _processes as P
from tests.conftest import CAMPAIGNS
from thalamus import scheduling
from thalamus.design import build_design
from thalamus.runner import run_campaign
from thalamus.spec import load_spec

BENCHMARK = CAMPAIGNS / "benchmark.yaml"
FULL = CAMPAIGNS / "full.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    loopback = P.start_cluster(tmp_path_factory.mktemp("cluster"))
    yield loopback
    loopback.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Digests of synchronous, single-process runs, by campaign."""
    out = {}
    for spec in (BENCHMARK, FULL):
        run_dir = tmp_path_factory.mktemp(f"sync-{spec.stem}")
        run_campaign(spec, out=run_dir, scheduler="synchronous")
        out[spec.stem] = P.digests(run_dir)
    return out


def banner_value(stdout: str, key: str) -> str:
    line = next(x for x in stdout.splitlines() if x.strip().startswith(key + " "))
    return line.split(None, 1)[1]


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_scheduler_address_run_matches_a_synchronous_run(cluster, reference, tmp_path):
    out = tmp_path / "tcp"
    done = P.run_cli(BENCHMARK, "--scheduler", cluster.address, "--out", out)
    assert done.returncode == 0, done.stderr
    assert P.digests(out) == reference["benchmark"]
    assert banner_value(done.stdout, "scheduler").startswith(cluster.address)
    assert "(distributed, 2 workers)" in done.stdout
    # No JupyterHub here: the plain link to the scheduler's own dashboard.
    link = f"http://127.0.0.1:{cluster.dashboard_port}/status"
    assert banner_value(done.stdout, "dashboard") == link


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_scheduler_file_run_matches_a_synchronous_run(cluster, reference, tmp_path):
    out = tmp_path / "file"
    done = P.run_cli(
        FULL, "--scheduler-file", cluster.scheduler_file, "--out", out, "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    assert P.digests(out) == reference["full"]
    assert "wells 2304  plates 48  tasks 48" in done.stdout
    assert P.final_files(out) == sorted(P.FINAL_NAMES)


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_python_api_uses_the_callers_client_and_leaves_it_open(
    cluster, reference, tmp_path
):
    from distributed import Client

    import thalamus

    with Client(cluster.address, timeout=20) as client:
        result = thalamus.run_campaign(BENCHMARK, client=client, out=tmp_path)
        assert client.status == "running"
        # The client still works after the run: it was not closed under us.
        assert client.submit(sum, [1, 2, 3]).result(timeout=20) == 6
    assert result.scheduler == "client" and result.workers == 2
    assert P.digests(tmp_path) == reference["benchmark"]


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_killed_worker_mid_run_still_gives_identical_files(reference, tmp_path):
    loopback = P.start_cluster(tmp_path / "cluster")
    try:
        out = tmp_path / "run"
        # 576 tasks of 4 wells: long enough to kill a worker in the middle.
        run = P.start(
            P.thalamus_cmd(
                FULL, "--scheduler", loopback.address, "--out", out,
                "--wells-per-task", 4, "--no-progress",
            ),
            tmp_path / "run.log",
        )  # fmt: skip
        try:
            P.wait_for(lambda: len(P.staged_parts(out)) >= 3, 60, "staged parts")
            victim = loopback.workers[0]
            victim_address = loopback.worker_address(0)
            victim.send_signal(signal.SIGKILL)
            staged_at_kill = len(P.staged_parts(out))
            still_running = run.poll() is None
            finals_at_kill = P.final_files(out)
            assert victim.wait(10) == -signal.SIGKILL
            returncode = run.wait(90)
        finally:
            P.stop(run)
        log = (tmp_path / "run.log").read_text()
        assert still_running and finals_at_kill == []
        assert 3 <= staged_at_kill < 576
        assert returncode == 0, log
        assert P.digests(out) == reference["full"]
        # The scheduler did lose the worker while the campaign ran.
        scheduler_log = (loopback.logs / "scheduler.log").read_text()
        assert f"Remove worker addr: {victim_address}" in scheduler_log
    finally:
        loopback.stop()


@pytest.mark.timeout(60)
def test_unreachable_scheduler_is_one_line_and_exit_2_within_15_s(tmp_path):
    port = P.closed_port()
    started = time.monotonic()
    done = P.run_cli(
        BENCHMARK, "--scheduler", f"tcp://127.0.0.1:{port}", "--out", tmp_path / "x"
    )
    waited = time.monotonic() - started
    assert done.returncode == 2
    assert waited < 15
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: cannot reach the Dask scheduler at tcp://")
    assert str(port) in lines[0]
    assert not (tmp_path / "x").exists()  # nothing on disk changed


def test_tasks_are_named_by_plate_and_share_one_design_node():
    design = build_design(load_spec(FULL))
    ranges = scheduling.task_ranges(design, None)
    tasks = scheduling.build_graph(design, ranges)
    keys = [t.key for t in tasks]
    design_id = design.spec.design_id()
    assert keys[0] == f"simulate-A549-D1-A-R1-T12h-0-48-{design_id}"
    assert keys[-1] == f"simulate-HepG2-D2-B-R3-T48h-2256-2304-{design_id}"
    assert len(set(keys)) == 48

    graph = {}
    for task in tasks:
        graph.update(task.__dask_graph__())
    assert len(graph) == 49
    holders = [k for k, v in graph.items() if getattr(v, "value", None) is design]
    assert holders == [f"design-{design.spec.design_id()}"]
    # Each simulate task names the design by key: what it carries itself is a
    # few hundred bytes, not another copy of the design.
    design_bytes = len(pickle.dumps(design))
    assert design_bytes > 4000
    for key in keys:
        assert len(pickle.dumps(graph[key])) < 500


def test_worker_side_modules_import_without_the_writers_stack():
    code = (
        "import sys, thalamus.simulate;"
        "bad = {'pyarrow', 'pandas', 'click', 'distributed'} & set(sys.modules);"
        "print(sorted(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.timeout(40)
def test_a_tcp_server_that_is_not_dask_is_refused_within_15_s(tmp_path):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def accept_and_stay_silent():
        try:
            accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    port = server.getsockname()[1]
    started = time.monotonic()
    try:
        done = P.run_cli(
            BENCHMARK, "--scheduler", f"tcp://127.0.0.1:{port}", "--out", tmp_path / "x"
        )
    finally:
        for connection in accepted:
            connection.close()
        server.close()
    assert time.monotonic() - started < 15
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("Error: cannot reach the Dask scheduler")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
