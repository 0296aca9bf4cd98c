"""thalamus.load: the results table as a DataFrame, checked against SQLite."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

import thalamus
from thalamus import schema
from thalamus.errors import ThalamusError

NAME_COLUMNS = (
    "design_id", "plate_id", "well_id", "cell_line", "compound", "operator",
    "death_mode", "failure_mode",
)  # fmt: skip


def test_load_matches_sqlite_mirror(benchmark_run):
    df = thalamus.load(benchmark_run)
    with sqlite3.connect(benchmark_run / schema.SQLITE_NAME) as db:
        ref = pd.read_sql(f"SELECT * FROM {schema.RESULTS_TABLE}", db)
    assert len(df) == len(ref) == 48
    assert list(df.columns) == list(schema.COLUMN_NAMES)
    for name in ("viability", "dose_uM", "morph_er", "ldh_signal"):
        np.testing.assert_array_equal(df[name].to_numpy(), ref[name].to_numpy())
    assert df["compound"].astype(str).tolist() == ref["compound"].tolist()
    assert df["is_sentinel"].tolist() == ref["is_sentinel"].astype(bool).tolist()


def test_names_are_categoricals_of_present_values(benchmark_run):
    df = thalamus.load(benchmark_run)
    for name in NAME_COLUMNS:
        assert isinstance(df[name].dtype, pd.CategoricalDtype), name
    # The file's dictionary lists all 16 compounds; only the used ones remain.
    assert set(df["compound"].cat.categories) == {
        "tBHQ", "tunicamycin", "CCCP", "etoposide", "DMSO",
    }  # fmt: skip
    assert list(df["cell_line"].cat.categories) == ["A549", "HepG2"]
    assert df["dose_uM"].dtype == np.float64


def test_manifest_in_attrs(benchmark_run):
    df = thalamus.load(benchmark_run)
    manifest = json.loads((benchmark_run / schema.MANIFEST_NAME).read_text())
    assert df.attrs == manifest
    assert df.attrs["seed"] == 0
    assert df.attrs["design_id"] == df["design_id"].iloc[0]


def test_load_refuses_a_directory_without_results(tmp_path):
    with pytest.raises(ThalamusError, match="holds no cell_thalamus_results.parquet"):
        thalamus.load(tmp_path)


def test_a_truncated_parquet_is_a_one_line_error(benchmark_run, tmp_path):
    from click.testing import CliRunner

    from thalamus.cli import main

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    data = (benchmark_run / "cell_thalamus_results.parquet").read_bytes()
    (damaged / "cell_thalamus_results.parquet").write_bytes(data[: len(data) // 2])
    for command in (["report", str(damaged)], ["export", str(damaged)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and "not a readable Parquet" in (
            result.output
        )
        assert len(result.output.strip().splitlines()) == 1
