"""Golden results: the demo and benchmark outputs for seed 0 must not drift."""

from __future__ import annotations

import copy
import math
import shutil
import sqlite3

import pytest

from thalamus import golden
from thalamus.model.parameters import MODEL_VERSION


@pytest.fixture(scope="module")
def now(tmp_path_factory):
    return golden.digests(tmp_path_factory.mktemp("golden"))


def test_outputs_match_the_goldens(now):
    stored = golden.load()
    if stored["model_version"] != MODEL_VERSION:
        pytest.fail(
            f"goldens are for model {stored['model_version']}, the model is "
            f"{MODEL_VERSION}: run {golden.REFRESH_COMMAND} and commit the result"
        )
    assert golden.differences(stored, now) == []
    assert stored["campaigns"]["demo"]["rows"] == 4
    assert stored["campaigns"]["benchmark"]["rows"] == 48


def test_a_changed_row_digest_is_reported(now):
    stored = copy.deepcopy(now)
    stored["campaigns"]["benchmark"]["rows_sha256"] = "0" * 64
    (line,) = golden.differences(stored, now)
    assert line.startswith("benchmark: rows_sha256 changed while model version")
    assert golden.REFRESH_COMMAND in line


def test_file_digests_count_only_with_the_same_writers(now):
    stored = copy.deepcopy(now)
    stored["campaigns"]["demo"]["files_sha256"]["cell_thalamus_results.db"] = "x"
    assert len(golden.differences(stored, now)) == 1
    stored["writers"] = {"pyarrow": "0.0", "sqlite": "0.0"}
    assert golden.differences(stored, now) == []


def test_a_new_model_version_asks_for_a_refresh(now):
    stored = dict(copy.deepcopy(now), model_version="0.0.0-old")
    (line,) = golden.differences(stored, now)
    assert "refresh them: python -m thalamus.golden --refresh" in line


def test_row_digest_sees_one_ulp(tmp_path):
    out = golden.digests(tmp_path)["campaigns"]["demo"]
    db = tmp_path / "demo" / "cell_thalamus_results.db"
    assert out["rows"] == 4
    copy_path = shutil.copy(db, tmp_path / "copy.db")
    before = golden.rows_digest(copy_path)
    con = sqlite3.connect(copy_path)
    (value,) = con.execute(
        "SELECT viability FROM thalamus_results WHERE well_id = 'A02'"
    ).fetchone()
    con.execute(
        "UPDATE thalamus_results SET viability = ? WHERE well_id = 'A02'",
        (math.nextafter(value, 1.0),),
    )
    con.commit()
    con.close()
    assert golden.rows_digest(copy_path) != before
