"""The results table: its columns, their types, and how rows are assembled.

One row per well, sorted by plate (day, operator, replicate, timepoint, cell
line) then by position. ``(plate_id, well_id)`` names a physical well. The same
columns go to Parquet and to the SQLite mirror (booleans as 0/1 integers
there).
"""

from __future__ import annotations

import numpy as np

from thalamus.design import Design
from thalamus.model.parameters import ALL_COMPOUNDS, DEATH_MODES, FAILURE_MODES
from thalamus.simulate import COMPUTED_COLUMNS

RESULTS_TABLE = "thalamus_results"
DESIGNS_TABLE = "thalamus_designs"
PARQUET_NAME = "cell_thalamus_results.parquet"
SQLITE_NAME = "cell_thalamus_results.db"
MANIFEST_NAME = "manifest.json"

#: Design columns, in order, with their kind: str, float, int or bool.
DESIGN_COLUMNS = (
    ("design_id", "str"),
    ("plate_id", "str"),
    ("well_id", "str"),
    ("cell_line", "str"),
    ("compound", "str"),
    ("dose_uM", "float"),
    ("dose_level", "float"),
    ("timepoint_h", "float"),
    ("day", "int"),
    ("operator", "str"),
    ("replicate", "int"),
    ("is_sentinel", "bool"),
    ("is_edge", "bool"),
)

#: Computed columns and their kinds; death and failure modes become text.
_COMPUTED_KINDS = {"death_mode": "str", "failure_mode": "str"}
RESULT_COLUMNS = DESIGN_COLUMNS + tuple(
    (name, _COMPUTED_KINDS.get(name, "float")) for name, _ in COMPUTED_COLUMNS
)
COLUMN_NAMES = tuple(name for name, _ in RESULT_COLUMNS)
SQLITE_TYPES = {"str": "TEXT", "float": "REAL", "int": "INTEGER", "bool": "INTEGER"}


def arrow_schema():
    """The Parquet schema of the results table."""
    import pyarrow as pa

    types = {
        "str": pa.dictionary(pa.int32(), pa.string()),
        "float": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
    }
    nullable = {"dose_level", "failure_mode"}
    return pa.schema(
        [pa.field(n, types[k], nullable=n in nullable) for n, k in RESULT_COLUMNS]
    )


def _dictionary(indices, values):
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(indices, dtype=np.int32)),
        pa.array(list(values), pa.string()),
    )


def arrow_table(design: Design, start: int, computed: dict):
    """Rows ``[start, start + n)`` as a pyarrow Table, design columns rebuilt."""
    import pyarrow as pa

    n = len(computed["viability"])
    plate_index, position = np.divmod(np.arange(start, start + n), len(design.layout))
    plates, layout = design.plates, design.layout
    spec = design.spec
    lines = list(dict.fromkeys(p.cell_line for p in plates))
    operators = list(dict.fromkeys(p.operator for p in plates))
    line_of = np.array([lines.index(p.cell_line) for p in plates])
    operator_of = np.array([operators.index(p.operator) for p in plates])
    failure = computed["failure_mode"].astype(np.int32)
    failure_array = pa.DictionaryArray.from_arrays(
        pa.array(np.where(failure < 0, 0, failure), mask=failure < 0),
        pa.array(list(FAILURE_MODES), pa.string()),
    )
    columns = {
        "design_id": _dictionary(np.zeros(n), [spec.design_id()]),
        "plate_id": _dictionary(plate_index, [p.plate_id() for p in plates]),
        "well_id": _dictionary(position, layout.well_ids()),
        "cell_line": _dictionary(line_of[plate_index], lines),
        "compound": _dictionary(layout.compound[position], ALL_COMPOUNDS),
        "dose_uM": pa.array(layout.dose_uM[position]),
        "dose_level": pa.array(
            layout.dose_level[position], mask=np.isnan(layout.dose_level[position])
        ),
        "timepoint_h": pa.array(
            np.array([p.timepoint_h for p in plates], dtype=np.float64)[plate_index]
        ),
        "day": pa.array(np.array([p.day for p in plates], dtype=np.int64)[plate_index]),
        "operator": _dictionary(operator_of[plate_index], operators),
        "replicate": pa.array(
            np.array([p.replicate for p in plates], dtype=np.int64)[plate_index]
        ),
        "is_sentinel": pa.array(layout.is_sentinel[position]),
        "is_edge": pa.array(layout.is_edge[position]),
        "death_mode": _dictionary(computed["death_mode"], DEATH_MODES),
        "failure_mode": failure_array,
    }
    for name, _ in COMPUTED_COLUMNS:
        if name not in columns:
            columns[name] = pa.array(computed[name])
    return pa.Table.from_arrays(
        [columns[n] for n in COLUMN_NAMES], schema=arrow_schema()
    )
