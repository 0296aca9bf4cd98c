"""Adversarial stream-isolation test on the production simulation code.

The promise: no assay draw can change a cell's fate. :func:`self_test`
simulates, with :func:`thalamus.simulate.simulate_range` itself, wells of all
fifteen compounds (every stress axis) in all four cell lines at two
timepoints, then simulates them again

1. with every assay stream's words replaced by other words,
2. with every well given the same assay words (assay draws repeated),
3. with the assay noise magnitudes and failure rate changed,

and requires the physics columns to keep every bit while the assay columns
change. Then it disturbs the physics streams (their words, then their
magnitudes) and requires the physics columns to change, so the test is seen
able to fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import numpy as np

logger = logging.getLogger(__name__)

#: Assay magnitudes changed in the third disturbance (all assay-only).
ASSAY_OVERRIDES = {
    "morphology_cv": 0.10,
    "ldh_cv": 0.40,
    "plate_cv": 0.05,
    "day_cv": 0.05,
    "operator_cv": 0.05,
    "well_cv": 0.05,
    "edge_factor": 0.70,
    "failure_rate": 0.20,
}
#: Physics magnitudes changed in the last disturbance.
PHYSICS_OVERRIDES = {"ic50_log_sd": 0.30, "seeding_cv": 0.15}
_SCRAMBLE = np.uint32(0x9E3779B9)


@dataclasses.dataclass
class Check:
    """One line of a self-test or validation: what, whether, and why."""

    name: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        return f"{mark} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclasses.dataclass
class SelfTestResult:
    """Every check of the self-test, in order."""

    checks: list
    n_wells: int

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def summary(self) -> str:
        if self.passed:
            return "PASS: stream isolation verified"
        first = next(c for c in self.checks if not c.passed)
        return f"FAIL: {first.name}"


def coverage_spec(model: dict | None = None):
    """A 384-well campaign with every compound, cell line and two timepoints."""
    from thalamus.model import parameters as P
    from thalamus.spec import spec_from_dict

    data = {
        "name": "self-test",
        "seed": 0,
        "plate_format": 384,
        "cell_lines": list(P.CELL_LINES),
        "compounds": list(P.COMPOUNDS),
        "dose_levels": [0, 0.1, 0.3, 1, 3, 10],
        "timepoints_h": [12, 48],
        "days": [1],
        "operators": ["A"],
        "replicates": 1,
    }
    if model:
        data["model"] = dict(model)
    return spec_from_dict(data, "<self-test>")


def _simulate(model: dict | None = None) -> dict:
    from thalamus.design import build_design
    from thalamus.simulate import simulate_range

    design = build_design(coverage_spec(model))
    return simulate_range(design, 0, design.n_wells)


@contextlib.contextmanager
def disturbed_streams(codes, transform):
    """Within the block, the words of streams ``codes`` pass through ``transform``.

    Both ways the simulation gets words (vectorised and one stream at a time)
    are wrapped, so every draw of those streams is disturbed.
    """
    from thalamus import seeding

    many, one = seeding.stream_words, seeding.reference_stream_words
    codes = frozenset(codes)

    def stream_words(seed, prefix, *args, **kwargs):
        words = many(seed, prefix, *args, **kwargs)
        return transform(words) if prefix[0] in codes else words

    def reference_stream_words(seed, spawn_key):
        words = one(seed, spawn_key)
        return transform(words[None, :])[0] if spawn_key[0] in codes else words

    seeding.stream_words = stream_words
    seeding.reference_stream_words = reference_stream_words
    try:
        yield
    finally:
        seeding.stream_words, seeding.reference_stream_words = many, one


def scramble(words: np.ndarray) -> np.ndarray:
    """Other words, as a different seed would give."""
    return np.bitwise_xor(words, _SCRAMBLE)


def repeat_first(words: np.ndarray) -> np.ndarray:
    """Every stream gets the words of the first one: draws repeated."""
    return np.broadcast_to(scramble(words[:1]), words.shape).copy()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _differing(base: dict, other: dict, columns) -> list:
    return [c for c in columns if not _same_bits(base[c], other[c])]


def self_test(echo=None) -> SelfTestResult:
    """Run the stream-isolation test; ``echo`` receives each check's line.

    Returns
    -------
    SelfTestResult
        ``passed`` is true only if every check passed.
    """
    from thalamus import seeding
    from thalamus.simulate import ASSAY_COLUMNS, PHYSICS_COLUMNS

    checks = []

    def record(check: Check) -> None:
        checks.append(check)
        logger.debug("self-test: %s", check.line())
        if echo:
            echo(check.line())

    base = _simulate()
    n = len(base["viability"])
    again = _simulate()
    changed = _differing(base, again, base)
    detail = f"changed: {_cols(changed)}" if changed else f"{len(base)} columns"
    record(Check("same run twice is bit-identical", not changed, detail))

    assay_runs = {
        "assay words replaced": lambda: _with(seeding.ASSAY_STREAMS, scramble),
        "assay draws repeated": lambda: _with(seeding.ASSAY_STREAMS, repeat_first),
        "assay noise magnitudes changed": lambda: _simulate(ASSAY_OVERRIDES),
    }
    for label, run in assay_runs.items():
        other = run()
        moved = _differing(base, other, PHYSICS_COLUMNS)
        record(
            Check(
                f"{label}: physics columns unchanged bit for bit",
                not moved,
                f"changed: {_cols(moved)}"
                if moved
                else f"{len(PHYSICS_COLUMNS)} columns x {n} wells",
            )
        )
        still = [c for c in ASSAY_COLUMNS if c not in _differing(base, other, [c])]
        record(
            Check(
                f"{label}: assay columns changed",
                not still,
                f"unchanged: {_cols(still)}" if still else _cols(ASSAY_COLUMNS),
            )
        )

    physics_runs = {
        "physics words replaced": lambda: _with(seeding.PHYSICS_STREAMS, scramble),
        "physics magnitudes changed": lambda: _simulate(PHYSICS_OVERRIDES),
    }
    for label, run in physics_runs.items():
        moved = _differing(base, run(), PHYSICS_COLUMNS)
        required = ("viability", "cell_count", "death_compound")
        missing = [c for c in required if c not in moved]
        record(
            Check(
                f"{label}: physics columns changed (the test can fail)",
                not missing,
                f"unchanged: {_cols(missing)}"
                if missing
                else f"changed: {_cols(moved)}",
            )
        )
    return SelfTestResult(checks, n)


def _with(codes, transform) -> dict:
    with disturbed_streams(codes, transform):
        return _simulate()


def _cols(columns) -> str:
    return ", ".join(columns) if columns else "none"
