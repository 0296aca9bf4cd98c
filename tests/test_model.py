"""The model against the reference formulas, computed here by hand.

With every variability switched off, each well must equal the reference
model's deterministic formulas (to 1e-12 relative: the model's exp/log are
portable re-implementations, so the last bit may differ from libm's).
"""

import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PHASE0, make_design
from thalamus import schema
from thalamus.model import physics
from thalamus.model import tables as T
from thalamus.model.parameters import ALL_COMPOUNDS, NO_VARIABILITY, ModelParameters
from thalamus.simulate import ASSAY_COLUMNS, PHYSICS_COLUMNS, simulate_range

REL = 1e-12


def simulate(design):
    computed = simulate_range(design, 0, design.n_wells)
    return schema.arrow_table(design, 0, computed).to_pandas()


def one_well(frame, compound, dose, cell_line, timepoint):
    rows = frame[
        (frame.compound == compound)
        & np.isclose(frame.dose_uM, dose)
        & (frame.cell_line == cell_line)
        & (frame.timepoint_h == timepoint)
        & ~frame.is_sentinel
    ]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.fixture(scope="module")
def quiet():
    """Variability off; the hand-computed cases below, on 96-well plates."""
    design = make_design(
        cell_lines=["A549", "HepG2", "iPSC_NGN2"],
        compounds=["tBHQ", "tunicamycin", "nocodazole"],
        dose_levels=None,
        doses_uM={"tBHQ": [0, 30], "tunicamycin": [0, 10], "nocodazole": [5]},
        timepoints_h=[12, 48],
        model=dict(NO_VARIABILITY),
    )
    return simulate(design)


def edge_factor(row):
    return 0.88 if row.is_edge else 1.0


def test_tbhq_in_a549_at_12h_matches_hand_computation(quiet):
    row = one_well(quiet, "tBHQ", 30.0, "A549", 12.0)
    s = 1.0 / (1.0 + (30.0 / (30.0 * 1.5)) ** 2)  # 9/13
    assert row.viability == pytest.approx(0.98 * s, rel=REL)
    assert row.death_compound == pytest.approx(0.98 * (1 - s), rel=REL)
    assert row.death_unknown == pytest.approx(0.02, rel=REL)
    assert row.death_confluence == 0.0
    assert row.death_mode == "compound"
    # x = dose / base EC50 = 1, so the adaptive response peaks at 1.
    adapt, damage, gain = 1.0, 1.0 - s, 0.8 * 0.85
    coefficients = {
        "er": (0.2, -0.4),
        "mito": (0.6, -0.8),
        "nucleus": (0.0, 0.8),
        "actin": (0.0, -0.4),
        "rna": (0.3, -0.6),
    }
    for channel, (ca, cd) in coefficients.items():
        value = 1.0 + gain * (1.0 * ca * adapt + 0.3 * cd * damage)
        assert row[f"morph_{channel}"] == pytest.approx(
            value * edge_factor(row), rel=REL
        )
    ldh = 50_000 * (1 - 0.98 * s) * edge_factor(row)
    assert row.ldh_signal == pytest.approx(ldh, rel=REL)
    assert pd.isna(row.failure_mode)
    assert row.cell_count == pytest.approx(10_000 * 0.98 * s, rel=REL)


def test_late_attrition_tunicamycin_in_hepg2_at_48h(quiet):
    row = one_well(quiet, "tunicamycin", 10.0, "HepG2", 48.0)
    ic50 = 1.0 * 0.7
    r = 10.0 / ic50
    s = 1.0 / (1.0 + r**2)
    fraction = 0.40 * r / (1 + r) * (48 - 12) / 36
    survival = s * (1 - fraction)
    assert row.viability == pytest.approx(0.98 * survival, rel=REL)
    assert row.death_compound == pytest.approx(0.98 * (1 - survival), rel=REL)
    # er would go far below zero: the floor (0.2 x baseline 1.10) holds it.
    assert row.morph_er == pytest.approx(0.2 * 1.10 * edge_factor(row), rel=REL)
    # nucleus: damage coefficient +1.2 pushes it up, under its 1.8 ceiling.
    x_h = (10.0 / 1.0) ** 2
    adapt = 4 * x_h / (1 + x_h) ** 2
    nucleus = 1.0 * (1 + 1.2 * 1.15 * (0.3 * 0.0 * adapt + 1.0 * 1.2 * (1 - s)))
    nucleus = min(nucleus, 1.8 * 1.0)
    assert row.morph_nucleus == pytest.approx(nucleus * edge_factor(row), rel=REL)


