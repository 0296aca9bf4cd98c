"""Four-parameter logistic fits of dose-response data, and the model's truth.

A fit either returns its parameters or says why it failed; callers list the
failures rather than dropping them.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np

logger = logging.getLogger(__name__)

#: Fitted IC50s on 12 h data agree with the model's cell-line IC50 within this
#: factor (per-well IC50 noise is log-normal with sd 0.10).
IC50_TOLERANCE = 1.5

#: A fit whose top and bottom differ by less than this fraction shows no response.
MIN_SPAN = 0.1
#: A fit explaining less of the variance than this is reported as failed.
MIN_R2 = 0.8
#: How far (in log10 units) beyond the tested doses an IC50 may be fitted.
_LOG_MARGIN = 1.0
_HILL_BOUNDS = (0.3, 8.0)


@dataclasses.dataclass(frozen=True)
class Fit:
    """One fitted curve, or the reason there is none.

    ``top`` is the response at dose 0, ``bottom`` at infinite dose.
    """

    top: float = np.nan
    bottom: float = np.nan
    ic50: float = np.nan
    hill: float = np.nan
    n_points: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __call__(self, dose):
        return four_pl(dose, self.top, self.bottom, np.log10(self.ic50), self.hill)


def four_pl(dose, top, bottom, log10_ic50, hill):
    """The four-parameter logistic; dose 0 gives ``top``.

    >>> float(four_pl(2.0, 1.0, 0.0, np.log10(2.0), 3.0))
    0.5
    >>> float(four_pl(0.0, 0.9, 0.1, 0.0, 2.0))
    0.9
    """
    dose = np.asarray(dose, dtype=np.float64)
    ratio = np.divide(dose, 10.0**log10_ic50)
    power = np.where(dose > 0, np.abs(ratio) ** hill, 0.0)
    return bottom + (top - bottom) / (1.0 + power)


def fit_four_pl(dose, response) -> Fit:
    """Fit :func:`four_pl` by bounded least squares.

    Parameters
    ----------
    dose, response : array-like
        One point per well; dose in µM, vehicle wells at 0.

    Returns
    -------
    Fit
        With ``error`` set when there are too few doses, the optimiser does not
        converge, the curve has no response (:data:`MIN_SPAN`), the IC50 lands
        on a bound (outside the tested range) or R² is below :data:`MIN_R2`.
    """
    from scipy.optimize import curve_fit

    dose = np.asarray(dose, dtype=np.float64)
    response = np.asarray(response, dtype=np.float64)
    keep = np.isfinite(dose) & np.isfinite(response)
    dose, response = dose[keep], response[keep]
    n = len(dose)
    positive = dose[dose > 0]
    if len(np.unique(dose)) < 4 or len(positive) == 0:
        return Fit(n_points=n, error=f"{len(np.unique(dose))} distinct doses, need 4")
    p0, lower, upper = _start_and_bounds(dose, response, positive)
    try:
        with warnings.catch_warnings():
            # Four doses fit four parameters exactly: no covariance, by design.
            warnings.simplefilter("ignore")
            params, _ = curve_fit(
                four_pl, dose, response, p0=p0, bounds=(lower, upper), maxfev=5000
            )
    except (RuntimeError, ValueError) as exc:
        return Fit(n_points=n, error=str(exc).split("\n")[0])
    top, bottom, log_ic50, hill = (float(v) for v in params)
    if abs(top - bottom) < MIN_SPAN * max(abs(top), abs(bottom)):
        return Fit(
            n_points=n, error=f"no dose response (top {top:.3g}, bottom {bottom:.3g})"
        )
    if min(log_ic50 - lower[2], upper[2] - log_ic50) < 1e-3:
        return Fit(n_points=n, error="IC50 outside the tested doses")
    residual = response - four_pl(dose, *params)
    r2 = 1.0 - np.sum(residual**2) / np.sum((response - response.mean()) ** 2)
    if r2 < MIN_R2:
        return Fit(n_points=n, error=f"poor fit (R² {r2:.2f} < {MIN_R2})")
    return Fit(top, bottom, 10.0**log_ic50, hill, n)


def _start_and_bounds(dose, response, positive):
    low, high = float(response.min()), float(response.max())
    span = max(high - low, 1e-12)
    top0 = float(response[dose == 0].mean()) if (dose == 0).any() else high
    # The dose whose mean response is nearest the midpoint starts the IC50.
    doses = np.unique(positive)
    means = np.array([response[dose == d].mean() for d in doses])
    bottom0 = float(means[-1])
    mid = doses[np.argmin(np.abs(means - (top0 + bottom0) / 2))]
    log_lo = np.log10(positive.min()) - _LOG_MARGIN
    log_hi = np.log10(positive.max()) + _LOG_MARGIN
    lower = [low - span, low - span, log_lo, _HILL_BOUNDS[0]]
    upper = [high + span, high + span, log_hi, _HILL_BOUNDS[1]]
    p0 = [top0, bottom0, float(np.log10(mid)), 1.5]
    return p0, lower, upper


def true_ic50(compound: str, cell_line: str) -> float:
    """The model's cell-line IC50 (µM): base EC50 × the line's multiplier.

    >>> true_ic50("tBHQ", "A549")
    45.0
    >>> true_ic50("DMSO", "A549")
    nan
    """
    from thalamus.model import tables
    from thalamus.model.parameters import ALL_COMPOUNDS

    c = ALL_COMPOUNDS.index(compound)
    value = float(
        tables.BASE_EC50[c] * tables.IC50_MULTIPLIER[c, tables.LINES.index(cell_line)]
    )
    return value if np.isfinite(value) else float("nan")


def fit_table(df, readout: str = "viability"):
    """Fit every (compound, cell line, timepoint) of the experimental wells.

    Returns
    -------
    list of tuple
        ``((compound, cell_line, timepoint_h), Fit)`` in the data's order.
    """
    wells = df[~df["is_sentinel"].to_numpy()]
    keys = ["compound", "cell_line", "timepoint_h"]
    fits = []
    for key, group in wells.groupby(keys, observed=True, sort=True):
        fit = fit_four_pl(group["dose_uM"], group[readout])
        if not fit.ok:
            logger.info("fit of %s for %s failed: %s", readout, key, fit.error)
        fits.append((key, fit))
    return fits
