"""Are two results the same? Schema, row counts, rows by well, then bytes.

:func:`compare` takes two SQLite result files, two Parquet result files or two
run directories. Rows are matched by their well, ``(plate_id, well_id)``, so
row order does not matter, and each row is hashed with a typed encoding
(:func:`encode_value`): a float is its eight IEEE-754 bytes, so ``0.1`` and
the next float up differ, and ``NULL``, ``0``, ``0.0`` and ``""`` all differ.

Two files can hold the same rows and still differ as files (another writer
version, another page layout); the report says both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import struct
from pathlib import Path

from thalamus.errors import ThalamusError
from thalamus.writers import sha256_file

logger = logging.getLogger(__name__)

#: Below this, every difference is taken for floating-point noise.
NOISE_TOLERANCE = 1e-6
#: Differing wells printed in a report.
SHOW_WELLS = 5
_KEY = ("plate_id", "well_id")
_RESULTS = "thalamus_results"
_DESIGNS = "thalamus_designs"
_PARQUET = "cell_thalamus_results.parquet"
_SQLITE = "cell_thalamus_results.db"
_MANIFEST = "manifest.json"


def encode_value(value) -> bytes:
    """Typed bytes of one cell: a type tag, then the value.

    Examples
    --------
    >>> encode_value(None), encode_value(1), encode_value(1.0)[:1]
    (b'N', b'I\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00', b'F')
    >>> encode_value("A01")
    b'S\\x03\\x00\\x00\\x00A01'
    """
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"B\x01" if value else b"B\x00"
    if isinstance(value, int):
        return b"I" + struct.pack("<q", value)
    if isinstance(value, float):
        return b"F" + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"S" + struct.pack("<I", len(data)) + data
    if isinstance(value, bytes):
        return b"X" + struct.pack("<I", len(value)) + value
    raise TypeError(f"cannot encode a {type(value).__name__}")


def row_digest(values) -> bytes:
    """SHA-256 of a row's typed encoding."""
    hasher = hashlib.sha256()
    for value in values:
        hasher.update(encode_value(value))
    return hasher.digest()


@dataclasses.dataclass
class Table:
    """One table read into memory: its schema and its rows by key."""

    name: str
    columns: tuple  # ((column name, type name), ...)
    rows: dict  # key tuple -> tuple of values
    n_rows: int


@dataclasses.dataclass
class ResultFile:
    """The tables of one result file, and the file's SHA-256."""

    path: Path
    kind: str  # "sqlite" or "parquet"
    tables: dict  # name -> Table
    sha256: str


@dataclasses.dataclass
class Comparison:
    """What :func:`compare` found; ``lines`` is the printable report."""

    identical: bool
    byte_identical: bool
    lines: list

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def report(self) -> str:
        return "\n".join(self.lines)


def _key_of(name: str, columns) -> tuple:
    names = [c for c, _ in columns]
    if name == _RESULTS:
        return tuple(names.index(k) for k in _KEY)
    return (0,)  # the designs table: keyed by its first column, design_id


def _table(name, columns, rows, source) -> Table:
    index = _key_of(name, columns)
    keyed = {}
    for row in rows:
        key = tuple(row[i] for i in index)
        if key in keyed:
            raise ThalamusError(
                f"{source}: well {' '.join(map(str, key))} appears twice in "
                f"{name}; not a thalamus result"
            )
        keyed[key] = tuple(row)
    return Table(name, tuple(columns), keyed, len(rows))


def read_sqlite(path) -> ResultFile:
    """Read a thalamus SQLite result file (every table)."""
    import sqlite3

    path = Path(path)
    _exists(path)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            _require(_RESULTS in names, path, f"no {_RESULTS} table")
            tables = {}
            for name in names:
                info = db.execute(f'PRAGMA table_info("{name}")').fetchall()
                columns = tuple((r[1], r[2]) for r in info)
                if name == _RESULTS:
                    _require_key(columns, path)
                rows = db.execute(f'SELECT * FROM "{name}"').fetchall()
                tables[name] = _table(name, columns, rows, path)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ThalamusError(f"{path}: cannot read as SQLite ({exc})") from None
    return ResultFile(path, "sqlite", tables, sha256_file(path))


