"""thalamus self-test: stream isolation on the real simulation, and its failures."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from thalamus import seeding
from thalamus import simulate as S
from thalamus.cli import main
from thalamus.design import build_design
from thalamus.model import parameters as P
from thalamus.selftest import (
    coverage_spec,
    disturbed_streams,
    repeat_first,
    scramble,
    self_test,
)

ASSAY_ISOLATION = "assay words replaced: physics columns unchanged bit for bit"
PHYSICS_CAN_FAIL = "physics words replaced: physics columns changed (the test can fail)"


class CoupledDraws(S.Draws):
    """Test-only fault: the IC50 draw reads a morphology-noise (assay) word."""

    def __init__(self, words: dict):
        super().__init__(words)
        self.z_ic50 = seeding.normals(words[seeding.MORPHOLOGY_NOISE])[:, 0]


class NoPhysicsDraws(S.Draws):
    """Test-only fault: the reference's vacuous physics streams, never drawn."""

    def __init__(self, words: dict):
        super().__init__(words)
        self.z_ic50 = np.zeros_like(self.z_ic50)
        self.z_seeding = np.zeros_like(self.z_seeding)


def test_coverage_design_spans_every_axis_and_cell_line():
    design = build_design(coverage_spec())
    compounds = {P.ALL_COMPOUNDS[i] for i in np.unique(design.layout.compound)}
    axes = {P.COMPOUNDS[c][2] for c in compounds if c != P.VEHICLE}
    assert axes == set(P.STRESS_AXES)
    assert set(P.COMPOUNDS) <= compounds
    assert {p.cell_line for p in design.plates} == set(P.CELL_LINES)
    assert {p.timepoint_h for p in design.plates} == {12.0, 48.0}
    # 15 compounds x 6 dose levels + 8 sentinels, on 4 lines x 2 timepoints
    assert design.n_wells == (15 * 6 + 8) * 8


def test_self_test_passes_on_the_production_code():
    lines = []
    result = self_test(echo=lines.append)
    assert result.passed, result.summary()
    assert result.summary() == "PASS: stream isolation verified"
    assert len(result.checks) == 9 and len(lines) == 9
    assert all(line.startswith("ok   ") for line in lines)
    assert f"ok   {ASSAY_ISOLATION}: 7 columns x 784 wells" in lines


def test_a_coupled_stream_makes_the_self_test_fail(monkeypatch):
    monkeypatch.setattr(S, "Draws", CoupledDraws)
    result = self_test()
    assert not result.passed
    failed = [c for c in result.checks if not c.passed]
    assert failed[0].name == ASSAY_ISOLATION
    assert "viability" in failed[0].detail and "cell_count" in failed[0].detail
    assert result.summary() == f"FAIL: {ASSAY_ISOLATION}"


def test_vacuous_physics_streams_make_the_self_test_fail(monkeypatch):
    monkeypatch.setattr(S, "Draws", NoPhysicsDraws)
    result = self_test()
    names = {c.name for c in result.checks if not c.passed}
    assert PHYSICS_CAN_FAIL in names


def test_disturbance_changes_only_the_named_streams_and_is_undone():
    tails = np.array([[0, 0], [0, 1], [3, 4]])
    plain = seeding.stream_words(0, (seeding.SIGNAL_NOISE, 96), tails)
    physics = seeding.stream_words(0, (seeding.PHYSICS, 96), tails)
    with disturbed_streams(seeding.ASSAY_STREAMS, scramble):
        moved = seeding.stream_words(0, (seeding.SIGNAL_NOISE, 96), tails)
        kept = seeding.stream_words(0, (seeding.PHYSICS, 96), tails)
        one = seeding.reference_stream_words(0, (seeding.PLATE, 1))
    assert (moved != plain).all() and np.array_equal(kept, physics)
    assert (one != seeding.reference_stream_words(0, (seeding.PLATE, 1))).all()
    assert np.array_equal(
        seeding.stream_words(0, (seeding.SIGNAL_NOISE, 96), tails), plain
    )
    repeated = repeat_first(plain)
    assert (repeated == repeated[0]).all()


@pytest.mark.parametrize("coupled, code, last", [(False, 0, "PASS"), (True, 1, "FAIL")])
def test_cli_exit_codes(monkeypatch, coupled, code, last):
    if coupled:
        monkeypatch.setattr(S, "Draws", CoupledDraws)
    result = CliRunner().invoke(main, ["self-test"])
    assert result.exit_code == code, result.output
    assert result.output.splitlines()[-1].startswith(last)
