"""Per-plate quality control from the sentinel wells.

The vehicle (DMSO) sentinels are the negative control, the tunicamycin
sentinels the positive one. ER-channel intensity separates them at every
timepoint: tunicamycin raises it at 12 h (adaptive response) and lowers it at
48 h (cell death), so the Z'-factor uses the absolute difference of means.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

logger = logging.getLogger(__name__)

NEGATIVE = "DMSO"
POSITIVE = "tunicamycin"
QC_READOUT = "morph_er"
#: The usual bar for an assay fit for screening.
Z_PRIME_THRESHOLD = 0.5


def z_prime(positive, negative) -> float:
    """The Z'-factor, 1 − 3(σp + σn) / |μp − μn| (sample standard deviations).

    >>> round(z_prime([10.0, 12.0], [0.0, 2.0]), 3)
    0.151
    >>> z_prime([1.0], [0.0, 2.0])
    nan
    """
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if len(positive) < 2 or len(negative) < 2:
        return float("nan")
    spread = positive.std(ddof=1) + negative.std(ddof=1)
    gap = abs(positive.mean() - negative.mean())
    return float(1.0 - 3.0 * spread / gap) if gap > 0 else float("-inf")


def cv(values) -> float:
    """Coefficient of variation in percent (sample standard deviation).

    >>> round(cv([9.0, 11.0]), 2)
    14.14
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float("nan")
    return float(100.0 * values.std(ddof=1) / values.mean())


@dataclasses.dataclass(frozen=True)
class PlateQC:
    """Sentinel statistics of one plate (failed wells left out)."""

    plate_id: str
    n_negative: int
    n_positive: int
    n_failed: int
    negative_cv: float
    negative_ldh_cv: float
    z_prime: float

    @property
    def verdict(self) -> str:
        if not np.isfinite(self.z_prime):
            return "not computable (fewer than 2 good wells)"
        return "pass" if self.z_prime >= Z_PRIME_THRESHOLD else "below 0.5"


def plate_qc(df, readout: str = QC_READOUT) -> list[PlateQC]:
    """QC of every plate, in plate order."""
    sentinels = df[df["is_sentinel"].to_numpy()]
    rows = []
    for plate, wells in sentinels.groupby("plate_id", observed=True, sort=False):
        failed = wells["failure_mode"].notna().to_numpy()
        good = wells[~failed]
        negative = good[(good["compound"] == NEGATIVE).to_numpy()]
        positive = good[(good["compound"] == POSITIVE).to_numpy()]
        rows.append(
            PlateQC(
                plate_id=str(plate),
                n_negative=len(negative),
                n_positive=len(positive),
                n_failed=int(failed.sum()),
                negative_cv=cv(negative[readout]),
                negative_ldh_cv=cv(negative["ldh_signal"]),
                z_prime=z_prime(positive[readout], negative[readout]),
            )
        )
    return rows