def read_parquet(path) -> ResultFile:
    """Read a thalamus Parquet result file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    _exists(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ThalamusError(f"{path}: cannot read as Parquet ({message})") from None
    columns = tuple((f.name, str(f.type)) for f in table.schema)
    _require_key(columns, path)
    rows = list(zip(*(table.column(n).to_pylist() for n, _ in columns)))
    results = _table(_RESULTS, columns, rows, path)
    return ResultFile(path, "parquet", {_RESULTS: results}, sha256_file(path))


def read_result(path) -> ResultFile:
    """Read a result file, choosing SQLite or Parquet by its first bytes."""
    path = Path(path)
    _exists(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3"):
        return read_sqlite(path)
    if head.startswith(b"PAR1"):
        return read_parquet(path)
    raise ThalamusError(f"{path}: neither SQLite nor Parquet; not a thalamus result")


def _exists(path: Path) -> None:
    if not path.exists():
        raise ThalamusError(f"{path}: no such file or directory")
    if path.is_dir():
        raise ThalamusError(f"{path}: is a directory; give a result file")


def _require(condition, path, problem) -> None:
    if not condition:
        raise ThalamusError(f"{path}: {problem}; not a thalamus result")


def _require_key(columns, path) -> None:
    names = [c for c, _ in columns]
    _require(all(k in names for k in _KEY), path, "no plate_id and well_id columns")


def compare(a, b) -> Comparison:
    """Compare two result files or two run directories.

    Parameters
    ----------
    a, b : path
        Two SQLite files, two Parquet files, or two run directories (then
        both files and the manifests' ``design_id`` are compared).

    Returns
    -------
    Comparison
        ``identical`` is true when the schemas, row counts and every row
        (and, for run directories, the design ids) agree.

    Raises
    ------
    ThalamusError
        When an input is missing, unreadable or not a thalamus result.
    """
    a, b = Path(a), Path(b)
    for path in (a, b):
        if not path.exists():
            raise ThalamusError(f"{path}: no such file or directory")
    if a.is_dir() != b.is_dir():
        raise ThalamusError(
            f"{a} and {b}: compare two files or two run directories, not one of each"
        )
    if a.is_dir():
        return _compare_runs(a, b)
    left, right = read_result(a), read_result(b)
    if left.kind != right.kind:
        raise ThalamusError(
            f"{a} is {left.kind} but {b} is {right.kind}; compare like with like"
        )
    return compare_files(left, right)


def _compare_runs(a: Path, b: Path) -> Comparison:
    ids = [_manifest_design_id(p) for p in (a, b)]
    lines, identical, byte_identical = [], True, True
    if ids[0] == ids[1]:
        lines.append(f"design_id: {ids[0]} in both manifests")
    else:
        identical = False
        lines.append(f"design_id differs: {ids[0]} != {ids[1]}")
    for name in (_PARQUET, _SQLITE):
        result = compare_files(read_result(a / name), read_result(b / name))
        lines.append(f"{name}:")
        lines.extend(f"  {line}" for line in result.lines)
        identical &= result.identical
        byte_identical &= result.byte_identical
    lines.append("runs are identical" if identical else "runs differ")
    return Comparison(identical, byte_identical, lines)


def _manifest_design_id(run: Path) -> str:
    path = run / _MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ThalamusError(
            f"{path}: no manifest; not a thalamus run directory"
        ) from None
    except (OSError, ValueError) as exc:
        raise ThalamusError(f"{path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or "design_id" not in manifest:
        raise ThalamusError(f"{path}: no design_id; not a thalamus manifest")
    return str(manifest["design_id"])


def compare_files(left: ResultFile, right: ResultFile) -> Comparison:
    """Compare two result files already read (see :func:`compare`)."""
    lines = []
    schema_lines = _schema_differences(left, right)
    if schema_lines:
        lines.append("schema differs:")
        lines.extend(f"  {line}" for line in schema_lines)
    else:
        lines.append(f"schema: identical ({len(left.tables)} table(s))")
    counts_same = True
    for name in sorted(set(left.tables) & set(right.tables)):
        n_left, n_right = left.tables[name].n_rows, right.tables[name].n_rows
        if n_left != n_right:
            counts_same = False
            lines.append(f"row count of {name} differs: {n_left} != {n_right}")
    if counts_same:
        counts = ", ".join(f"{n} {t.n_rows}" for n, t in sorted(left.tables.items()))
        lines.append(f"row counts: identical ({counts})")
    rows_same = not schema_lines
    if not schema_lines:
        for name in sorted(left.tables):
            same, row_lines = _compare_rows(left.tables[name], right.tables[name])
            rows_same &= same
            lines.extend(row_lines)
    byte_identical = left.sha256 == right.sha256
    if byte_identical:
        lines.append(f"bytes: identical (sha256 {left.sha256})")
    else:
        lines.append(f"bytes: differ (sha256 {left.sha256} != {right.sha256})")
    identical = not schema_lines and counts_same and rows_same
    return Comparison(identical, byte_identical, lines)


def _schema_differences(left: ResultFile, right: ResultFile) -> list:
    out = []
    for name in sorted(set(left.tables) | set(right.tables)):
        if name not in right.tables:
            out.append(f"table {name} only in {left.path}")
        elif name not in left.tables:
            out.append(f"table {name} only in {right.path}")
        else:
            a, b = dict(left.tables[name].columns), dict(right.tables[name].columns)
            for column in [*a, *(c for c in b if c not in a)]:
                if a.get(column) != b.get(column):
                    out.append(
                        f"{name}.{column}: {a.get(column, 'missing')} != "
                        f"{b.get(column, 'missing')}"
                    )
            if not out and list(a) != list(b):
                out.append(f"{name}: columns in another order")
    return out


def _compare_rows(left: Table, right: Table) -> tuple[bool, list]:
    """Order-independent row comparison; the lines say what differs."""
    names = [c for c, _ in left.columns]
    only_left = [k for k in left.rows if k not in right.rows]
    only_right = [k for k in right.rows if k not in left.rows]
    differing = [
        key
        for key in sorted(k for k in left.rows if k in right.rows)
        if row_digest(left.rows[key]) != row_digest(right.rows[key])
    ]
    if not (only_left or only_right or differing):
        return True, [f"rows of {left.name}: identical ({left.n_rows} by key)"]

    lines = [
        f"rows of {left.name} differ: {len(differing)} changed, "
        f"{len(only_left)} only in first, {len(only_right)} only in second"
    ]
    for key in sorted(only_left)[:SHOW_WELLS]:
        lines.append(f"  {_name(key)}: only in first")
    for key in sorted(only_right)[:SHOW_WELLS]:
        lines.append(f"  {_name(key)}: only in second")
    for key in differing[:SHOW_WELLS]:
        a, b = left.rows[key], right.rows[key]
        parts = [
            f"{n} {a[i]!r} != {b[i]!r}"
            for i, n in enumerate(names)
            if encode_value(a[i]) != encode_value(b[i])
        ]
        lines.append(f"  {_name(key)}: " + "; ".join(parts))
    if len(differing) > SHOW_WELLS:
        lines.append(f"  ... and {len(differing) - SHOW_WELLS} more")

    maxima, other_columns = _max_differences(left, right, differing)
    for column, value in maxima.items():
        lines.append(f"  max |difference| of {column}: {value:.3g}")
    noise = (
        not (only_left or only_right or other_columns)
        and maxima
        and max(maxima.values()) < NOISE_TOLERANCE
    )
    if noise:
        lines.append(
            f"  every difference is below {NOISE_TOLERANCE:g}: this looks like "
            "floating-point noise (BLAS threading, or another NumPy or platform); "
            "pin OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"
        )
    return False, lines


def _max_differences(left: Table, right: Table, keys) -> tuple[dict, set]:
    """Max absolute difference per numeric column; the non-numeric that differ."""
    maxima, other = {}, set()
    for i, name in enumerate(c for c, _ in left.columns):
        for key in keys:
            a, b = left.rows[key][i], right.rows[key][i]
            if encode_value(a) == encode_value(b):
                continue
            if _numeric(a) and _numeric(b):
                gap = abs(float(a) - float(b))
                gap = 0.0 if math.isnan(a) and math.isnan(b) else gap
                gap = math.inf if math.isnan(gap) else gap
                maxima[name] = max(maxima.get(name, 0.0), gap)
            else:
                other.add(name)
    return maxima, other


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _name(key: tuple) -> str:
    return " ".join(str(k) for k in key)
