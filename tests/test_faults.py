"""Faults: interrupts, resumes, concurrent runs and tasks that raise.

Whatever goes wrong, nothing half-written may carry a final file name, and a
resumed run must write the same bytes as one that was never interrupted.
"""

from __future__ import annotations

import copy
import logging
import os
import signal

import numpy as np
import pytest
from click.testing import CliRunner

from tests import _processes as P
from tests.conftest import CAMPAIGNS
from thalamus import writers
from thalamus.cli import main
from thalamus.errors import SimulationError, ThalamusError
from thalamus.runner import run_campaign

BENCHMARK = CAMPAIGNS / "benchmark.yaml"
FULL = CAMPAIGNS / "full.yaml"
#: The benchmark's etoposide wells: the top dose is 10 x its 10 uM base EC50.
ETOPOSIDE = 8
TOP_DOSE_UM = 100.0


@pytest.fixture(autouse=True)
def restore_dask_config():
    """The CLI merges the project's Dask config globally; undo it per test."""
    import dask.config

    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


@pytest.fixture(scope="module")
def benchmark_digests(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark-sync")
    run_campaign(BENCHMARK, out=out, scheduler="synchronous")
    return P.digests(out)


def cli(*args):
    return CliRunner().invoke(main, ["campaign", "run", *map(str, args)])


# --- Ctrl-C and SIGTERM -----------------------------------------------------


def _alive(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_members(pgid: int) -> list[int]:
    import psutil

    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and _alive(process):
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


@pytest.mark.cluster
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("sig", "to_group", "code", "word"),
    [
        # Ctrl-C in a terminal signals the whole foreground process group.
        (signal.SIGINT, True, 130, "Interrupted"),
        # `kill PID` (a batch system ending a job) signals the client only.
        (signal.SIGTERM, False, 143, "Terminated"),
    ],
)
def test_interrupt_mid_run_cleans_up(tmp_path, sig, to_group, code, word):
    import psutil

    out = tmp_path / "run"
    log = tmp_path / "run.log"
    run = P.start(
        P.thalamus_cmd(FULL, "--scheduler", "local", "--workers", 2)
        + ["--wells-per-task", "1", "--out", str(out), "--no-progress"]
        + ["--dashboard-address", "127.0.0.1:0"],
        log,
    )
    try:
        P.wait_for(lambda: P.staged_parts(out), 60, "the first staged part")
        children = psutil.Process(run.pid).children(recursive=True)
        assert len(children) >= 2  # the local cluster's worker processes
        if to_group:
            os.killpg(run.pid, sig)
        else:
            run.send_signal(sig)
        returncode = run.wait(30)
        gone, alive = psutil.wait_procs(children, timeout=15)
        leftovers = [c.pid for c in alive if _alive(c)] + _group_members(run.pid)
    finally:
        P.stop(run)
    text = log.read_text()
    assert returncode == code, text
    assert f"{word}: no results were written under final names" in text
    assert "Traceback" not in text
    assert leftovers == []
    assert P.final_files(out) == [] and P.temporary_files(out) == []
    # What finished before the signal is kept for --resume.
    assert P.staged_parts(out)


# --- resume -------------------------------------------------------------------


class Stop(Exception):
    """Raised from the progress callback to cut a run short."""


def _interrupted_run(out, after_wells: int) -> None:
    def progress(done):
        if done >= after_wells:
            raise Stop

    with pytest.raises(Stop):
        run_campaign(
            BENCHMARK,
            out=out,
            scheduler="synchronous",
            wells_per_task=6,
            progress=progress,
        )


def test_resume_reuses_good_parts_and_redoes_a_damaged_one(
    tmp_path, benchmark_digests, monkeypatch, caplog
):
    import thalamus.simulate

    out = tmp_path / "run"
    _interrupted_run(out, after_wells=24)
    parts = P.staged_parts(out)
    assert [p.name[5:-6] for p in parts] == [
        f"{a:012d}-{a + 6:012d}" for a in range(0, 24, 6)
    ]
    assert P.final_files(out) == [] and P.temporary_files(out) == []
    damaged = parts[2]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])

    computed = []
    real = thalamus.simulate.simulate_range

    def recording(design, start, stop):
        computed.append((start, stop))
        return real(design, start, stop)

    monkeypatch.setattr(thalamus.simulate, "simulate_range", recording)
    with caplog.at_level(logging.INFO, logger="thalamus.writers"):
        result = run_campaign(
            BENCHMARK, out=out, scheduler="synchronous", wells_per_task=6, resume=True
        )
    assert sorted(computed) == [(12, 18), (24, 30), (30, 36), (36, 42), (42, 48)]
    assert f"staged part {damaged.name} is damaged" in caplog.text
    assert P.digests(out) == benchmark_digests
    import json

    assert json.loads(result.manifest.read_text())["resumed_parts"] == 3
    assert not (out / ".staging").exists()


