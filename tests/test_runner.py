"""End-to-end runs: files, sorting, determinism across groupings and schedulers."""

import hashlib
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.conftest import CAMPAIGNS, PHASE0, ROOT, make_spec
from thalamus import schema
from thalamus.cli import main
from thalamus.design import build_design
from thalamus.errors import ThalamusError
from thalamus.runner import run_campaign
from thalamus.simulate import simulate_range, simulate_well_reference


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(spec, out, **options):
    options.setdefault("scheduler", "synchronous")
    return run_campaign(spec, out=out, **options)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return run(CAMPAIGNS / "full.yaml", out)


def test_full_campaign_counts_and_spot_check(full_run):
    table = pq.read_table(full_run.parquet)
    assert table.num_rows == 2304
    frame = table.to_pandas()
    assert frame.is_sentinel.sum() == 384 and (~frame.is_sentinel).sum() == 1920
    assert frame.plate_id.nunique() == 48
    assert not frame.duplicated(["plate_id", "well_id"]).any()
    assert frame.groupby("plate_id", observed=True).cell_line.nunique().max() == 1
    with sqlite3.connect(full_run.sqlite) as db:
        rows = db.execute(
            "SELECT well_id, compound, dose_uM, viability, death_compound, "
            "death_unknown FROM thalamus_results LIMIT 10"
        ).fetchall()
        (count,) = db.execute("SELECT COUNT(*) FROM thalamus_results").fetchone()
        design = db.execute(
            "SELECT design_id, n_wells FROM thalamus_designs"
        ).fetchall()
    assert count == 2304 and len(rows) == 10
    assert rows[0][:3] == ("A01", "DMSO", 0.0)
    assert rows[0][3] == pytest.approx(0.98) and rows[0][5] == pytest.approx(0.02)
    assert design == [(frame.design_id.iloc[0], 2304)]


def test_sqlite_mirror_equals_parquet(full_run):
    parquet = pq.read_table(full_run.parquet).to_pandas()
    with sqlite3.connect(full_run.sqlite) as db:
        mirror = pd.read_sql_query("SELECT * FROM thalamus_results", db)
    assert list(mirror.columns) == list(schema.COLUMN_NAMES)
    for name, kind in schema.RESULT_COLUMNS:
        left, right = parquet[name], mirror[name]
        if kind == "float":
            np.testing.assert_array_equal(left.to_numpy(), right.to_numpy(float))
        elif kind == "bool":
            np.testing.assert_array_equal(left.to_numpy(), right.to_numpy() == 1)
        else:
            as_list = [None if pd.isna(v) else v for v in left.astype(object)]
            assert as_list == [None if pd.isna(v) else v for v in right]


def test_rows_are_sorted_by_plate_then_position(full_run):
    frame = pq.read_table(full_run.parquet).to_pandas()
    plate_key = list(
        zip(
            frame.day,
            frame.operator.astype(str),
            frame.replicate,
            frame.timepoint_h,
            frame.cell_line.astype(str),
        )
    )
    wells = frame.well_id.astype(str)
    position = list(zip(wells.str[0], wells.str[1:].astype(int)))
    keys = [p + w for p, w in zip(plate_key, position)]
    assert keys == sorted(keys)


def test_manifest_records_digests_and_no_clock_in_results(full_run):
    manifest = json.loads(full_run.manifest.read_text())
    assert manifest["rows"] == 2304 and manifest["seed"] == 0
    files = manifest["files"]
    assert files[schema.PARQUET_NAME]["sha256"] == digest(full_run.parquet)
    assert files[schema.SQLITE_NAME]["sha256"] == digest(full_run.sqlite)
    assert "host" in manifest and "finished_at_utc" in manifest
    metadata = pq.read_metadata(full_run.parquet).metadata or {}
    text = b" ".join(metadata.values()) if metadata else b""
    assert manifest["host"].encode() not in text


def test_two_runs_are_byte_identical(full_run, tmp_path):
    again = run(CAMPAIGNS / "full.yaml", tmp_path / "again")
    assert digest(again.parquet) == digest(full_run.parquet)
    assert digest(again.sqlite) == digest(full_run.sqlite)


@pytest.mark.parametrize("wells_per_task", [1, 5, 48, 1000])
def test_grouping_never_changes_the_bytes(tmp_path, wells_per_task):
    reference = run(CAMPAIGNS / "benchmark.yaml", tmp_path / "ref")
    grouped = run(
        CAMPAIGNS / "benchmark.yaml",
        tmp_path / "grouped",
        wells_per_task=wells_per_task,
    )
    assert digest(grouped.parquet) == digest(reference.parquet)
    assert digest(grouped.sqlite) == digest(reference.sqlite)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("scheduler", "workers"), [("threads", 2), ("processes", 2), ("local", 2)]
)
def test_schedulers_give_the_same_bytes(tmp_path, scheduler, workers):
    reference = run(CAMPAIGNS / "benchmark.yaml", tmp_path / "ref")
    other = run(
        CAMPAIGNS / "benchmark.yaml",
        tmp_path / scheduler,
        scheduler=scheduler,
        workers=workers,
        dashboard_address="127.0.0.1:0",
    )
    assert digest(other.parquet) == digest(reference.parquet)
    assert digest(other.sqlite) == digest(reference.sqlite)


