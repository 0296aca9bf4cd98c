"""From a campaign spec to plates and wells.

Every plate of a campaign carries the same *layout* (which compound and dose
sits at which position); plates differ by cell line, day, operator, replicate
and timepoint. Wells are numbered globally in sorted order: plates sorted by
(day, operator, replicate, timepoint, cell line), then positions row-major. A
well's global index only places it in the output; its random streams come from
its identity (see :mod:`thalamus.seeding`).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from thalamus import seeding
from thalamus.model import parameters as P
from thalamus.spec import PLATE_FORMATS, CampaignSpec, well_name


@dataclasses.dataclass(frozen=True)
class Plate:
    """One physical plate: one cell line in one plate set."""

    cell_line: str
    day: int
    operator: str
    replicate: int
    timepoint_h: float

    def plate_id(self) -> str:
        """Readable, unique name, e.g. ``A549-D1-A-R1-T12h``."""
        return (
            f"{self.cell_line}-D{self.day}-{self.operator}"
            f"-R{self.replicate}-T{self.timepoint_h:g}h"
        )

    def identity(self, plate_format: int) -> tuple:
        """Spawn-key words naming this plate, independent of the campaign."""
        return (
            plate_format,
            seeding.name_word(self.cell_line),
            self.day,
            seeding.name_word(self.operator),
            self.replicate,
            seeding.name_word(repr(float(self.timepoint_h))),
        )


@dataclasses.dataclass(frozen=True)
class Layout:
    """What every plate holds, one entry per used position, row-major order."""

    rows: np.ndarray  # 0-based row index
    cols: np.ndarray  # 0-based column index
    compound: np.ndarray  # index into parameters.ALL_COMPOUNDS
    dose_uM: np.ndarray
    dose_level: np.ndarray  # multiple of base EC50; NaN for absolute doses
    is_sentinel: np.ndarray
    is_edge: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def well_ids(self) -> list[str]:
        return [well_name(r, c) for r, c in zip(self.rows.tolist(), self.cols.tolist())]


@dataclasses.dataclass(frozen=True)
class Design:
    """The whole campaign: its spec, the shared layout and the sorted plates."""

    spec: CampaignSpec
    layout: Layout
    plates: tuple

    @property
    def n_wells(self) -> int:
        return len(self.plates) * len(self.layout)

    @property
    def n_sentinel_wells(self) -> int:
        return len(self.plates) * int(self.layout.is_sentinel.sum())


def build_design(spec: CampaignSpec) -> Design:
    """Place sentinels and experimental wells and list the plates."""
    plates = _plates(spec)
    names = [p.plate_id() for p in plates]
    if len(set(names)) != len(names):
        from thalamus.errors import SpecError

        twice = next(n for n in names if names.count(n) > 1)
        raise SpecError(
            f"{spec.source}: key 'operators': two plates would both be named "
            f"{twice}; use operator names without '-'"
        )
    return Design(spec, _layout(spec), plates)


def _layout(spec: CampaignSpec) -> Layout:
    n_rows, n_cols = PLATE_FORMATS[spec.plate_format]
    index = {name: i for i, name in enumerate(P.ALL_COMPOUNDS)}
    entries = {}  # (row, col) -> (compound index, dose, level, sentinel)
    for sentinel in spec.sentinels:
        for position in sentinel.wells:
            entries[position] = (
                index[sentinel.compound],
                sentinel.dose_uM,
                np.nan,
                True,
            )
    free = (
        p for p in itertools.product(range(n_rows), range(n_cols)) if p not in entries
    )
    for compound, doses in zip(spec.compounds, spec.doses):
        for dose, level in doses:
            level = np.nan if level is None else level
            entries[next(free)] = (index[compound], dose, level, False)
    positions = sorted(entries)
    rows = np.array([r for r, _ in positions], dtype=np.int64)
    cols = np.array([c for _, c in positions], dtype=np.int64)
    values = [entries[p] for p in positions]
    return Layout(
        rows=rows,
        cols=cols,
        compound=np.array([v[0] for v in values], dtype=np.int64),
        dose_uM=np.array([v[1] for v in values], dtype=np.float64),
        dose_level=np.array([v[2] for v in values], dtype=np.float64),
        is_sentinel=np.array([v[3] for v in values], dtype=bool),
        is_edge=(rows == 0) | (rows == n_rows - 1) | (cols == 0) | (cols == n_cols - 1),
    )


def _plates(spec: CampaignSpec) -> tuple:
    plates = [
        Plate(cell_line, day, operator, replicate, timepoint)
        for day in spec.days
        for operator in spec.operators
        for replicate in range(1, spec.replicates + 1)
        for timepoint in spec.timepoints_h
        for cell_line in spec.cell_lines
    ]
    plates.sort(
        key=lambda p: (p.day, p.operator, p.replicate, p.timepoint_h, p.cell_line)
    )
    return tuple(plates)


def plate_map(design: Design, plate_index: int = 0) -> str:
    """A text map of one plate: compound initials and dose, '.' for empty.

    Each used well shows as ``ccc:dose`` in a fixed-width grid.
    """
    n_rows, n_cols = PLATE_FORMATS[design.spec.plate_format]
    grid = [["." for _ in range(n_cols)] for _ in range(n_rows)]
    layout = design.layout
    for r, c, k, dose, sentinel in zip(
        layout.rows, layout.cols, layout.compound, layout.dose_uM, layout.is_sentinel
    ):
        mark = "*" if sentinel else ""
        grid[r][c] = f"{mark}{P.ALL_COMPOUNDS[k][:4]}:{dose:g}"
    width = max(len(cell) for row in grid for cell in row)
    header = "    " + " ".join(f"{c + 1:>{width}}" for c in range(n_cols))
    lines = [f"plate {design.plates[plate_index].plate_id()}", header]
    for r, row in enumerate(grid):
        lines.append(f"{chr(ord('A') + r)}   " + " ".join(f"{x:>{width}}" for x in row))
    lines.append("(* sentinel; '.' empty)")
    return "\n".join(lines)
