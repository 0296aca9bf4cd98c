"""thalamus compare: schema, counts, rows by well, bytes; exit 0, 1 or 2."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from thalamus import schema
from thalamus.cli import main
from thalamus.compare import compare, encode_value, row_digest
from thalamus.runner import run_campaign

CAMPAIGNS = Path(__file__).resolve().parent.parent / "campaigns"
WELL = ("A549-D1-A-R1-T12h", "B03")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "run"
    run_campaign(CAMPAIGNS / "benchmark.yaml", out=out, scheduler="synchronous")
    return out


@pytest.fixture
def twin(run_dir, tmp_path):
    """A byte-for-byte copy of the run directory, free to corrupt."""
    return shutil.copytree(run_dir, tmp_path / "twin")


def cli(*args):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


def sql(path, statement, *params):
    db = sqlite3.connect(path)
    db.execute(statement, params)
    db.commit()
    db.close()


def sqlite_value(path, column, well=WELL):
    db = sqlite3.connect(path)
    query = f"SELECT {column} FROM thalamus_results WHERE plate_id=? AND well_id=?"
    (value,) = db.execute(query, well).fetchone()
    db.close()
    return value


def test_encoding_is_typed():
    assert encode_value(None) == b"N"
    assert encode_value(0) != encode_value(0.0) != encode_value("") != b"N"
    assert encode_value(0.1)[1:] == struct.pack("<d", 0.1)
    assert encode_value(0.1) != encode_value(0.1 + 2**-56)
    assert encode_value("é") == b"S\x02\x00\x00\x00\xc3\xa9"
    assert encode_value(True) != encode_value(1)
    # a null and an empty string in a row must not hash alike
    assert row_digest(["a", None]) != row_digest(["a", ""])


def test_identical_runs_exit_0(run_dir, twin):
    result = cli(run_dir, twin)
    assert result.exit_code == 0, result.output
    assert "design_id: " in result.output
    assert "rows of thalamus_results: identical (48 by key)" in result.output
    assert result.output.count("bytes: identical") == 2
    assert result.output.rstrip().endswith("IDENTICAL")


def test_corrupted_sqlite_row_exits_1_naming_the_well(run_dir, twin):
    db = twin / schema.SQLITE_NAME
    before = sqlite_value(db, "viability")
    sql(
        db,
        "UPDATE thalamus_results SET viability = 0.5 WHERE well_id = 'B03' "
        "AND plate_id = 'A549-D1-A-R1-T12h'",
    )
    result = cli(run_dir / schema.SQLITE_NAME, db)
    assert result.exit_code == 1
    assert f"A549-D1-A-R1-T12h B03: viability {before!r} != 0.5" in result.output
    assert "1 changed, 0 only in first, 0 only in second" in result.output
    assert f"max |difference| of viability: {abs(before - 0.5):.3g}" in result.output
    assert "floating-point noise" not in result.output
    assert "bytes: differ" in result.output


def test_corrupted_parquet_row_exits_1(run_dir, twin):
    path = twin / schema.PARQUET_NAME
    table = pq.read_table(path)
    frame = table.to_pandas()
    row = frame.index[(frame.plate_id == WELL[0]) & (frame.well_id == WELL[1])][0]
    old = float(frame.loc[row, "ldh_signal"])
    frame.loc[row, "ldh_signal"] = old + 250.0
    frame.loc[row, "death_mode"] = "mixed"
    pq.write_table(
        pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), path
    )
    result = cli(run_dir / schema.PARQUET_NAME, path)
    assert result.exit_code == 1
    assert "A549-D1-A-R1-T12h B03: death_mode '" in result.output
    assert f"ldh_signal {old!r} != {old + 250.0!r}" in result.output
    assert "max |difference| of ldh_signal: 250" in result.output


def test_reordered_rows_are_identical_but_not_byte_identical(run_dir, tmp_path):
    table = pq.read_table(run_dir / schema.PARQUET_NAME)
    reversed_path = tmp_path / "reversed.parquet"
    pq.write_table(table.take(list(range(table.num_rows))[::-1]), reversed_path)
    result = cli(run_dir / schema.PARQUET_NAME, reversed_path)
    assert result.exit_code == 0, result.output
    assert "rows of thalamus_results: identical" in result.output
    assert "bytes: differ" in result.output


def test_tiny_differences_are_called_noise(run_dir, twin):
    db = twin / schema.SQLITE_NAME
    sql(db, "UPDATE thalamus_results SET morph_er = morph_er + 3e-9")
    result = cli(run_dir / schema.SQLITE_NAME, db)
    assert result.exit_code == 1
    assert "48 changed" in result.output
    assert "floating-point noise" in result.output
    assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" in result.output
    # only the first five wells are listed
    assert result.output.count(": morph_er ") == 5
    assert "... and 43 more" in result.output


def test_missing_well_changes_count_and_is_named(run_dir, twin):
    db = twin / schema.SQLITE_NAME
    sql(db, "DELETE FROM thalamus_results WHERE plate_id=? AND well_id=?", *WELL)
    result = cli(run_dir / schema.SQLITE_NAME, db)
    assert result.exit_code == 1
    assert "row count of thalamus_results differs: 48 != 47" in result.output
    assert "A549-D1-A-R1-T12h B03: only in first" in result.output


def test_schema_difference(run_dir, twin):
    db = twin / schema.SQLITE_NAME
    sql(db, "ALTER TABLE thalamus_results ADD COLUMN extra REAL")
    result = cli(run_dir / schema.SQLITE_NAME, db)
    assert result.exit_code == 1
    assert "thalamus_results.extra: missing != REAL" in result.output


def test_run_directories_compare_design_ids(run_dir, twin):
    manifest = json.loads((twin / schema.MANIFEST_NAME).read_text())
    manifest_id = manifest["design_id"]
    manifest["design_id"] = "0" * 16
    (twin / schema.MANIFEST_NAME).write_text(json.dumps(manifest))
    result = compare(run_dir, twin)
    assert not result.identical and result.byte_identical
    assert f"design_id differs: {manifest_id} != {'0' * 16}" in result.report()
    assert "runs differ" in result.report()


def test_unusable_inputs_exit_2_with_one_line(run_dir, twin, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    other = tmp_path / "other.db"
    sql(other, "CREATE TABLE t (x)")
    (twin / schema.MANIFEST_NAME).unlink()
    cases = {
        (run_dir / schema.SQLITE_NAME, tmp_path / "missing.db"): "no such file",
        (junk, run_dir / schema.SQLITE_NAME): "neither SQLite nor Parquet",
        (other, run_dir / schema.SQLITE_NAME): "no thalamus_results table",
        (run_dir / schema.SQLITE_NAME, run_dir / schema.PARQUET_NAME): "like with",
        (run_dir, run_dir / schema.SQLITE_NAME): "not one of each",
        (run_dir, twin): "no manifest",
    }
    for (a, b), reason in cases.items():
        result = cli(a, b)
        assert result.exit_code == 2, (a, b, result.output)
        assert result.output.startswith("Error: ") and reason in result.output
        assert result.output.count("\n") == 1


def test_compare_in_a_real_process(run_dir, twin):
    db = twin / schema.SQLITE_NAME
    sql(db, "UPDATE thalamus_results SET compound = 'CCCP' WHERE well_id = 'A01'")
    done = subprocess.run(
        [sys.executable, "-m", "thalamus.cli", "compare", run_dir, twin],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "A549-D1-A-R1-T12h A01: compound 'DMSO' != 'CCCP'" in done.stdout
    assert done.stdout.rstrip().endswith("DIFFERENT")
