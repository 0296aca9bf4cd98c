"""The report's figures, drawn on matplotlib's Agg canvas and saved as PNG.

No pyplot: every figure is a :class:`matplotlib.figure.Figure` attached to a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`, so nothing opens a
window and the user's own pyplot backend is left alone. Each function takes
the results DataFrame and a path and returns the path it wrote.
"""

from __future__ import annotations

import logging
import re

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from thalamus.model.parameters import CHANNELS
from thalamus.report.fits import IC50_TOLERANCE, true_ic50
from thalamus.report.qc import Z_PRIME_THRESHOLD

logger = logging.getLogger(__name__)

DPI = 100
#: Conventional Cell Painting stain names of the model's channels.
CHANNEL_LABELS = {
    "er": "ER",
    "mito": "Mito",
    "nucleus": "DNA",
    "actin": "AGP",
    "rna": "RNA",
}
READOUT_LABELS = {
    "viability": "viability (fraction)",
    "ldh_signal": "LDH (a.u.)",
    **{f"morph_{c}": f"{CHANNEL_LABELS[c]} channel ({c})" for c in CHANNELS},
}
_TIME_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_DEATH_PARTS = (
    ("viability", "viable", "#4c9f70"),
    ("death_compound", "compound", "#d1495b"),
    ("death_confluence", "confluence", "#edae49"),
    ("death_unknown", "unknown", "#8d99ae"),
)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path):
    # No Software tag: the same results give the same bytes across versions.
    fig.savefig(path, format="png", metadata={"Software": None})
    logger.debug("wrote %s", path)
    return path


def _placeholder(path, message: str):
    """A small figure that says why there is nothing to draw."""
    fig = _figure(6.0, 1.2)
    fig.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.3")
    return _save(fig, path)


def _fmt(value: float) -> str:
    """Three significant figures, for doses and IC50s.

    >>> _fmt(0.0081234), _fmt(45.0), _fmt(float("nan"))
    ('0.00812', '45', '–')
    """
    return "–" if not np.isfinite(value) else f"{value:.3g}"


def dose_response(df, fits: dict, readout: str, path, label: str = "IC50"):
    """Replicate points and fitted curves, one panel per compound and cell line.

    Timepoints share a panel in different colours; the model's true IC50 is a
    dashed line and each fitted value is written in the panel, or the reason
    its fit failed.
    """
    wells = df[~df["is_sentinel"].to_numpy()]
    panels = list(wells.groupby(["compound", "cell_line"], observed=True).groups)
    if not panels:
        return _placeholder(path, "no experimental wells: no dose-response")
    times = sorted(wells["timepoint_h"].unique())
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = _figure(3.4 * ncols, 2.6 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (compound, line) in zip(axes, panels):
        sub = wells[((wells["compound"] == compound) & (wells["cell_line"] == line))]
        _dose_panel(ax, sub, fits, (compound, line), times, readout, label)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{READOUT_LABELS.get(readout, readout)} against dose")
    return _save(fig, path)


def _dose_panel(ax, sub, fits, key, times, readout, label):
    compound, line = key
    doses = np.unique(sub["dose_uM"].to_numpy())
    positive = doses[doses > 0]
    # A log axis has no zero: vehicle wells sit one and a half decades left.
    vehicle_x = positive.min() / 10**1.5 if len(positive) else 1.0
    notes = []
    for i, t in enumerate(times):
        colour = _TIME_COLOURS[i % len(_TIME_COLOURS)]
        at_t = sub[(sub["timepoint_h"] == t).to_numpy()]
        if at_t.empty:
            continue
        x = np.where(at_t["dose_uM"] > 0, at_t["dose_uM"], vehicle_x)
        ax.plot(x, at_t[readout], "o", ms=4, alpha=0.6, color=colour, mec="none")
        fit = fits.get((compound, line, t))
        if fit is not None and fit.ok:
            # The curve stops short of the axis break drawn at the vehicle.
            grid = np.geomspace(positive.min() / 3, positive.max() * 3, 200)
            ax.plot(grid, fit(grid), "-", lw=1.2, color=colour, label=f"{t:g} h")
            notes.append((f"{t:g} h: {label} {_fmt(fit.ic50)} µM", colour))
        elif fit is not None:
            ax.plot([], [], "-", color=colour, label=f"{t:g} h")
            notes.append((f"{t:g} h: fit failed: {fit.error}", "#b00020"))
    truth = true_ic50(compound, line)
    if np.isfinite(truth):
        ax.axvline(truth, ls="--", lw=1, color="0.4")
        notes.append((f"true IC50 {_fmt(truth)} µM", "0.3"))
    # Notes go in the corner the curve leaves empty: top right when the
    # response falls with dose, top left when it rises.
    values = sub[readout].to_numpy()
    rising = values[sub["dose_uM"].to_numpy() == doses[-1]].mean() > np.median(
        values[sub["dose_uM"].to_numpy() == doses[0]]
    )
    x_text, align = (0.03, "left") if rising else (0.98, "right")
    for j, (text, colour) in enumerate(notes):
        ax.text(
            x_text,
            0.97 - 0.1 * j,
            text,
            transform=ax.transAxes,
            ha=align,
            va="top",
            fontsize=7,
            color=colour,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1},
        )
    ax.set_xscale("log")
    ticks = [vehicle_x, *positive]
    ax.set_xticks(ticks, ["0", *(_fmt(d) for d in positive)], fontsize=7)
    ax.minorticks_off()
    ax.tick_params(labelsize=7)
    ax.set_title(f"{compound} · {line}", fontsize=9)
    ax.set_xlabel("dose (µM)", fontsize=7)
    ax.legend(fontsize=6, loc="lower right" if rising else "lower left", frameon=False)


