"""The Cell Thalamus model's numbers: compounds, cell lines and noise magnitudes.

Everything the simulation multiplies by lives here, so that a reader can check
each figure against the reference model and so that :func:`parameter_digest`
can fold every one of them into a campaign's ``design_id``.

The tables are plain tuples and dicts; :class:`ModelParameters` holds the
variability magnitudes a campaign spec may override under its ``model`` key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

#: Bump whenever a formula or a table below changes the numbers a run produces.
MODEL_VERSION = "1.0.0"

CHANNELS = ("er", "mito", "nucleus", "actin", "rna")

STRESS_AXES = (
    "oxidative",
    "er_stress",
    "mitochondrial",
    "dna_damage",
    "proteasome",
    "microtubule",
)

#: The vehicle. It has no stress axis and no effect on anything.
VEHICLE = "DMSO"

#: name: (base EC50 in µM, Hill slope, stress axis, morphology intensity)
COMPOUNDS = {
    "tBHQ": (30.0, 2.0, "oxidative", 0.8),
    "H2O2": (100.0, 2.0, "oxidative", 1.2),
    "tbhp": (80.0, 2.0, "oxidative", 1.0),
    "tunicamycin": (1.0, 2.0, "er_stress", 1.2),
    "thapsigargin": (0.5, 2.5, "er_stress", 1.5),
    "CCCP": (5.0, 2.5, "mitochondrial", 1.3),
    "oligomycin": (1.0, 2.3, "mitochondrial", 1.0),
    "two_deoxy_d_glucose": (1000.0, 1.5, "mitochondrial", 0.6),
    "etoposide": (10.0, 2.0, "dna_damage", 1.0),
    "cisplatin": (5.0, 2.0, "dna_damage", 1.2),
    "doxorubicin": (0.5, 2.5, "dna_damage", 1.4),
    "staurosporine": (0.1, 3.0, "dna_damage", 1.8),
    "MG132": (1.0, 2.0, "proteasome", 1.1),
    "nocodazole": (0.5, 2.0, "microtubule", 1.3),
    "paclitaxel": (0.01, 2.5, "microtubule", 1.5),
}

#: Every compound name a spec may use: the fifteen above plus the vehicle.
ALL_COMPOUNDS = (*COMPOUNDS, VEHICLE)

#: name: (proliferation index, LDH baseline, microtubule functional
#: dependency, microtubule morphology EC50 fraction)
CELL_LINES = {
    "A549": (1.3, 50_000.0, 0.2, 1.0),
    "HepG2": (0.8, 50_000.0, 0.2, 1.0),
    "iPSC_NGN2": (0.1, 70_000.0, 0.8, 0.3),
    "iPSC_Microglia": (0.6, 65_000.0, 0.5, 0.5),
}

#: Baseline morphology per cell line, in CHANNELS order.
BASELINE_MORPHOLOGY = {
    "A549": (1.00, 1.00, 1.00, 1.00, 1.00),
    "HepG2": (1.10, 1.20, 1.00, 0.95, 1.10),
    "iPSC_NGN2": (0.85, 1.47, 0.90, 1.33, 0.78),
    "iPSC_Microglia": (1.40, 1.13, 0.85, 1.25, 1.06),
}

#: IC50 multipliers (above 1: less sensitive), in CELL_LINES order. Pairs not
#: listed are 1.0; microtubule drugs derive theirs from proliferation instead.
IC50_MULTIPLIERS = {
    "tBHQ": (1.5, 0.7, 0.5, 1.2),
    "H2O2": (0.7, 1.5, 0.4, 1.5),
    "tunicamycin": (1.4, 0.7, 0.9, 0.8),
    "thapsigargin": (1.4, 0.7, 0.9, 0.8),
    "CCCP": (1.4, 0.7, 0.3, 0.9),
    "oligomycin": (1.4, 0.7, 0.3, 0.9),
    "etoposide": (0.7, 1.3, 0.8, 1.3),
    "MG132": (1.4, 0.7, 0.7, 0.6),
}

#: Morphology response multiplier by stress axis; cell lines not listed: 1.0.
AXIS_MORPHOLOGY_MULTIPLIERS = {
    "A549": {
        "oxidative": 0.85,
        "er_stress": 0.90,
        "mitochondrial": 0.95,
        "dna_damage": 1.10,
        "proteasome": 0.95,
        "microtubule": 1.10,
    },
    "HepG2": {
        "oxidative": 1.10,
        "er_stress": 1.15,
        "mitochondrial": 1.10,
        "dna_damage": 0.95,
        "proteasome": 1.15,
        "microtubule": 0.90,
    },
}

#: (adaptive, damage) coefficients per stress axis, in CHANNELS order.
MORPHOLOGY_COEFFICIENTS = {
    "oxidative": ((0.2, -0.4), (0.6, -0.8), (0.0, 0.8), (0.0, -0.4), (0.3, -0.6)),
    "er_stress": ((2.0, -1.5), (0.3, -0.6), (0.0, 1.2), (0.0, -0.4), (0.8, -1.0)),
    "mitochondrial": (
        (0.1, -0.5),
        (1.0, -1.6),
        (0.0, 1.0),
        (0.0, -0.5),
        (0.2, -0.8),
    ),
    "dna_damage": ((0.0, -0.3), (0.0, -0.4), (0.0, 1.8), (0.0, -0.4), (0.1, -0.6)),
    "proteasome": ((0.7, -1.0), (0.2, -0.7), (0.0, 0.9), (0.0, -0.4), (0.6, -0.8)),
    "microtubule": ((0.0, -0.2), (0.0, -0.3), (0.3, 1.0), (0.8, -0.6), (0.1, -0.5)),
}

#: Late-attrition rate per stress axis.
ATTRITION_RATES = {
    "er_stress": 0.40,
    "proteasome": 0.35,
    "oxidative": 0.20,
    "dna_damage": 0.20,
    "mitochondrial": 0.18,
    "microtubule": 0.05,
}

#: Physical (floor, ceiling) per channel, as multiples of baseline.
CHANNEL_BOUNDS = ((0.20, 3.00), (0.10, 2.50), (0.30, 1.80), (0.20, 2.00), (0.20, 2.50))

#: Cytoskeleton penalty of microtubule drugs on non-dividing cells:
#: cell line: {channel: weight}; value × (1 − weight × penalty).
MICROTUBULE_PENALTIES = {
    "iPSC_NGN2": {"actin": 0.6, "mito": 0.5},
    "iPSC_Microglia": {"actin": 0.4},
}

#: The cell line whose microtubule attrition depends on transport dysfunction.
TRANSPORT_CELL_LINE = "iPSC_NGN2"

#: Timepoints up to this one count as early (adaptive response dominates).
EARLY_TIMEPOINT_H = 12.0

FAILURE_MODES = ("bubble", "contamination", "pipetting_error")

DEATH_MODES = ("none", "compound", "confluence", "mixed", "unknown")


@dataclasses.dataclass(frozen=True)
class ModelParameters:
    """Variability magnitudes and artefact settings a campaign may override.

    Setting every ``*_cv``, ``ic50_log_sd`` and ``failure_rate`` to zero makes
    each well equal the reference model's deterministic formulas.

    Examples
    --------
    >>> ModelParameters().plate_cv
    0.01
    >>> ModelParameters.from_overrides({"plate_cv": 0.0}).plate_cv
    0.0
    """

    #: Physics: per-well log-normal spread of the cell-line IC50 (natural log).
    ic50_log_sd: float = 0.10
    #: Physics: coefficient of variation of the number of cells seeded.
    seeding_cv: float = 0.05
    #: Physics: fraction of cells that die at seeding, whatever the treatment.
    seeding_stress: float = 0.02
    #: Nominal cells seeded per well, 96-well and 384-well plates.
    cells_per_well_96: float = 10_000.0
    cells_per_well_384: float = 2_500.0
    #: Assay: biological morphology noise; doubled in fully stressed wells.
    morphology_cv: float = 0.02
    #: Assay: biological noise of the LDH signal.
    ldh_cv: float = 0.15
    #: Assay: technical factors shared by a plate, a day, an operator; per well.
    plate_cv: float = 0.010
    day_cv: float = 0.015
    operator_cv: float = 0.008
    well_cv: float = 0.015
    #: Signal kept on edge wells (0.88: a 12% loss).
    edge_factor: float = 0.88
    #: Fraction of wells that fail, and the relative weight of each failure
    #: (normalised: 40:25:20 gives 47%, 29% and 24% of the failures).
    failure_rate: float = 0.02
    failure_weights: tuple = (0.40, 0.25, 0.20)
    #: Per-channel multiplier ranges of each failure mode (low, high).
    bubble_range: tuple = (0.01, 0.10)
    contamination_range: tuple = (5.0, 20.0)
    pipetting_range: tuple = (0.05, 0.30)

    @classmethod
    def from_overrides(cls, overrides: dict | None) -> ModelParameters:
        """Return the defaults with ``overrides`` (already validated) applied."""
        values = {}
        for key, value in (overrides or {}).items():
            values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def as_dict(self) -> dict:
        """Plain JSON-ready mapping of every field."""
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in dataclasses.fields(self)
            for value in [getattr(self, field.name)]
        }


#: Overrides that switch every source of randomness off.
NO_VARIABILITY = {
    "ic50_log_sd": 0.0,
    "seeding_cv": 0.0,
    "morphology_cv": 0.0,
    "ldh_cv": 0.0,
    "plate_cv": 0.0,
    "day_cv": 0.0,
    "operator_cv": 0.0,
    "well_cv": 0.0,
    "failure_rate": 0.0,
}


def parameter_digest(params: ModelParameters) -> str:
    """SHA-256 over the model version, every table and ``params``.

    Any change to a number the simulation uses changes this digest, and with
    it every ``design_id`` built from it.
    """
    tables = {
        "model_version": MODEL_VERSION,
        "compounds": COMPOUNDS,
        "cell_lines": CELL_LINES,
        "baseline": BASELINE_MORPHOLOGY,
        "ic50_multipliers": IC50_MULTIPLIERS,
        "axis_multipliers": AXIS_MORPHOLOGY_MULTIPLIERS,
        "coefficients": MORPHOLOGY_COEFFICIENTS,
        "attrition": ATTRITION_RATES,
        "bounds": CHANNEL_BOUNDS,
        "penalties": MICROTUBULE_PENALTIES,
        "early_h": EARLY_TIMEPOINT_H,
        "parameters": params.as_dict(),
    }
    text = json.dumps(tables, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
