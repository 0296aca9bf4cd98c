"""The three reference validation tests: determinism, death accounting, RNG.

:func:`validate` runs them all and returns one :class:`~thalamus.selftest.Check`
per test:

1. *Determinism*: the benchmark campaign on a local cluster with 1 and with 2
   workers and on the synchronous scheduler gives identical results (by
   :func:`thalamus.compare.compare`).
2. *Death accounting* (:func:`death_accounting_problems`): in every well the
   partition sums to one within 1e-12; untreated wells carry exactly the
   seeding stress in ``death_unknown``; no well credits seeding death to the
   compound; ``death_mode`` follows from the fractions.
3. *RNG hygiene*: :func:`thalamus.hygiene.scan` finds nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

import numpy as np

from thalamus.errors import ThalamusError
from thalamus.selftest import Check

logger = logging.getLogger(__name__)

#: How far a well's fractions may sum from one.
PARTITION_TOLERANCE = 1e-12
#: Thresholds of the death-mode rules (reference model, section 8).
_CAUSE_THRESHOLD = 0.05
_UNKNOWN_THRESHOLD = 0.01
_FRACTIONS = ("viability", "death_compound", "death_confluence", "death_unknown")
#: (label, scheduler, workers) of the determinism runs; the first is the
#: reference the others are compared with.
DETERMINISM_RUNS = (
    ("local, 1 worker", "local", 1),
    ("local, 2 workers", "local", 2),
    ("synchronous", "synchronous", 1),
)


@dataclasses.dataclass
class ValidationResult:
    """The checks of :func:`validate`, in order."""

    checks: list

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def table(self) -> str:
        """A summary table, one row per test."""
        width = max(len(c.name) for c in self.checks)
        rows = [f"{'test':<{width}}  result  detail", "-" * (width + 24)]
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            rows.append(f"{c.name:<{width}}  {mark:<6}  {c.detail}")
        return "\n".join(rows)


def campaign_file(name: str) -> Path:
    """The shipped ``campaigns/<name>.yaml`` of a checkout."""
    path = Path(__file__).resolve().parent.parent / "campaigns" / f"{name}.yaml"
    if not path.is_file():
        raise ThalamusError(
            f"{path}: not found; run from a thalamus checkout, which ships "
            "campaigns/benchmark.yaml and campaigns/demo.yaml"
        )
    return path


def run_quietly(spec, out: Path, scheduler: str, workers: int):
    """Run a campaign into ``out`` with no dashboard on a fixed port."""
    from thalamus.runner import run_campaign

    return run_campaign(
        spec,
        out=out,
        scheduler=scheduler,
        workers=workers,
        overwrite=True,
        dashboard_address="127.0.0.1:0",
    )


def check_determinism(work_dir, spec=None, echo=None) -> Check:
    """Benchmark runs on each of :data:`DETERMINISM_RUNS` give identical results."""
    from thalamus.compare import compare

    spec = spec or campaign_file("benchmark")
    runs = []
    for i, (label, scheduler, workers) in enumerate(DETERMINISM_RUNS):
        out = Path(work_dir) / f"determinism-{i}"
        run_quietly(spec, out, scheduler, workers)
        runs.append((label, out))
    reference_label, reference = runs[0]
    problems, byte_same = [], True
    for label, out in runs[1:]:
        result = compare(reference, out)
        byte_same &= result.byte_identical
        if echo:
            echo(f"  {reference_label} vs {label}: {_verdict(result)}")
        if not result.identical:
            problems.append(f"{label} differs from {reference_label}")
    name = "1. determinism (workers 1 vs 2, two schedulers)"
    if problems:
        return Check(name, False, "; ".join(problems))
    bytes_note = "byte-identical" if byte_same else "same rows, bytes differ"
    return Check(name, True, f"{len(runs)} runs identical, {bytes_note}")


def _verdict(result) -> str:
    if not result.identical:
        return "DIFFER"
    return "identical" + (", byte-identical" if result.byte_identical else "")


def death_accounting_problems(frame, seeding_stress: float = 0.02) -> list[str]:
    """Every way the wells of a results frame break the death accounting.

    Parameters
    ----------
    frame : pandas.DataFrame
        Result rows (from Parquet or SQLite).
    seeding_stress : float
        Fraction of cells the model kills at seeding.

    Returns
    -------
    list of str
        One line per broken rule, naming up to three wells; empty if sound.
    """
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in _FRACTIONS}
    names = (frame["plate_id"].astype(str) + " " + frame["well_id"].astype(str)).values
    compound = frame["compound"].astype(str).to_numpy()
    dose = frame["dose_uM"].to_numpy(dtype=np.float64)
    tol = PARTITION_TOLERANCE
    problems = []

    def rule(bad, text) -> None:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            wells = ", ".join(names[bad][:3])
            problems.append(f"{int(bad.sum())} well(s) {text}: {wells}")

    total = sum(values[c] for c in _FRACTIONS)
    rule(~(np.abs(total - 1.0) <= tol), "whose fractions do not sum to 1")
    for c in _FRACTIONS:
        rule(~((values[c] >= -tol) & (values[c] <= 1.0 + tol)), f"with {c} off [0, 1]")

    untreated = (compound == "DMSO") | (dose == 0.0)
    carries_seeding = np.abs(values["death_unknown"] - seeding_stress) <= tol
    rule(untreated & ~carries_seeding, "untreated without the seeding stress")
    rule(untreated & (values["death_compound"] > tol), "untreated with compound death")
    alive_after_seeding = values["viability"] + values["death_compound"]
    rule(
        ~(values["death_unknown"] >= seeding_stress - tol)
        | (alive_after_seeding > 1.0 - seeding_stress + tol),
        "crediting seeding death to the compound",
    )
    expected = expected_death_modes(values)
    actual = frame["death_mode"].astype(str).to_numpy()
    rule(actual != expected, "whose death_mode disagrees with the fractions")
    return problems


def expected_death_modes(values: dict) -> np.ndarray:
    """Death mode of each well from its fractions (reference model, section 8)."""
    by_compound = values["death_compound"] > _CAUSE_THRESHOLD
    by_confluence = values["death_confluence"] > _CAUSE_THRESHOLD
    unknown = (values["death_unknown"] > _UNKNOWN_THRESHOLD) | (
        values["viability"] < 0.5
    )
    out = np.full(len(by_compound), "none", dtype=object)
    out[unknown] = "unknown"
    out[by_confluence] = "confluence"
    out[by_compound] = "compound"
    out[by_compound & by_confluence] = "mixed"
    return out


def check_death_accounting(frames: dict, seeding_stress: float = 0.02) -> Check:
    """Death accounting over several labelled results frames."""
    problems, n = [], 0
    for label, frame in frames.items():
        n += len(frame)
        found = death_accounting_problems(frame, seeding_stress)
        problems.extend(f"{label}: {p}" for p in found)
    name = "2. death accounting"
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, f"{n} wells: partition, seeding stress, death_mode")


def coverage_frame():
    """Results of the self-test's all-compound, all-cell-line design, in memory."""
    from thalamus import schema
    from thalamus.design import build_design
    from thalamus.selftest import coverage_spec
    from thalamus.simulate import simulate_range

    design = build_design(coverage_spec())
    computed = simulate_range(design, 0, design.n_wells)
    return schema.arrow_table(design, 0, computed).to_pandas()