def test_batched_equals_per_well_path_on_every_compound_and_line():
    from thalamus.model.parameters import ALL_COMPOUNDS, CELL_LINES

    spec = make_spec(
        plate_format=384,
        cell_lines=list(CELL_LINES),
        compounds=list(ALL_COMPOUNDS),
        dose_levels=[0, 0.1, 1, 10],
        timepoints_h=[12, 48],
        model={"failure_rate": 0.2},
    )
    design = build_design(spec)
    batched = simulate_range(design, 0, design.n_wells)
    for index in range(design.n_wells):
        alone = simulate_well_reference(design, index)
        for name, values in alone.items():
            assert batched[name][index].tobytes() == values[0].tobytes(), (index, name)
    assert (batched["failure_mode"] >= 0).sum() > 20  # failed wells covered too


def test_dropping_a_compound_leaves_every_other_well_unchanged(tmp_path):
    whole = run(make_spec(compounds=PHASE0, replicates=2), tmp_path / "whole")
    fewer = run(make_spec(compounds=PHASE0[:-1], replicates=2), tmp_path / "fewer")
    a = pq.read_table(whole.parquet).to_pandas()
    b = pq.read_table(fewer.parquet).to_pandas()
    a = a[a.compound != "paclitaxel"].reset_index(drop=True)
    assert len(a) == len(b) > 0
    columns = [c for c in schema.COLUMN_NAMES if c != "design_id"]
    for name in columns:
        pd.testing.assert_series_equal(a[name], b[name], check_categorical=False)
    floats = [n for n, kind in schema.RESULT_COLUMNS if kind == "float"]
    assert a[floats].to_numpy().tobytes() == b[floats].to_numpy().tobytes()
    # design_id names the campaign, so it must differ.
    assert a.design_id.iloc[0] != b.design_id.iloc[0]


def test_seed_changes_results_and_batch_effects(tmp_path):
    zero = pq.read_table(run(make_spec(seed=0), tmp_path / "s0").parquet).to_pandas()
    one = pq.read_table(run(make_spec(seed=1), tmp_path / "s1").parquet).to_pandas()
    assert not np.any(zero.morph_er.to_numpy() == one.morph_er.to_numpy())
    # Vehicle wells: identical physics, so their morphology ratio between
    # seeds is a pure technical-factor ratio; it must not be 1 (shared batch).
    vehicle = zero.dose_uM == 0.0
    assert np.all(zero.viability[vehicle] == one.viability[vehicle])
    ratio = zero.morph_er[vehicle] / one.morph_er[vehicle]
    assert np.all(np.abs(ratio - 1.0) > 1e-6)


def test_existing_output_is_refused_and_left_unchanged(tmp_path):
    first = run(CAMPAIGNS / "demo.yaml", tmp_path)
    before = digest(first.parquet)
    with pytest.raises(ThalamusError, match="already exists; pass --overwrite"):
        run(CAMPAIGNS / "demo.yaml", tmp_path)
    assert digest(first.parquet) == before
    run(CAMPAIGNS / "demo.yaml", tmp_path, overwrite=True)
    assert digest(first.parquet) == before


