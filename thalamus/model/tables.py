"""The parameter tables as NumPy arrays indexed by compound, cell line, axis.

Compound indices follow :data:`parameters.ALL_COMPOUNDS` (the vehicle last),
cell-line indices follow :data:`parameters.CELL_LINES`, axis indices follow
:data:`parameters.STRESS_AXES` with one extra all-zero axis for the vehicle.
"""

from __future__ import annotations

import numpy as np

from thalamus.model import parameters as P

LINES = tuple(P.CELL_LINES)
N_AXES = len(P.STRESS_AXES) + 1  # the last axis is the vehicle's: no response
VEHICLE_AXIS = N_AXES - 1
MICROTUBULE_AXIS = P.STRESS_AXES.index("microtubule")
TRANSPORT_LINE = LINES.index(P.TRANSPORT_CELL_LINE)


def _compound_column(i: int, vehicle_value: float) -> np.ndarray:
    values = [P.COMPOUNDS[c][i] for c in P.COMPOUNDS] + [vehicle_value]
    return np.array(values, dtype=np.float64)


#: Per compound: base EC50 (inf for the vehicle, so its dose ratio is 0),
#: Hill slope, morphology intensity, stress axis index.
BASE_EC50 = _compound_column(0, np.inf)
HILL = _compound_column(1, 1.0)
INTENSITY = _compound_column(3, 0.0)
AXIS = np.array(
    [P.STRESS_AXES.index(P.COMPOUNDS[c][2]) for c in P.COMPOUNDS] + [VEHICLE_AXIS]
)
IS_MICROTUBULE = AXIS == MICROTUBULE_AXIS

#: Per cell line.
PROLIFERATION = np.array([P.CELL_LINES[c][0] for c in LINES])
LDH_BASELINE = np.array([P.CELL_LINES[c][1] for c in LINES])
MT_DEPENDENCY = np.array([P.CELL_LINES[c][2] for c in LINES])
MT_MORPH_FRACTION = np.array([P.CELL_LINES[c][3] for c in LINES])
BASELINE = np.array([P.BASELINE_MORPHOLOGY[c] for c in LINES])  # (line, channel)


def _ic50_multipliers() -> np.ndarray:
    table = np.ones((len(P.ALL_COMPOUNDS), len(LINES)))
    for name, row in P.IC50_MULTIPLIERS.items():
        table[P.ALL_COMPOUNDS.index(name)] = row
    mitosis = 1.0 / np.maximum(PROLIFERATION, 0.3)
    microtubule = np.clip(mitosis * (1.0 + 0.2 * MT_DEPENDENCY), 0.3, 5.0)
    table[IS_MICROTUBULE] = microtubule
    return table


#: (compound, line): cell-line IC50 = base EC50 × this.
IC50_MULTIPLIER = _ic50_multipliers()
#: (compound, line): the Hill slope used for viability.
VIABILITY_HILL = np.where(
    IS_MICROTUBULE[:, None], HILL[:, None] * (0.8 + 0.4 * PROLIFERATION), HILL[:, None]
)

#: (axis, line) morphology response multiplier.
AXIS_MULTIPLIER = np.ones((N_AXES, len(LINES)))
for _line, _row in P.AXIS_MORPHOLOGY_MULTIPLIERS.items():
    for _axis, _value in _row.items():
        AXIS_MULTIPLIER[P.STRESS_AXES.index(_axis), LINES.index(_line)] = _value

#: (axis, channel) adaptive and damage coefficients.
ADAPT = np.zeros((N_AXES, len(P.CHANNELS)))
DAMAGE = np.zeros((N_AXES, len(P.CHANNELS)))
for _axis, _pairs in P.MORPHOLOGY_COEFFICIENTS.items():
    ADAPT[P.STRESS_AXES.index(_axis)] = [a for a, _ in _pairs]
    DAMAGE[P.STRESS_AXES.index(_axis)] = [d for _, d in _pairs]

#: Per axis late-attrition rate (vehicle: 0).
ATTRITION = np.array([P.ATTRITION_RATES[a] for a in P.STRESS_AXES] + [0.0])

#: (line, channel) weight of the microtubule cytoskeleton penalty.
PENALTY = np.zeros((len(LINES), len(P.CHANNELS)))
for _line, _weights in P.MICROTUBULE_PENALTIES.items():
    for _channel, _weight in _weights.items():
        PENALTY[LINES.index(_line), P.CHANNELS.index(_channel)] = _weight

#: (channel,) floor and ceiling as multiples of baseline.
FLOOR = np.array([lo for lo, _ in P.CHANNEL_BOUNDS])
CEILING = np.array([hi for _, hi in P.CHANNEL_BOUNDS])