def ic50_agreement(rows, path):
    """Fitted against true IC50 on log axes, with the tolerance band."""
    fig = _figure(4.6, 4.2)
    ax = fig.subplots()
    good = [r for r in rows if r["fit"].ok and np.isfinite(r["true"])]
    times = sorted({r["timepoint_h"] for r in good})
    for i, t in enumerate(times):
        pts = np.array(
            [(r["true"], r["fit"].ic50) for r in good if r["timepoint_h"] == t]
        )
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            "o",
            ms=5,
            alpha=0.8,
            color=_TIME_COLOURS[i % len(_TIME_COLOURS)],
            label=f"{t:g} h",
        )
    if good:
        values = [v for r in good for v in (r["true"], r["fit"].ic50)]
        lo, hi = min(values) / 3, max(values) * 3
        line = np.geomspace(lo, hi, 10)
        ax.plot(line, line, "-", color="0.3", lw=1, label="fitted = true")
        ax.fill_between(
            line,
            line / IC50_TOLERANCE,
            line * IC50_TOLERANCE,
            color="0.85",
            label=f"within ×{IC50_TOLERANCE:g}",
        )
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.legend(fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no fitted IC50", ha="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model cell-line IC50 (µM)")
    ax.set_ylabel("fitted IC50 (µM)")
    ax.set_title("Fitted against true IC50 (viability)", fontsize=10)
    return _save(fig, path)


def _well_positions(well_ids):
    """Row and column indices (from 0) of wells named like ``A01``.

    >>> _well_positions(["A01", "H12", "P24"])
    (array([ 0,  7, 15]), array([ 0, 11, 23]))
    """
    parts = [re.fullmatch(r"([A-Z])(\d+)", str(w)).groups() for w in well_ids]
    rows = np.array([ord(r) - ord("A") for r, _ in parts])
    cols = np.array([int(c) - 1 for _, c in parts])
    return rows, cols


def plate_heatmaps(df, readout: str, path, ncols: int = 8):
    """Every plate as a small heatmap of ``readout``, relative to its median.

    Failed wells are crossed out; the colour scale is shared and clipped to the
    2nd–98th percentile so one contaminated well does not wash out the rest.
    """
    rows, cols = _well_positions(df["well_id"])
    shape = (8, 12) if rows.max() < 8 and cols.max() < 12 else (16, 24)
    plates = list(dict.fromkeys(df["plate_id"].astype(str)))
    plate_of = df["plate_id"].astype(str).to_numpy()
    values = df[readout].to_numpy(dtype=np.float64)
    failed = df["failure_mode"].notna().to_numpy()
    relative = np.empty_like(values)
    for plate in plates:
        on = plate_of == plate
        relative[on] = values[on] / np.median(values[on & ~failed])
    vmin, vmax = np.percentile(relative[~failed], [2, 98])
    ncols = min(ncols, len(plates))
    nrows = -(-len(plates) // ncols)
    fig = _figure(2.1 * ncols + 0.8, 1.65 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.9")
    for ax, plate in zip(axes.ravel(), plates):
        on = plate_of == plate
        grid = np.full(shape, np.nan)
        grid[rows[on], cols[on]] = relative[on]
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax)
        bad = on & failed
        ax.plot(cols[bad], rows[bad], "x", color="#ff2d55", ms=5, mew=1.5)
        ax.set_title(plate, fontsize=6.5)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(plates) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="relative to plate median")
    fig.suptitle(f"{READOUT_LABELS.get(readout, readout)} by plate (× = failed well)")
    return _save(fig, path)


def qc_summary(qc_rows, path):
    """Z'-factor and DMSO CV per plate, with the 0.5 threshold."""
    if not qc_rows:
        return _placeholder(path, "no sentinel wells: no plate QC")
    fig = _figure(max(6.0, 0.22 * len(qc_rows) + 2), 5.0)
    ax_z, ax_cv = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(qc_rows))
    z = np.array([r.z_prime for r in qc_rows])
    shown = np.where(np.isfinite(z), np.clip(z, -1.0, 1.0), 0.0)
    colours = [
        "0.7"
        if not np.isfinite(v)
        else ("#4c9f70" if v >= Z_PRIME_THRESHOLD else "#d1495b")
        for v in z
    ]
    ax_z.bar(x, shown, color=colours)
    for i in np.flatnonzero(~np.isfinite(z)):
        ax_z.text(i, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=7)
    ax_z.axhline(Z_PRIME_THRESHOLD, ls="--", color="0.3", lw=1)
    ax_z.set_ylabel("Z' (clipped at −1)")
    ax_z.set_ylim(min(-0.1, shown.min() - 0.05), 1.0)
    ax_z.set_title(
        "Z'-factor, DMSO vs tunicamycin 2 µM (ER channel); grey: n/a", fontsize=9
    )
    ax_cv.bar(x, [r.negative_cv for r in qc_rows], color="#1f77b4")
    ax_cv.set_ylabel("DMSO CV (%)")
    ax_cv.set_xticks(x, [r.plate_id for r in qc_rows], rotation=90, fontsize=6)
    return _save(fig, path)