def test_microtubule_drug_in_ipsc_ngn2_with_transport_dysfunction(quiet):
    row = one_well(quiet, "nocodazole", 5.0, "iPSC_NGN2", 48.0)
    p, f = 0.1, 0.8
    multiplier = min(max(1 / max(p, 0.3) * (1 + 0.2 * f), 0.3), 5.0)
    ic50, hill = 0.5 * multiplier, 2.0 * (0.8 + 0.4 * p)
    r = 5.0 / ic50
    s = 1 / (1 + r**hill)
    x_h = (5.0 / 0.5) ** 2.0
    adapt, damage = 4 * x_h / (1 + x_h) ** 2, 1 - s
    gain = 1.3 * 1.0
    baseline = {"er": 0.85, "mito": 1.47, "nucleus": 0.90, "actin": 1.33, "rna": 0.78}
    coefficients = {
        "er": (0.0, -0.2),
        "mito": (0.0, -0.3),
        "nucleus": (0.3, 1.0),
        "actin": (0.8, -0.6),
        "rna": (0.1, -0.5),
    }
    bounds = {
        "er": (0.2, 3.0),
        "mito": (0.1, 2.5),
        "nucleus": (0.3, 1.8),
        "actin": (0.2, 2.0),
        "rna": (0.2, 2.5),
    }
    penalty = 5.0 / (5.0 + 0.5 * 0.3)
    structure = {}
    for channel, (ca, cd) in coefficients.items():
        value = baseline[channel] * (1 + gain * (0.3 * ca * adapt + 1.0 * cd * damage))
        if channel == "actin":
            value *= 1 - 0.6 * penalty
        if channel == "mito":
            value *= 1 - 0.5 * penalty
        lo, hi = bounds[channel]
        structure[channel] = min(
            max(value, lo * baseline[channel]), hi * baseline[channel]
        )
    d = (1 - structure["actin"] / 1.33 + 1 - structure["mito"] / 1.47) / 2
    d = min(max(d, 0.0), 1.0)
    assert row.transport_dysfunction_score == pytest.approx(d, rel=REL)
    assert 0.3 < d < 1.0  # a real, unclamped score
    rate = 0.25 * (1 + 2 * d * d)
    fraction = min(1.0, rate * r / (1 + r) * 1.0)
    assert s < 0.5 and 5.0 >= ic50  # attrition applies
    assert row.viability == pytest.approx(0.98 * s * (1 - fraction), rel=REL)
    for channel, value in structure.items():
        expected = value * edge_factor(row)
        assert row[f"morph_{channel}"] == pytest.approx(expected, rel=REL)


def test_vehicle_wells_carry_seeding_stress_and_release_ldh(quiet):
    vehicles = quiet[quiet.dose_uM == 0.0]
    assert len(vehicles) > 0
    for _, row in vehicles.iterrows():
        assert row.viability == pytest.approx(0.98, rel=REL)
        assert row.death_compound == 0.0
        assert row.death_unknown == pytest.approx(0.02, rel=REL)
        assert row.death_mode == "unknown"
        # 2% of 50,000 (A549, HepG2) or 70,000 (iPSC_NGN2) units of LDH.
        baseline = {"A549": 50_000, "HepG2": 50_000, "iPSC_NGN2": 70_000}
        ldh = baseline[row.cell_line] * 0.02 * edge_factor(row)
        assert row.ldh_signal == pytest.approx(ldh, rel=1e-9)
        line = T.LINES.index(row.cell_line)
        assert row.morph_er == pytest.approx(T.BASELINE[line, 0] * edge_factor(row))


def _viability_grid(times):
    """Viability for every compound x cell line x dose x time, variability off."""
    n_c, n_l = len(ALL_COMPOUNDS), len(T.LINES)
    doses = np.concatenate([[0.0], np.logspace(-3, 5, 60)])
    c, line, k, t = np.meshgrid(
        np.arange(n_c),
        np.arange(n_l),
        np.arange(len(doses)),
        np.arange(len(times)),
        indexing="ij",
    )
    dose = doses[k] * np.where(np.isinf(T.BASE_EC50[c]), 1.0, T.BASE_EC50[c])
    params = ModelParameters.from_overrides(NO_VARIABILITY)
    zeros = np.zeros(c.size)
    fate = physics.cell_fate(
        c.ravel(),
        line.ravel(),
        dose.ravel(),
        np.asarray(times)[t].ravel(),
        np.full(c.size, 1e4),
        zeros,
        zeros,
        params,
    )
    return fate.viability.reshape(c.shape)


def test_viability_never_rises_with_dose_or_time():
    times = [6.0, 12.0, 24.0, 48.0, 72.0, 96.0]
    viability = _viability_grid(times)
    assert np.all(np.diff(viability, axis=2) <= 0.0), "rises with dose"
    assert np.all(np.diff(viability, axis=3) <= 0.0), "rises with time"
    assert viability.min() >= 0.0


def test_high_dose_48h_is_never_more_viable_than_12h():
    # The reference floored survival at 0.01 after attrition, so here
    # (survival ~5e-7 at 12 h) its 48 h well came out 0.0098 viable.
    fate = physics.cell_fate(
        np.array([ALL_COMPOUNDS.index("tunicamycin")] * 2),
        np.array([T.LINES.index("HepG2")] * 2),
        np.array([1000.0, 1000.0]),
        np.array([12.0, 48.0]),
        np.full(2, 1e4),
        np.zeros(2),
        np.zeros(2),
        ModelParameters.from_overrides(NO_VARIABILITY),
    )
    assert fate.viability[0] < 0.98 * 0.01
    assert fate.viability[1] <= fate.viability[0]


