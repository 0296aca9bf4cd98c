"""thalamus validate: determinism, death accounting, RNG hygiene; each can fail."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from thalamus import validate as V
from thalamus.cli import main
from thalamus.runner import resolve_spec


@pytest.fixture(scope="module")
def coverage():
    return V.coverage_frame()


@pytest.fixture
def frame(coverage):
    return coverage.copy()


def first_row(frame, **where):
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column].astype(str) == str(value)).to_numpy()
    return frame.index[mask][0]


def test_sound_results_have_no_problems(frame):
    assert len(frame) == 784
    assert V.death_accounting_problems(frame) == []


def test_broken_partition_is_named(frame):
    row = first_row(frame, compound="CCCP", dose_level=1.0)
    frame.loc[row, "death_confluence"] += 1e-9
    (problem,) = V.death_accounting_problems(frame)
    well = f"{frame.loc[row, 'plate_id']} {frame.loc[row, 'well_id']}"
    assert problem == f"1 well(s) whose fractions do not sum to 1: {well}"
    check = V.check_death_accounting({"coverage": frame})
    assert not check.passed and check.detail == f"coverage: {problem}"


def test_partition_tolerance_is_1e_12(frame):
    row = first_row(frame, compound="CCCP", dose_level=1.0)
    frame.loc[row, "viability"] += 1e-13
    frame.loc[row, "death_compound"] -= 1e-13
    assert V.death_accounting_problems(frame) == []


def test_seeding_death_credited_to_the_compound(frame):
    vehicle = first_row(frame, compound="DMSO")
    treated = first_row(frame, compound="tunicamycin", dose_level=10.0)
    for row in (vehicle, treated):
        frame.loc[row, "death_compound"] += frame.loc[row, "death_unknown"]
        frame.loc[row, "death_unknown"] = 0.0
    frame.loc[vehicle, "death_mode"] = "none"  # 0.02 < 0.05: not compound
    problems = V.death_accounting_problems(frame)
    assert [p.split(" well(s) ")[1].split(":")[0] for p in problems] == [
        "untreated without the seeding stress",
        "untreated with compound death",
        "crediting seeding death to the compound",
    ]
    assert problems[2].startswith("2 well(s)")


def test_wrong_death_mode(frame):
    row = first_row(frame, compound="DMSO")
    assert frame.loc[row, "death_mode"] == "unknown"  # the 2% seeding stress
    frame.loc[row, "death_mode"] = "none"
    (problem,) = V.death_accounting_problems(frame)
    assert "death_mode disagrees" in problem


def test_expected_death_modes_by_hand():
    values = {
        "viability": np.array([0.98, 0.40, 0.90, 0.30, 0.995]),
        "death_compound": np.array([0.0, 0.58, 0.0, 0.30, 0.0]),
        "death_confluence": np.array([0.0, 0.0, 0.08, 0.38, 0.0]),
        "death_unknown": np.array([0.02, 0.02, 0.02, 0.02, 0.005]),
    }
    modes = V.expected_death_modes(values).tolist()
    assert modes == ["unknown", "compound", "confluence", "mixed", "none"]


def test_determinism_check_can_fail(tmp_path, monkeypatch):
    runs = (("synchronous", "synchronous", 1), ("seed 1", "synchronous", 1))
    monkeypatch.setattr(V, "DETERMINISM_RUNS", runs)
    real = V.run_quietly

    def second_run_reseeded(spec, out, scheduler, workers):
        if out.name.endswith("-1"):
            spec = resolve_spec(spec, seed=1)
        return real(spec, out, scheduler, workers)

    monkeypatch.setattr(V, "run_quietly", second_run_reseeded)
    check = V.check_determinism(tmp_path)
    assert not check.passed
    assert check.detail == "seed 1 differs from synchronous"


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_validate_command_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    outs, real = [], V.run_quietly

    def recorded(spec, out, scheduler, workers):
        outs.append(out)
        return real(spec, out, scheduler, workers)

    monkeypatch.setattr(V, "run_quietly", recorded)
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("test ") :].splitlines()
    assert [row.split()[0] for row in table[2:]] == ["1.", "2.", "3."]
    assert all("  PASS  " in row for row in table[2:])
    assert "local, 1 worker vs local, 2 workers: identical, byte-identical" in (
        result.output
    )
    assert "832 wells" in result.output
    # its three runs went to a temporary directory that is gone
    assert len(outs) == 3 and all(tmp_path in out.parents for out in outs)
    assert not any(out.exists() for out in outs)
    assert not list(tmp_path.glob("thalamus-validate-*"))


def test_validate_exits_1_when_a_check_fails(monkeypatch):
    bad = pd.DataFrame(
        {
            "plate_id": ["P"],
            "well_id": ["A01"],
            "compound": ["DMSO"],
            "dose_uM": [0.0],
            "viability": [0.5],
            "death_compound": [0.0],
            "death_confluence": [0.0],
            "death_unknown": [0.02],
            "death_mode": ["unknown"],
        }
    )
    monkeypatch.setattr(
        V, "check_determinism", lambda tmp, echo=None: V.Check("1. d", True)
    )
    monkeypatch.setattr(V, "coverage_frame", lambda: bad)
    monkeypatch.setattr(
        V.pd if hasattr(V, "pd") else pd, "read_parquet", lambda path: bad
    )
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1
    row = next(r for r in result.output.splitlines() if r.startswith("2. death"))
    assert row.split()[3] == "FAIL"
    assert "whose fractions do not sum to 1: P A01" in result.output