def check_rng_hygiene(root=None) -> Check:
    """No global or unseeded randomness in the package (or in ``root``)."""
    from thalamus.hygiene import scan

    findings = scan(root)
    name = "3. RNG hygiene (syntax-tree scan)"
    if findings:
        return Check(name, False, "; ".join(str(f) for f in findings[:5]))
    return Check(name, True, "no global, unseeded or clock-seeded randomness")


def validate(work_dir=None, echo=None) -> ValidationResult:
    """Run the three validation tests; temporary files go in ``work_dir``.

    Returns
    -------
    ValidationResult
    """
    import pandas as pd

    from thalamus.model.parameters import ModelParameters

    checks = []
    with tempfile.TemporaryDirectory(prefix="thalamus-validate-", dir=work_dir) as tmp:
        checks.append(check_determinism(tmp, echo=echo))
        benchmark = pd.read_parquet(
            Path(tmp) / "determinism-0" / "cell_thalamus_results.parquet"
        )
    if echo:
        echo(checks[-1].line())
    frames = {"benchmark": benchmark, "all compounds x cell lines": coverage_frame()}
    checks.append(check_death_accounting(frames, ModelParameters().seeding_stress))
    if echo:
        echo(checks[-1].line())
    checks.append(check_rng_hygiene())
    if echo:
        echo(checks[-1].line())
    return ValidationResult(checks)