def test_death_partition_sums_to_one_for_every_well():
    design = make_design(
        cell_lines=list(T.LINES),
        compounds=list(ALL_COMPOUNDS[:-1]),
        plate_format=384,
        timepoints_h=[12, 48, 96],
    )
    frame = simulate(design)
    total = (
        frame.viability
        + frame.death_compound
        + frame.death_confluence
        + frame.death_unknown
    )
    assert np.max(np.abs(total - 1.0)) <= 1e-12
    assert np.all(frame.death_unknown >= 0.02 - 1e-15)
    assert np.all((frame.viability >= 0) & (frame.viability <= 0.98 + 1e-15))


def test_physics_randomness_exists_and_varies_between_replicates():
    design = make_design(replicates=4)
    frame = simulate(design)
    treated = frame[(frame.compound == "tunicamycin") & (frame.dose_uM == 1.0)]
    treated = treated[treated.cell_line == "A549"]
    assert len(treated) == 4
    assert treated.viability.nunique() == 4
    assert treated.cell_count.std() > 0
    # Seeding density cv 5% on 10,000 cells: counts of vehicle wells spread.
    vehicles = frame[frame.dose_uM == 0.0]
    spread = vehicles.cell_count.std() / vehicles.cell_count.mean()
    assert 0.02 < spread < 0.09


def test_assay_settings_never_perturb_cell_fate():
    base = simulate(make_design())
    noisy = simulate(
        make_design(
            model={
                "morphology_cv": 0.3,
                "ldh_cv": 0.5,
                "plate_cv": 0.2,
                "failure_rate": 0.5,
            }
        )
    )
    for column in PHYSICS_COLUMNS:
        if column == "death_mode":
            assert base[column].equals(noisy[column])
            continue
        assert base[column].to_numpy().tobytes() == noisy[column].to_numpy().tobytes()
    for column in ("morph_er", "morph_rna", "ldh_signal"):
        assert not np.array_equal(base[column], noisy[column])
    assert set(ASSAY_COLUMNS) >= {"morph_er", "ldh_signal", "failure_mode"}


def test_failures_are_recorded_with_their_type_and_ranges():
    weights = [0.40, 0.25, 0.20]
    common = dict(plate_format=384, cell_lines=list(T.LINES), replicates=1)
    ok = simulate(make_design(model={"failure_rate": 0.0}, **common))
    bad = simulate(make_design(model={"failure_rate": 1.0}, **common))
    assert ok.failure_mode.isna().all()
    counts = bad.failure_mode.value_counts(normalize=True)
    for mode, weight in zip(["bubble", "contamination", "pipetting_error"], weights):
        assert counts[mode] == pytest.approx(weight / sum(weights), abs=0.06)
    ranges = {
        "bubble": (0.01, 0.10),
        "contamination": (5.0, 20.0),
        "pipetting_error": (0.05, 0.30),
    }
    for mode, (lo, hi) in ranges.items():
        rows = bad.failure_mode == mode
        for channel in ("er", "mito", "nucleus", "actin", "rna"):
            ratio = bad.loc[rows, f"morph_{channel}"] / ok.loc[rows, f"morph_{channel}"]
            assert ratio.between(lo * (1 - 1e-12), hi * (1 + 1e-12)).all(), mode
    # Failures touch the morphology only; LDH and physics are the same wells'.
    assert np.array_equal(ok.ldh_signal, bad.ldh_signal)


def test_default_failure_rate_is_about_two_percent():
    frame = simulate(
        make_design(
            plate_format=384,
            cell_lines=list(T.LINES),
            compounds=list(ALL_COMPOUNDS[:-1]),
            timepoints_h=[12, 24, 48],
        )
    )
    rate = frame.failure_mode.notna().mean()
    # 2,448 wells: binomial sd 0.0028 around 0.02.
    assert 0.008 < rate < 0.035


def test_edge_wells_lose_twelve_percent_of_signal():
    frame = simulate(make_design(compounds=PHASE0, model=dict(NO_VARIABILITY)))
    frame = frame[frame.dose_uM == 0]
    for _, row in frame.iterrows():
        line = T.LINES.index(row.cell_line)
        expected = T.BASELINE[line, 2] * (0.88 if row.is_edge else 1.0)
        assert row.morph_nucleus == pytest.approx(expected, rel=REL)
    assert frame.is_edge.any() and (~frame.is_edge).any()


def test_microtubule_multiplier_is_clamped_to_its_range():
    # A549 p=1.3: 1/1.3 * 1.04 = 0.8; iPSC_NGN2 p=0.1: 1/0.3 * 1.16 = 3.867.
    nocodazole = ALL_COMPOUNDS.index("nocodazole")
    assert T.IC50_MULTIPLIER[nocodazole, T.LINES.index("A549")] == pytest.approx(
        1 / 1.3 * 1.04
    )
    assert T.IC50_MULTIPLIER[nocodazole, T.LINES.index("iPSC_NGN2")] == pytest.approx(
        1 / 0.3 * 1.16
    )
    assert math.isclose(T.VIABILITY_HILL[nocodazole, 0], 2.0 * (0.8 + 0.4 * 1.3))
