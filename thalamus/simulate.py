"""Simulate a range of a campaign's wells: seeding, then physics, then assays.

:func:`simulate_range` is what every Dask task runs: it hashes the random
streams of all its wells at once and evaluates the model on arrays.
:func:`simulate_well_reference` does the same for one well with NumPy's own
``SeedSequence`` objects; tests hold the two to the same bytes.

Both return the *computed* columns only (see :data:`COMPUTED_COLUMNS`); the
design columns (plate, well, compound, ...) are rebuilt from the design by the
writers, so tasks ship numbers, not strings.
"""

from __future__ import annotations

import numpy as np

from thalamus import seeding
from thalamus.design import Design
from thalamus.errors import SimulationError
from thalamus.model import assays, physics
from thalamus.model import tables as T
from thalamus.model.parameters import CHANNELS

#: Computed columns, in output order, and their NumPy dtypes.
COMPUTED_COLUMNS = (
    ("cell_count", np.float64),
    ("viability", np.float64),
    ("death_compound", np.float64),
    ("death_confluence", np.float64),
    ("death_unknown", np.float64),
    ("death_mode", np.int8),
    ("transport_dysfunction_score", np.float64),
    *((f"morph_{c}", np.float64) for c in CHANNELS),
    ("ldh_signal", np.float64),
    ("failure_mode", np.int8),
)

PHYSICS_COLUMNS = (
    "cell_count",
    "viability",
    "death_compound",
    "death_confluence",
    "death_unknown",
    "death_mode",
    "transport_dysfunction_score",
)
ASSAY_COLUMNS = (*(f"morph_{c}" for c in CHANNELS), "ldh_signal", "failure_mode")


class Draws:
    """Every random number a block of wells uses, by stream, as arrays."""

    def __init__(self, words: dict):
        physics_z = seeding.normals(words[seeding.PHYSICS])
        self.z_ic50, self.z_seeding = physics_z[:, 0], physics_z[:, 1]
        self.z_channels = np.empty((len(physics_z), len(CHANNELS)))
        self.z_channels[:, :4] = seeding.normals(words[seeding.MORPHOLOGY_NOISE])
        signal = seeding.normals(words[seeding.SIGNAL_NOISE])
        self.z_channels[:, 4] = signal[:, 0]
        self.z_ldh, self.z_well = signal[:, 1], signal[:, 2]
        failure = seeding.uniforms(words[seeding.FAILURE])
        self.u_fail, self.u_type = failure[:, 0], failure[:, 1]


def _batch_keys(plate, plate_format: int) -> tuple:
    """Spawn keys of a plate's plate, day and operator technical factors."""
    return (
        (seeding.PLATE, *plate.identity(plate_format)),
        (seeding.DAY, plate.day),
        (seeding.OPERATOR, seeding.name_word(plate.operator)),
    )


class _Block:
    """The design columns of wells [start, stop), as arrays."""

    def __init__(self, design: Design, start: int, stop: int):
        n_layout = len(design.layout)
        index = np.arange(start, stop)
        self.plate_index, self.position = np.divmod(index, n_layout)
        layout = design.layout
        self.rows = layout.rows[self.position]
        self.cols = layout.cols[self.position]
        self.compound = layout.compound[self.position]
        self.dose = layout.dose_uM[self.position]
        self.is_edge = layout.is_edge[self.position]
        # Only this block's plates: a campaign may hold thousands.
        self.plate_ids, self.plate_of = np.unique(self.plate_index, return_inverse=True)
        self.plates = [design.plates[i] for i in self.plate_ids]
        line_of = np.array([T.LINES.index(p.cell_line) for p in self.plates])
        time_of = np.array([p.timepoint_h for p in self.plates], dtype=np.float64)
        self.line = line_of[self.plate_of]
        self.time_h = time_of[self.plate_of]


def _simulate(
    design: Design,
    block: _Block,
    draws: Draws,
    batch_z: np.ndarray,
    failure_u: np.ndarray,
) -> dict:
    params = design.spec.model
    nominal = (
        params.cells_per_well_96
        if design.spec.plate_format == 96
        else params.cells_per_well_384
    )
    cells = np.full(len(block.dose), nominal)
    fate = physics.cell_fate(
        block.compound,
        block.line,
        block.dose,
        block.time_h,
        cells,
        draws.z_ic50,
        draws.z_seeding,
        params,
    )
    plate_factor = assays.batch_factor(
        batch_z[:, 0], batch_z[:, 1], batch_z[:, 2], params
    )
    kinds = assays.failure_modes(draws.u_fail, draws.u_type, params)
    readout = assays.measure(
        fate,
        block.line,
        block.is_edge,
        plate_factor,
        draws.z_channels,
        draws.z_ldh,
        draws.z_well,
        kinds,
        failure_u,
        params,
    )
    columns = {
        "cell_count": fate.cell_count,
        "viability": fate.viability,
        "death_compound": fate.death_compound,
        "death_confluence": fate.death_confluence,
        "death_unknown": fate.death_unknown,
        "death_mode": fate.death_mode,
        "transport_dysfunction_score": fate.transport_dysfunction,
    }
    for i, channel in enumerate(CHANNELS):
        columns[f"morph_{channel}"] = readout.morphology[:, i]
    columns["ldh_signal"] = readout.ldh
    columns["failure_mode"] = readout.failure_mode
    return {
        name: np.ascontiguousarray(columns[name], dtype=dt)
        for name, dt in COMPUTED_COLUMNS
    }


