"""Measurements: Cell Painting morphology and LDH release, with artefacts.

Assays read the cell fate and add biological noise, technical factors (plate,
day, operator, well, edge) and well failures, all from *assay* random draws.
Nothing here feeds back into :mod:`thalamus.model.physics`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from thalamus.model import tables as T
from thalamus.model.parameters import ModelParameters
from thalamus.model.physics import Fate

#: failure_mode codes: -1 means the well did not fail; else an index into
#: parameters.FAILURE_MODES.
NO_FAILURE = -1


@dataclasses.dataclass
class Readout:
    """Per-well assay results."""

    morphology: np.ndarray  # (wells, channels)
    ldh: np.ndarray
    failure_mode: np.ndarray  # int8 codes, NO_FAILURE for a good well


def batch_factor(z_plate, z_day, z_operator, params: ModelParameters):
    """Technical factor shared by a plate, from its plate, day, operator draws."""
    return (
        (1.0 + params.plate_cv * z_plate)
        * (1.0 + params.day_cv * z_day)
        * (1.0 + params.operator_cv * z_operator)
    )


def failure_modes(u_fail, u_type, params: ModelParameters):
    """Which wells fail (u_fail below the rate), and how (by weight)."""
    weights = np.asarray(params.failure_weights, dtype=np.float64)
    bounds = np.cumsum(weights) / weights.sum()
    kind = np.searchsorted(bounds[:-1], u_type, side="right").astype(np.int8)
    return np.where(u_fail < params.failure_rate, kind, NO_FAILURE).astype(np.int8)


def failure_multipliers(kinds, u_channels, params: ModelParameters):
    """Per-channel signal multipliers of failed wells, drawn in each range."""
    ranges = np.array(
        [params.bubble_range, params.contamination_range, params.pipetting_range]
    )
    low, high = ranges[kinds, 0][:, None], ranges[kinds, 1][:, None]
    return low + (high - low) * u_channels


def measure(
    fate: Fate,
    line,
    is_edge,
    plate_factor,
    z_channels,
    z_ldh,
    z_well,
    failure_kind,
    failure_channels,
    params: ModelParameters,
) -> Readout:
    """Simulate the readouts of arrays of wells.

    Parameters
    ----------
    fate : Fate
        Physics results of the wells.
    line : int array
        Cell-line index of each well.
    is_edge : bool array
        Whether each well sits on the plate's outer ring.
    plate_factor : float array
        Each well's plate × day × operator technical factor.
    z_channels : (wells, channels) float array
        Standard normal biological noise draws.
    z_ldh, z_well : float arrays
        Standard normal draws for LDH noise and the well's technical factor.
    failure_kind : int8 array
        Failure code per well (see :func:`failure_modes`).
    failure_channels : (wells, channels) float array
        Uniform draws in (0, 1) for failed wells' channels; other rows unused.
    params : ModelParameters
    """
    baseline = T.BASELINE[line]
    stress = 1.0 - fate.instant_survival
    cv = (params.morphology_cv * (1.0 + stress))[:, None]
    biological = fate.structure * (1.0 + cv * z_channels)
    biological = np.clip(biological, baseline * T.FLOOR, baseline * T.CEILING)

    edge = np.where(is_edge, params.edge_factor, 1.0)
    # A factor below zero would mean negative light: it cannot happen.
    technical = np.maximum(plate_factor * (1.0 + params.well_cv * z_well) * edge, 0.0)
    morphology = biological * technical[:, None]

    failed = failure_kind != NO_FAILURE
    if failed.any():
        multipliers = failure_multipliers(
            failure_kind[failed], failure_channels[failed], params
        )
        morphology[failed] = morphology[failed] * multipliers

    dead = 1.0 - fate.viability
    ldh = T.LDH_BASELINE[line] * dead * (1.0 + params.ldh_cv * z_ldh) * technical
    return Readout(morphology, np.maximum(ldh, 0.0), failure_kind)
