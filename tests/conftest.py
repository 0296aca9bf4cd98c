"""Shared fixtures: small specs and designs built in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from thalamus.design import build_design
from thalamus.model.parameters import NO_VARIABILITY
from thalamus.spec import spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = ROOT / "campaigns"

#: The ten compounds of the full campaign, in its order.
PHASE0 = [
    "tBHQ", "H2O2", "tunicamycin", "thapsigargin", "CCCP",
    "oligomycin", "etoposide", "MG132", "nocodazole", "paclitaxel",
]  # fmt: skip


def make_spec(**changes):
    """A small valid spec (benchmark-like) with ``changes`` applied.

    A change whose value is None removes that key.
    """
    data = {
        "name": "unit",
        "seed": 0,
        "plate_format": 96,
        "cell_lines": ["A549", "HepG2"],
        "compounds": ["tBHQ", "tunicamycin", "CCCP", "etoposide"],
        "dose_levels": [0, 0.1, 1, 10],
        "timepoints_h": [12],
        "days": [1],
        "operators": ["A"],
        "replicates": 1,
    }
    data.update(changes)
    data = {key: value for key, value in data.items() if value is not None}
    return spec_from_dict(data, "unit.yaml")


def make_design(**changes):
    return build_design(make_spec(**changes))


@pytest.fixture
def quiet_model():
    """Spec ``model`` overrides that switch every source of randomness off."""
    return dict(NO_VARIABILITY)


@pytest.fixture(scope="session")
def benchmark_run(tmp_path_factory):
    """The benchmark campaign, seed 0, run once for every test that reads it.

    Tests must not modify the files in it (copy them to change them).
    """
    from thalamus.runner import run_campaign

    out = tmp_path_factory.mktemp("bench")
    run_campaign(CAMPAIGNS / "benchmark.yaml", out=out, scheduler="synchronous")
    return out