def test_cli_run_prints_banner_and_summary(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main,
        [
            "campaign",
            "run",
            str(CAMPAIGNS / "demo.yaml"),
            "--scheduler",
            "synchronous",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "campaign demo" in result.output and "seed 0" in result.output
    assert "numpy" in result.output and "BLAS threads" in result.output
    assert "done: 4 wells on 1 plate in" in result.output
    assert (out / schema.PARQUET_NAME).exists() and (out / schema.SQLITE_NAME).exists()
    assert not (out / ".staging").exists()


def test_db_path_option_moves_the_sqlite_file(tmp_path):
    db = tmp_path / "elsewhere" / "mirror.db"
    result = run(CAMPAIGNS / "demo.yaml", tmp_path / "out", db_path=db)
    assert result.sqlite == db and db.exists()
    assert not (tmp_path / "out" / schema.SQLITE_NAME).exists()


def test_console_script_runs_in_a_subprocess(tmp_path):
    exe = ROOT / ".venv" / "bin" / "thalamus"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "thalamus.cli"]
    done = subprocess.run(
        [
            *command,
            "campaign",
            "run",
            str(CAMPAIGNS / "demo.yaml"),
            "--scheduler",
            "synchronous",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "o" / schema.PARQUET_NAME).num_rows == 4


def test_a_failing_sqlite_write_leaves_no_file_under_a_final_name(
    tmp_path, monkeypatch
):
    from thalamus import writers

    def disk_full(db, table):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "_insert_rows", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run(CAMPAIGNS / "benchmark.yaml", tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert schema.PARQUET_NAME not in left and schema.SQLITE_NAME not in left
    assert schema.MANIFEST_NAME not in left
    assert not [name for name in left if name.endswith(".tmp")]


def test_task_keys_differ_between_seeds_so_a_shared_scheduler_never_mixes_them():
    from thalamus import scheduling

    keys = []
    for seed in (0, 1):
        design = build_design(make_spec(seed=seed))
        ranges = scheduling.task_ranges(design, None)
        keys.append({t.key for t in scheduling.build_graph(design, ranges)})
    assert keys[0] and keys[1] and not keys[0] & keys[1]


@pytest.mark.parametrize("target", ["manifest.json", schema.PARQUET_NAME])
def test_db_path_may_not_overwrite_another_output(tmp_path, target):
    with pytest.raises(ThalamusError, match="give the SQLite mirror a path"):
        run(CAMPAIGNS / "demo.yaml", tmp_path / "o", db_path=tmp_path / "o" / target)
    assert not (tmp_path / "o").exists()


def test_refused_run_removes_the_folders_it_created(tmp_path):
    with pytest.raises(ThalamusError, match="is not known"):
        run(CAMPAIGNS / "demo.yaml", tmp_path / "a" / "b", scheduler="bogus")
    missing = tmp_path / "nope.json"
    with pytest.raises(ThalamusError, match="no such file"):
        run(CAMPAIGNS / "demo.yaml", tmp_path / "c" / "d", scheduler_file=missing)
    with pytest.raises(ThalamusError, match="is a file, not a directory"):
        (tmp_path / "afile").write_text("x")
        run(
            CAMPAIGNS / "demo.yaml", tmp_path / "e", db_path=tmp_path / "afile" / "x.db"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.timeout(60)
def test_an_error_while_finishing_sqlite_is_raised_not_hung(tmp_path, monkeypatch):
    from thalamus import writers

    def broken(db, design):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "_finish_sqlite", broken)
    with pytest.raises(OSError, match="No space left"):
        run(CAMPAIGNS / "demo.yaml", tmp_path)
    assert not (tmp_path / schema.SQLITE_NAME).exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_db_path_inside_staging_is_refused(tmp_path):
    with pytest.raises(ThalamusError, match="inside the staging folder"):
        run(
            CAMPAIGNS / "demo.yaml",
            tmp_path / "o",
            db_path=tmp_path / "o/.staging/x.db",
        )


def test_overwrite_replaces_only_earlier_results(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text((CAMPAIGNS / "demo.yaml").read_text())
    before = spec.read_bytes()
    with pytest.raises(ThalamusError, match="is not a thalamus result"):
        run(spec, tmp_path / "o", db_path=spec, overwrite=True)
    assert spec.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("dashboard_address", "bogus", "give host:port"),
        ("dashboard_address", "127.0.0.1:99999", "give host:port"),
        ("workers", 100_000, "more than 4 per core"),
    ],
)
def test_bad_local_cluster_options_are_refused_up_front(
    tmp_path, option, value, message
):
    with pytest.raises(ThalamusError, match=message):
        run(
            CAMPAIGNS / "demo.yaml",
            tmp_path / "o",
            scheduler="local",
            **{option: value},
        )
    assert not (tmp_path / "o").exists()


def test_a_shared_db_path_is_locked(tmp_path):
    from thalamus import writers

    shared = tmp_path / "shared"
    shared.mkdir()
    with writers.output_lock(shared, "mirror.db"):
        with pytest.raises(ThalamusError, match="another thalamus run"):
            run(CAMPAIGNS / "demo.yaml", tmp_path / "b", db_path=shared / "mirror.db")
    result = run(CAMPAIGNS / "demo.yaml", tmp_path / "c", db_path=shared / "mirror.db")
    assert result.sqlite.exists()
    assert sorted(p.name for p in shared.iterdir()) == ["mirror.db"]
    assert not (result.out_dir / writers.LOCK_NAME).exists()


def test_names_longer_than_the_file_system_allows_are_input_errors(tmp_path):
    long = "x" * 300
    with pytest.raises(ThalamusError, match="choose another --out"):
        run(CAMPAIGNS / "demo.yaml", tmp_path / "a" / long)
    with pytest.raises(ThalamusError, match="unusable output path"):
        run(CAMPAIGNS / "demo.yaml", tmp_path / "b", db_path=tmp_path / f"{long}.db")
    assert list(tmp_path.iterdir()) == []
