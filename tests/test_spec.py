"""Spec validation: every refusal is one line naming file, key and fix."""

import math

import pytest
from click.testing import CliRunner

from tests.conftest import CAMPAIGNS, make_spec
from thalamus.cli import main
from thalamus.errors import SpecError
from thalamus.spec import load_spec


def refused(match, **changes):
    with pytest.raises(SpecError, match=match) as info:
        make_spec(**changes)
    message = str(info.value)
    assert "\n" not in message and message.startswith("unit.yaml: ")
    return message


def test_standard_campaigns_load():
    for name, wells in (("demo", 4), ("benchmark", 48), ("full", 2304)):
        spec = load_spec(CAMPAIGNS / f"{name}.yaml")
        assert spec.name == name and spec.seed == 0
        from thalamus.design import build_design

        assert build_design(spec).n_wells == wells


def test_unknown_key_gets_a_close_match_hint():
    message = refused("unknown key", replicats=3)
    assert "'replicats'" in message and "did you mean 'replicates'" in message


def test_unknown_compound_lists_the_valid_ones():
    message = refused("unknown compound", compounds=["tBHQ", "tunicamycine"])
    assert "compounds[1]" in message and "did you mean 'tunicamycin'" in message
    assert "paclitaxel" in message and "DMSO" in message


def test_unknown_cell_line_lists_the_valid_ones():
    message = refused("unknown cell line", cell_lines=["A459"])
    assert "iPSC_Microglia" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, "negative"),
        (math.nan, "not finite"),
        (math.inf, "not finite"),
        ("ten", "not a number"),
    ],
)
def test_bad_doses_are_refused(value, problem):
    message = refused(problem, dose_levels=[0, value])
    assert "dose_levels[1]" in message and ">= 0" in message


def test_bad_absolute_doses_name_the_compound():
    message = refused(
        "negative",
        compounds=["tBHQ"],
        dose_levels=None,
        doses_uM={"tBHQ": [0, -5]},
    )
    assert "doses_uM.tBHQ[1]" in message


@pytest.mark.parametrize(
    "key",
    ["cell_lines", "compounds", "timepoints_h", "days", "operators", "dose_levels"],
)
def test_empty_lists_are_refused(key):
    assert f"key '{key}'" in refused("empty list", **{key: []})


def test_sentinel_well_must_exist_on_the_plate():
    message = refused(
        "not a well of a 96-well plate",
        sentinels=[{"compound": "DMSO", "dose_uM": 0, "wells": ["P24"]}],
    )
    assert "sentinels[0].wells[0]" in message and "A01 to H12" in message


def test_colliding_sentinel_positions_are_refused():
    message = refused(
        "already used",
        sentinels=[
            {"compound": "DMSO", "dose_uM": 0, "wells": ["A01"]},
            {"compound": "tBHQ", "dose_uM": 10, "wells": ["A1"]},
        ],
    )
    assert "sentinels[1].wells[0]" in message


def test_duplicate_entries_are_refused():
    assert "listed twice" in refused("listed twice", compounds=["tBHQ", "tBHQ"])


def test_design_larger_than_the_plate_is_refused_not_wrapped():
    compounds = [
        "tBHQ",
        "H2O2",
        "tbhp",
        "tunicamycin",
        "thapsigargin",
        "CCCP",
        "oligomycin",
        "two_deoxy_d_glucose",
        "etoposide",
        "cisplatin",
    ]
    message = refused(
        "needs 90 experimental wells",
        compounds=compounds,
        dose_levels=[0, 0.01, 0.1, 1, 3, 10, 30, 100, 300],
    )
    assert "has 88 free" in message and "plate_format: 384" in message


@pytest.mark.parametrize(
    ("seed", "problem"),
    [
        (-1, "negative"),
        (1.5, "not a whole number"),
        ("zero", "not a number"),
        (True, "not a number"),
        (math.nan, "whole number"),
    ],
)
def test_bad_seeds_are_refused(seed, problem):
    assert "key 'seed'" in refused(problem, seed=seed)


