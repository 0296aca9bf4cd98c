"""``thalamus export --format profiles``: read back and held to the results."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from thalamus.cli import main
from thalamus.errors import ThalamusError
from thalamus.export import PROFILES_NAME, export
from thalamus.results import load

FEATURES = {
    "Cells_Intensity_MeanIntensity_DNA": "morph_nucleus",
    "Cells_Intensity_MeanIntensity_AGP": "morph_actin",
    "Cells_Intensity_MeanIntensity_ER": "morph_er",
    "Cells_Intensity_MeanIntensity_Mito": "morph_mito",
    "Cells_Intensity_MeanIntensity_RNA": "morph_rna",
}


@pytest.fixture(scope="module")
def profiles(benchmark_run):
    result = CliRunner().invoke(
        main, ["export", str(benchmark_run), "--format", "profiles"]
    )
    assert result.exit_code == 0, result.output
    path = benchmark_run / PROFILES_NAME
    assert result.output == f"exported profiles: {path}\n"
    return pq.read_table(path).to_pandas()


def test_column_names_follow_profiling_conventions(profiles):
    metadata = [c for c in profiles.columns if c.startswith("Metadata_")]
    # Feature inference by compartment prefix (pycytominer's default) finds
    # exactly the five stains and nothing else.
    features = [
        c for c in profiles.columns if c.startswith(("Cells", "Nuclei", "Cytoplasm"))
    ]
    assert sorted(features) == sorted(FEATURES)
    assert len(metadata) + len(features) == len(profiles.columns)
    assert metadata[:2] == ["Metadata_Plate", "Metadata_Well"]
    assert set(metadata) >= {
        "Metadata_cell_line", "Metadata_compound", "Metadata_dose_uM",
        "Metadata_timepoint_h", "Metadata_day", "Metadata_operator",
        "Metadata_is_sentinel", "Metadata_pert_type",
    }  # fmt: skip
    assert all(
        re.fullmatch(r"[A-H](0[1-9]|1[0-2])", w) for w in profiles["Metadata_Well"]
    )


def test_values_match_the_results(benchmark_run, profiles):
    df = load(benchmark_run)
    assert len(profiles) == len(df) == 48
    assert profiles["Metadata_Plate"].tolist() == df["plate_id"].astype(str).tolist()
    assert profiles["Metadata_Well"].tolist() == df["well_id"].astype(str).tolist()
    assert profiles["Metadata_compound"].tolist() == df["compound"].astype(str).tolist()
    np.testing.assert_array_equal(profiles["Metadata_dose_uM"], df["dose_uM"])
    np.testing.assert_array_equal(profiles["Metadata_day"], df["day"])
    for feature, column in FEATURES.items():
        np.testing.assert_array_equal(profiles[feature], df[column])
    failed = df["failure_mode"].notna().to_numpy()
    assert profiles["Metadata_failure_mode"].notna().tolist() == failed.tolist()


def test_pert_types(profiles):
    # Per plate: 4 DMSO sentinels and 4 vehicle wells (one per compound) are
    # negative controls, 4 tBHQ/tunicamycin sentinels positive, 12 treated.
    counts = profiles["Metadata_pert_type"].value_counts().to_dict()
    assert counts == {"negcon": 16, "poscon": 8, "trt": 24}
    a01 = profiles[profiles["Metadata_Well"] == "A01"]
    assert set(a01["Metadata_pert_type"]) == {"negcon"}
    d06 = profiles[profiles["Metadata_Well"] == "D06"]
    assert set(d06["Metadata_pert_type"]) == {"poscon"}


def test_export_to_a_chosen_file_and_bad_format(benchmark_run, tmp_path):
    path = export(benchmark_run, out=tmp_path / "p" / "profiles.parquet")
    assert path.is_file() and pq.read_metadata(path).num_rows == 48
    with pytest.raises(ThalamusError, match="choose one of: profiles"):
        export(benchmark_run, "csv")
    result = CliRunner().invoke(main, ["export", str(benchmark_run), "--format", "csv"])
    assert result.exit_code == 2


def test_export_never_writes_over_the_runs_results(benchmark_run):
    results = benchmark_run / "cell_thalamus_results.parquet"
    before = results.read_bytes()
    result = CliRunner().invoke(
        main, ["export", str(benchmark_run), "--out", str(results)]
    )
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert results.read_bytes() == before
