"""Cell fate: what the compound does to the cells, before anyone measures them.

Everything here is a function of the treatment and of the *physics* random
draws only (per-well IC50 variation and seeding density), never of an assay
draw. All functions work on arrays of wells, element by element, so a block
of wells gives exactly the bits each well would give alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from thalamus.model import fpmath
from thalamus.model import tables as T
from thalamus.model.parameters import DEATH_MODES, EARLY_TIMEPOINT_H, ModelParameters

_MODE = {name: i for i, name in enumerate(DEATH_MODES)}


@dataclasses.dataclass
class Fate:
    """Per-well physics results (arrays of one length)."""

    instant_survival: np.ndarray  # survival before late attrition
    survival: np.ndarray  # after late attrition
    viability: np.ndarray
    death_compound: np.ndarray
    death_confluence: np.ndarray
    death_unknown: np.ndarray
    death_mode: np.ndarray  # index into parameters.DEATH_MODES
    cell_count: np.ndarray
    transport_dysfunction: np.ndarray
    structure: np.ndarray  # (wells, channels) morphology before any noise


def structural_morphology(compound, line, dose, time_h, instant_survival):
    """Five-channel morphology before noise, within physical bounds.

    Adaptive response uses the dose over the compound's *base* EC50; damage
    response is one minus the instant survival.
    """
    x = dose / T.BASE_EC50[compound]
    xh = fpmath.power(x, T.HILL[compound])
    adaptive = np.where(np.isfinite(xh), 4.0 * xh / ((1.0 + xh) * (1.0 + xh)), 0.0)
    damage = 1.0 - instant_survival
    early = time_h <= EARLY_TIMEPOINT_H
    w_adapt = np.where(early, 1.0, 0.3)[:, None]
    w_damage = np.where(early, 0.3, 1.0)[:, None]
    axis = T.AXIS[compound]
    gain = (T.INTENSITY[compound] * T.AXIS_MULTIPLIER[axis, line])[:, None]
    response = w_adapt * T.ADAPT[axis] * adaptive[:, None]
    response = response + w_damage * T.DAMAGE[axis] * damage[:, None]
    baseline = T.BASELINE[line]
    values = baseline * (1.0 + gain * response)

    # Microtubule drugs disrupt the cytoskeleton of non-dividing cells.
    ec50_fraction = T.BASE_EC50[compound] * T.MT_MORPH_FRACTION[line]
    penalty = np.where(T.IS_MICROTUBULE[compound], dose / (dose + ec50_fraction), 0.0)
    values = values * (1.0 - T.PENALTY[line] * penalty[:, None])
    return np.clip(values, baseline * T.FLOOR, baseline * T.CEILING)


def transport_dysfunction(compound, line, structure):
    """Mean fractional loss of actin and mito (iPSC_NGN2, microtubule drugs)."""
    baseline = T.BASELINE[line]
    loss_actin = 1.0 - structure[:, 3] / baseline[:, 3]
    loss_mito = 1.0 - structure[:, 1] / baseline[:, 1]
    score = np.clip((loss_actin + loss_mito) / 2.0, 0.0, 1.0)
    applies = (line == T.TRANSPORT_LINE) & T.IS_MICROTUBULE[compound]
    return np.where(applies, score, 0.0)


def late_attrition(compound, line, dose, time_h, ic50, survival, transport):
    """Survival after the slow death that follows severe stress.

    The extra fraction killed is capped at 1 and no floor is applied, so
    survival never rises with time or dose.
    """
    ratio = dose / ic50
    rate = T.ATTRITION[T.AXIS[compound]]
    neuronal_mt = (line == T.TRANSPORT_LINE) & T.IS_MICROTUBULE[compound]
    rate = np.where(neuronal_mt, 0.25 * (1.0 + 2.0 * transport * transport), rate)
    elapsed = (time_h - EARLY_TIMEPOINT_H) / 36.0
    fraction = np.minimum(1.0, rate * ratio / (1.0 + ratio) * elapsed)
    applies = (time_h > EARLY_TIMEPOINT_H) & (survival < 0.5) & (dose >= ic50)
    return np.where(applies, survival * (1.0 - fraction), survival)


def death_modes(viability, death_compound, death_confluence, death_unknown):
    """Index into DEATH_MODES of each well's dominant cause of death."""
    by_compound = death_compound > 0.05
    by_confluence = death_confluence > 0.05
    unknown = (death_unknown > 0.01) | (viability < 0.5)
    return np.select(
        [by_compound & by_confluence, by_compound, by_confluence, unknown],
        [_MODE["mixed"], _MODE["compound"], _MODE["confluence"], _MODE["unknown"]],
        _MODE["none"],
    ).astype(np.int8)


def cell_fate(
    compound,
    line,
    dose,
    time_h,
    cells_nominal,
    z_ic50,
    z_seeding,
    params: ModelParameters,
) -> Fate:
    """Simulate cell fate for arrays of wells.

    Parameters
    ----------
    compound, line : int arrays
        Indices into the compound and cell-line tables.
    dose, time_h : float arrays
        Dose in µM and timepoint in hours.
    cells_nominal : float array
        Cells seeded per well before seeding variation.
    z_ic50, z_seeding : float arrays
        Standard normal physics draws of each well.
    params : ModelParameters
    """
    ic50 = T.BASE_EC50[compound] * T.IC50_MULTIPLIER[compound, line]
    ic50 = ic50 * fpmath.exp(params.ic50_log_sd * z_ic50)
    ratio = dose / ic50
    instant = 1.0 / (1.0 + fpmath.power(ratio, T.VIABILITY_HILL[compound, line]))

    structure = structural_morphology(compound, line, dose, time_h, instant)
    transport = transport_dysfunction(compound, line, structure)
    survival = late_attrition(compound, line, dose, time_h, ic50, instant, transport)

    alive_after_seeding = 1.0 - params.seeding_stress
    viability = alive_after_seeding * survival
    death_compound = alive_after_seeding * (1.0 - survival)
    death_confluence = np.zeros_like(viability)
    death_unknown = np.full_like(viability, params.seeding_stress)
    seeded = cells_nominal * np.maximum(0.0, 1.0 + params.seeding_cv * z_seeding)
    return Fate(
        instant_survival=instant,
        survival=survival,
        viability=viability,
        death_compound=death_compound,
        death_confluence=death_confluence,
        death_unknown=death_unknown,
        death_mode=death_modes(
            viability, death_compound, death_confluence, death_unknown
        ),
        cell_count=seeded * viability,
        transport_dysfunction=transport,
        structure=structure,
    )
