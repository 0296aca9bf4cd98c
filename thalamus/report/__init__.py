"""``thalamus report``: a static HTML page of a run's results, with PNG figures.

:func:`write_report` reads a run directory and writes ``report/index.html``
beside its figures. Nothing is opened; the page has no scripts and loads from
disk, so it can be mailed or copied as a folder.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from thalamus.errors import ThalamusError

logger = logging.getLogger(__name__)

REPORT_DIR = "report"
#: Readouts drawn as plate heatmaps, one multi-plate figure each.
HEATMAP_READOUTS = ("morph_nucleus", "morph_er", "ldh_signal")
#: The timepoint at which fitted IC50s are held to the model's (no attrition).
COMPARISON_TIMEPOINT = 12.0


@dataclasses.dataclass
class Report:
    """What :func:`write_report` wrote."""

    index: Path
    figures: list
    fits: list
    failed_fits: list
    qc: list
    seconds: float


def write_report(run_dir, out_dir=None) -> Report:
    """Write the HTML report of a finished run.

    Parameters
    ----------
    run_dir : str or Path
        A run's output directory.
    out_dir : str or Path, optional
        Where the page and figures go; default ``RUN_DIR/report``. Its
        previous PNGs and page are replaced.

    Returns
    -------
    Report
    """
    from thalamus.report import figures, fits, page, qc
    from thalamus.results import load

    started = time.perf_counter()
    df = load(run_dir)
    if df.empty:
        raise ThalamusError(f"{run_dir} holds an empty results table; nothing to show")
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / REPORT_DIR
    _fresh_dir(out)

    # Curve fits: viability (IC50) and LDH (EC50).
    viability_fits = dict(fits.fit_table(df, "viability"))
    ldh_fits = dict(fits.fit_table(df, "ldh_signal"))
    rows = _fit_rows(viability_fits, ldh_fits)

    # Sentinel QC per plate.
    plate_qc = qc.plate_qc(df)

    # Figures, in page order.
    made = {}
    made["viability"] = figures.dose_response(
        df, viability_fits, "viability", out / "dose_response_viability.png"
    )
    made["ic50"] = figures.ic50_agreement(rows, out / "ic50_fitted_vs_true.png")
    made["ldh"] = figures.dose_response(
        df, ldh_fits, "ldh_signal", out / "dose_response_ldh.png", label="EC50"
    )
    for readout in HEATMAP_READOUTS:
        made[f"heatmap_{readout}"] = figures.plate_heatmaps(
            df, readout, out / f"plates_{readout}.png"
        )
    made["qc"] = figures.qc_summary(plate_qc, out / "qc_sentinels.png")
    made["death"] = figures.death_accounting(df, out / "death_accounting.png")
    made["batch"] = figures.batch_effects(df, out / "batch_effects.png")

    # The page.
    index = out / "index.html"
    failed = [r for r in rows if not r["fit"].ok or not r["ldh_fit"].ok]
    index.write_text(
        page.render(df, rows, plate_qc, {k: p.name for k, p in made.items()}),
        encoding="utf-8",
    )
    seconds = time.perf_counter() - started
    logger.info("report of %d wells written to %s in %.1f s", len(df), index, seconds)
    return Report(index, list(made.values()), rows, failed, plate_qc, seconds)


def _fresh_dir(out: Path) -> None:
    """Create ``out``, clearing a previous report's page and figures only."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.png"), out / "index.html"]:
        if old.name != "screenshot.png":
            old.unlink(missing_ok=True)


def _fit_rows(viability_fits: dict, ldh_fits: dict) -> list[dict]:
    from thalamus.report.fits import IC50_TOLERANCE, Fit, true_ic50

    rows = []
    for (compound, line, t), fit in viability_fits.items():
        truth = true_ic50(str(compound), str(line))
        ratio = fit.ic50 / truth if fit.ok and np.isfinite(truth) else float("nan")
        compared = t == COMPARISON_TIMEPOINT and np.isfinite(ratio)
        rows.append(
            {
                "compound": str(compound),
                "cell_line": str(line),
                "timepoint_h": float(t),
                "fit": fit,
                "ldh_fit": ldh_fits.get((compound, line, t), Fit(error="no data")),
                "true": truth,
                "ratio": ratio,
                "compared": compared,
                "within": compared and 1 / IC50_TOLERANCE <= ratio <= IC50_TOLERANCE,
            }
        )
    return rows