def death_accounting(df, path):
    """Mean fate of the cells, stacked, by compound and dose; one panel per
    timepoint and cell line."""
    wells = df[~df["is_sentinel"].to_numpy()]
    parts = [name for name, _, _ in _DEATH_PARTS]
    means = (
        wells.groupby(
            ["timepoint_h", "cell_line", "compound", "dose_uM"],
            observed=True,
            sort=True,
        )[parts]
        .mean()
        .reset_index()
    )
    panels = list(means.groupby(["timepoint_h", "cell_line"], observed=True).groups)
    if not panels:
        return _placeholder(path, "no experimental wells: no death accounting")
    n_bars = means.groupby(["compound", "dose_uM"], observed=True).ngroups
    fig = _figure(max(6.0, 0.2 * n_bars + 1.5), 2.9 * len(panels) + 0.4)
    axes = fig.subplots(len(panels), 1, squeeze=False).ravel()
    for ax, (t, line) in zip(axes, panels):
        sub = means[(means["timepoint_h"] == t) & (means["cell_line"] == line)]
        x = np.arange(len(sub))
        bottom = np.zeros(len(sub))
        for name, label, colour in _DEATH_PARTS:
            ax.bar(x, sub[name], bottom=bottom, color=colour, label=label, width=0.85)
            bottom += sub[name].to_numpy()
        labels = [f"{c} {_fmt(d)}" for c, d in zip(sub["compound"], sub["dose_uM"])]
        ax.set_xticks(x, labels, rotation=90, fontsize=6)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("fraction of cells")
        ax.set_title(f"{line}, {t:g} h (dose in µM)", fontsize=9)
    axes[0].legend(ncols=4, fontsize=7, loc="lower left", frameon=True)
    return _save(fig, path)


def batch_effects(df, path):
    """DMSO sentinel readouts by day and operator, relative to the cell line's
    median, so that plate-set shifts stand out."""
    readouts = [f"morph_{c}" for c in CHANNELS] + ["ldh_signal"]
    dmso = df[
        (df["compound"] == "DMSO").to_numpy() & df["failure_mode"].isna().to_numpy()
    ]
    groups = list(dmso.groupby(["day", "operator"], observed=True, sort=True).groups)
    if not groups:
        return _placeholder(path, "no good DMSO wells: no batch comparison")
    fig = _figure(2.6 * len(readouts), 3.2)
    axes = fig.subplots(1, len(readouts), sharey=False).ravel()
    lines = list(dict.fromkeys(dmso["cell_line"].astype(str)))
    for ax, readout in zip(axes, readouts):
        medians = dmso.groupby("cell_line", observed=True)[readout].transform("median")
        relative = (dmso[readout] / medians).to_numpy()
        data = [
            relative[((dmso["day"] == d) & (dmso["operator"] == o)).to_numpy()]
            for d, o in groups
        ]
        ax.boxplot(data, showfliers=False, widths=0.6)
        for i, (d, o) in enumerate(groups):
            on = ((dmso["day"] == d) & (dmso["operator"] == o)).to_numpy()
            line_idx = np.array(
                [lines.index(v) for v in dmso["cell_line"].astype(str)[on]]
            )
            # Fixed, evenly spread offsets keep the points apart without RNG.
            offsets = np.linspace(-0.2, 0.2, max(on.sum(), 1))
            for k, name in enumerate(lines):
                pick = line_idx == k
                ax.plot(
                    1 + i + offsets[pick],
                    relative[on][pick],
                    ".",
                    ms=3,
                    alpha=0.6,
                    color=_TIME_COLOURS[k % len(_TIME_COLOURS)],
                    label=name if i == 0 else None,
                )
        ax.set_xticks(
            np.arange(1, len(groups) + 1),
            [f"day {d}\n{o}" for d, o in groups],
            fontsize=7,
        )
        ax.set_title(READOUT_LABELS[readout], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("relative to cell-line median")
    axes[0].legend(fontsize=6, frameon=False)
    fig.suptitle("DMSO wells by day and operator")
    return _save(fig, path)