_PER_WELL_STREAMS = (
    seeding.PHYSICS,
    seeding.MORPHOLOGY_NOISE,
    seeding.SIGNAL_NOISE,
    seeding.FAILURE,
)


def simulate_range(design: Design, start: int, stop: int) -> dict:
    """Computed columns of wells ``[start, stop)`` of the sorted design.

    Raises
    ------
    SimulationError
        Naming the first well whose simulation fails.
    """
    try:
        return _simulate_range(design, start, stop)
    except Exception as exc:  # name the well, then re-raise as our error
        raise _locate_failure(design, start, stop, exc) from exc


def _simulate_range(design: Design, start: int, stop: int) -> dict:
    block = _Block(design, start, stop)
    seed, fmt = design.spec.seed, design.spec.plate_format
    plates, plate_of = block.plates, block.plate_of
    identities = np.array([p.identity(fmt) for p in plates], dtype=np.uint64)
    tails = np.stack([block.rows, block.cols], axis=1)

    def words(stream, subset=slice(None)):
        return seeding.stream_words(
            seed, (stream,), tails[subset], identities, plate_of[subset]
        )

    draws = Draws({stream: words(stream) for stream in _PER_WELL_STREAMS})

    # Batch factors: one draw per plate, per day, per operator.
    batch = np.empty((len(plates), 3))
    batch[:, 0] = seeding.normals(
        seeding.stream_words(seed, (seeding.PLATE,), identities)
    )[:, 0]
    days = np.array([[p.day] for p in plates])
    batch[:, 1] = seeding.normals(seeding.stream_words(seed, (seeding.DAY,), days))[
        :, 0
    ]
    operators = np.array([[seeding.name_word(p.operator)] for p in plates])
    batch[:, 2] = seeding.normals(
        seeding.stream_words(seed, (seeding.OPERATOR,), operators)
    )[:, 0]

    # Failure multipliers are drawn only for the wells that fail.
    failure_u = np.zeros((len(tails), len(CHANNELS)))
    failed = np.flatnonzero(draws.u_fail < design.spec.model.failure_rate)
    if len(failed):
        failure_u[failed, :4] = seeding.uniforms(
            words(seeding.FAILURE_CHANNELS, failed)
        )
        second = seeding.uniforms(words(seeding.FAILURE_CHANNELS_2, failed))
        failure_u[failed, 4] = second[:, 0]
    return _simulate(design, block, draws, batch[plate_of], failure_u)


def _failure_channel_uniforms(seed: int, identity: tuple, row, col) -> np.ndarray:
    """Five uniforms, one per channel, from the well's two failure streams."""
    key = (*identity, int(row), int(col))
    first = seeding.reference_stream_words(seed, (seeding.FAILURE_CHANNELS, *key))
    second = seeding.reference_stream_words(seed, (seeding.FAILURE_CHANNELS_2, *key))
    return seeding.uniforms(np.concatenate([first, second[:1]]))


def simulate_well_reference(design: Design, index: int) -> dict:
    """Computed columns of one well, seeded by NumPy's SeedSequence directly.

    The slow, obvious path: one ``SeedSequence`` per stream, as the seeding
    contract states it. Used by tests and to locate a failing well.
    """
    block = _Block(design, index, index + 1)
    seed, fmt = design.spec.seed, design.spec.plate_format
    plate = design.plates[int(block.plate_index[0])]
    row, col = int(block.rows[0]), int(block.cols[0])
    key = (*plate.identity(fmt), row, col)
    words = {
        s: seeding.reference_stream_words(seed, (s, *key))[None, :]
        for s in _PER_WELL_STREAMS
    }
    draws = Draws(words)
    failure_u = np.zeros((1, len(CHANNELS)))
    if draws.u_fail[0] < design.spec.model.failure_rate:
        failure_u[0] = _failure_channel_uniforms(seed, plate.identity(fmt), row, col)
    batch_z = np.array(
        [
            [
                seeding.normals(seeding.reference_stream_words(seed, key))[0]
                for key in _batch_keys(plate, fmt)
            ]
        ]
    )
    return _simulate(design, block, draws, batch_z, failure_u)


def _locate_failure(design: Design, start: int, stop: int, exc: Exception):
    """A SimulationError naming the first well of the range that fails."""
    from thalamus.spec import well_name

    for index in range(start, stop):
        try:
            simulate_well_reference(design, index)
        except Exception as well_exc:
            plate, position = divmod(index, len(design.layout))
            well = well_name(design.layout.rows[position], design.layout.cols[position])
            plate_id = design.plates[plate].plate_id()
            return SimulationError(
                f"well {plate_id} {well} failed: "
                f"{well_exc.__class__.__name__}: {well_exc}"
            )
    return SimulationError(
        f"wells {start}..{stop - 1} failed together: {exc.__class__.__name__}: {exc}"
    )