def test_resume_through_the_cli_after_sigterm_is_byte_identical(
    tmp_path, benchmark_digests
):
    out = tmp_path / "run"
    _interrupted_run(out, after_wells=30)
    result = cli(
        BENCHMARK, "--scheduler", "synchronous", "--wells-per-task", 6,
        "--out", out, "--resume", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "resuming: 5 parts reused" in result.output
    assert P.digests(out) == benchmark_digests


@pytest.mark.parametrize("change", ["seed", "spec", "model_version"])
def test_resume_with_other_inputs_is_refused(tmp_path, monkeypatch, change):
    out = tmp_path / "run"
    _interrupted_run(out, after_wells=12)
    before = {p.name: p.read_bytes() for p in P.staged_parts(out)}
    spec, extra = BENCHMARK, []
    if change == "seed":
        extra = ["--seed", "1"]
    elif change == "spec":
        spec = tmp_path / "benchmark.yaml"
        text = BENCHMARK.read_text().replace("replicates: 1", "replicates: 2")
        spec.write_text(text)
    else:
        monkeypatch.setattr("thalamus.model.parameters.MODEL_VERSION", "9.9.9")
    result = cli(
        spec, "--scheduler", "synchronous", "--wells-per-task", 6,
        "--out", out, "--resume", *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    name = {"seed": "seed", "spec": "design_id", "model_version": "model_version"}
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message
    changed = message.split("were made with another ", 1)[1].split(";")[0]
    assert name[change] in changed.split(", ")
    assert "rerun without --resume" in message
    assert {p.name: p.read_bytes() for p in P.staged_parts(out)} == before
    assert P.final_files(out) == []


# --- two runs into one directory --------------------------------------------


def test_second_run_into_a_locked_directory_is_refused(tmp_path):
    out = tmp_path / "run"
    _interrupted_run(out, after_wells=12)
    before = {p.name: p.read_bytes() for p in (out / ".staging").iterdir()}
    with writers.output_lock(out):
        result = cli(BENCHMARK, "--scheduler", "synchronous", "--out", out)
    assert result.exit_code == 2, result.output
    assert "another thalamus run is writing here" in result.stderr
    assert {p.name: p.read_bytes() for p in (out / ".staging").iterdir()} == before
    assert P.final_files(out) == [] and P.temporary_files(out) == []


@pytest.mark.timeout(90)
def test_concurrent_runs_one_refused_the_other_intact(tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = P.start(
        P.thalamus_cmd(FULL, "--scheduler", "synchronous", "--wells-per-task", 2)
        + ["--out", str(out), "--no-progress"],
        tmp_path / "first.log",
    )
    try:
        P.wait_for(lambda: P.staged_parts(out), 60, "the first run to stage parts")
        second = P.run_cli(FULL, "--scheduler", "synchronous", "--out", out)
        assert first.poll() is None, "the first run ended before the second began"
        first_code = first.wait(60)
    finally:
        P.stop(first)
    assert second.returncode == 2
    assert "another thalamus run is writing here" in second.stderr
    assert first_code == 0, (tmp_path / "first.log").read_text()
    reference = tmp_path / "reference"
    run_campaign(FULL, out=reference, scheduler="synchronous")
    assert P.digests(out) == P.digests(reference)


# --- a task that raises -------------------------------------------------------


def _break_one_well(monkeypatch):
    """Make cell_fate raise for etoposide at its top dose on HepG2 only."""
    from thalamus.model import physics
    from thalamus.model import tables as T

    real = physics.cell_fate
    hepg2 = T.LINES.index("HepG2")

    def cell_fate(compound, line, dose, *args):
        bad = (compound == ETOPOSIDE) & (line == hepg2) & (dose == TOP_DOSE_UM)
        if np.any(bad):
            raise FloatingPointError("overflow in the death integral")
        return real(compound, line, dose, *args)

    monkeypatch.setattr(physics, "cell_fate", cell_fate)


def _expected_well() -> str:
    """The broken well, found from the spec's layout."""
    from thalamus.design import build_design
    from thalamus.spec import load_spec, well_name

    design = build_design(load_spec(BENCHMARK))
    layout = design.layout
    hits = [
        well_name(layout.rows[i], layout.cols[i])
        for i in range(len(layout))
        if layout.compound[i] == ETOPOSIDE and layout.dose_uM[i] == TOP_DOSE_UM
    ]
    assert len(hits) == 1
    plate = next(p for p in design.plates if p.cell_line == "HepG2")
    return f"well {plate.plate_id()} {hits[0]} failed"


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_task_that_raises_names_the_well(tmp_path, monkeypatch, scheduler):
    _break_one_well(monkeypatch)
    with pytest.raises(SimulationError) as info:
        run_campaign(BENCHMARK, out=tmp_path, scheduler=scheduler, workers=2)
    message = str(info.value)
    assert message.startswith(_expected_well())
    assert "FloatingPointError: overflow in the death integral" in message
    assert isinstance(info.value, ThalamusError) and info.value.exit_code == 1
    assert P.final_files(tmp_path) == [] and P.temporary_files(tmp_path) == []


def test_task_that_raises_exits_1_through_the_cli(tmp_path, monkeypatch):
    _break_one_well(monkeypatch)
    result = cli(BENCHMARK, "--scheduler", "synchronous", "--out", tmp_path)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: " + _expected_well())
    assert "Traceback" not in result.output
    assert P.final_files(tmp_path) == [] and P.temporary_files(tmp_path) == []