def test_null_seed_is_refused(tmp_path):
    path = tmp_path / "null.yaml"
    path.write_text((CAMPAIGNS / "demo.yaml").read_text().replace("seed: 0", "seed:"))
    with pytest.raises(SpecError, match=r"key 'seed': is empty \(null\)"):
        load_spec(path)


def test_model_override_keys_and_values_are_checked():
    assert "did you mean 'plate_cv'" in refused("unknown key", model={"plate_vc": 1})
    assert "model.ldh_cv" in refused("negative", model={"ldh_cv": -0.1})
    assert "model.failure_rate" in refused("above 1", model={"failure_rate": 2})


def test_yaml_object_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_cli_refuses_bad_spec_with_exit_2_and_touches_nothing(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        (CAMPAIGNS / "demo.yaml").read_text().replace("seed: 0", "seed: -3")
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["campaign", "run", str(spec), "--out", str(out), "--scheduler", "synchronous"],
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {spec}: key 'seed': -3 is negative")
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", "1.5", "abc"])
def test_cli_refuses_bad_seed_override(tmp_path, seed):
    result = CliRunner().invoke(
        main,
        [
            "campaign",
            "run",
            str(CAMPAIGNS / "demo.yaml"),
            "--seed",
            seed,
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert "whole number >= 0" in result.output
    assert not (tmp_path / "o").exists()


def test_plan_prints_counts_and_a_plate_map():
    result = CliRunner().invoke(
        main, ["campaign", "plan", str(CAMPAIGNS / "full.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "wells 2304 = 1920 experimental + 384 sentinel" in result.output
    assert "plates 48" in result.output and "tasks 48" in result.output
    assert "*DMSO:0" in result.output and "A549-D1-A-R1-T12h" in result.output


@pytest.mark.parametrize("value", [[96], {"a": 1}, "96", 95])
def test_plate_format_must_be_96_or_384(value):
    assert "use 96 or 384" in refused("not a plate format", plate_format=value)


def test_enormous_numbers_are_refused_not_crashed():
    assert "too large" in refused("too large", dose_levels=[0, 10**400])
    assert "at most 1e6" in refused("above 1 M", dose_levels=[0, 1.0e307])
    message = refused(
        "x EC50 is above 1 M", compounds=["two_deoxy_d_glucose"], dose_levels=[0, 5000]
    )
    assert "dose_levels[1]" in message
    assert "too large" in refused("too large", model={"plate_cv": 10**400})


def test_non_ascii_digits_in_a_well_name_are_refused():
    message = refused(
        "not a well", sentinels=[{"compound": "DMSO", "dose_uM": 0, "wells": ["A²"]}]
    )
    assert "sentinels[0].wells[0]" in message


def test_huge_designs_are_refused_before_building_plates():
    message = refused("more than the 20,000,000", replicates=4_000_000_000 - 1)
    assert "key 'replicates'" in message


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text((CAMPAIGNS / "demo.yaml").read_text() + "seed: 5\n")
    with pytest.raises(SpecError, match="'seed' is given twice"):
        load_spec(path)


def test_timepoints_that_print_alike_are_refused():
    message = refused("both print as 12 h", timepoints_h=[12, 12.000001])
    assert "timepoints_h[1]" in message


def test_negative_zero_dose_becomes_zero():
    spec = make_spec(compounds=["tBHQ"], dose_levels=None, doses_uM={"tBHQ": [-0.0]})
    assert str(spec.doses[0][0][0]) == "0.0"


def test_exponent_without_dot_gets_a_hint(tmp_path):
    path = tmp_path / "e.yaml"
    text = (CAMPAIGNS / "demo.yaml").read_text().replace("[0, 10]", "[0, 1e-3]", 1)
    path.write_text(text)
    with pytest.raises(SpecError, match="signed exponent"):
        load_spec(path)


def test_spreads_above_one_are_refused():
    assert "at most 1" in refused("above 1", model={"well_cv": 5})
