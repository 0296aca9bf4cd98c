"""The report's HTML: one static page, no scripts, figures by relative path."""

from __future__ import annotations

import json
from html import escape

import numpy as np

from thalamus.report.fits import IC50_TOLERANCE
from thalamus.report.qc import NEGATIVE, POSITIVE, QC_READOUT, Z_PRIME_THRESHOLD

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.bad { color: #b00020; font-weight: 600; } .ok { color: #2e7d32; }
.summary li { margin: 0.2em 0; } .caption { color: #555; font-size: 0.9em; }
details { margin: 0.5em 0; }
"""


def _num(value, digits: int = 3) -> str:
    """A number for a table cell.

    >>> _num(0.123456), _num(float("nan")), _num(12345.6)
    ('0.123', '–', '1.23e+04')
    """
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}g}"


def _table(header, rows, left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text."""
    cells = "".join(
        f'<th class="{"l" if i < left else ""}">{escape(h)}</th>'
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        tds = "".join(
            f'<td class="{"l" if i < left else ""}">{v}</td>' for i, v in enumerate(row)
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><tr>{cells}</tr>{''.join(body)}</table>"


def _figure(name: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{escape(name)}" alt="{escape(alt)}">'
        f'<figcaption class="caption">{caption}</figcaption></figure>'
    )


def _status(fit) -> str:
    if fit.ok:
        return '<span class="ok">ok</span>'
    return f'<span class="bad">fit failed: {escape(fit.error)}</span>'


def _summary(df, rows, qc) -> str:
    compared = [r for r in rows if r["compared"]]
    within = sum(r["within"] for r in compared)
    failed = [r for r in rows if not r["fit"].ok]
    passing = sum(q.verdict == "pass" for q in qc)
    n_failed_wells = int(df["failure_mode"].notna().sum())
    items = [
        f"{len(df):,} wells on {df['plate_id'].nunique()} plates; "
        f"{n_failed_wells} failed well{'' if n_failed_wells == 1 else 's'} "
        "(marked × on the plate maps).",
        f"Viability fits: {len(rows) - len(failed)} of {len(rows)} converged"
        + (f', <span class="bad">{len(failed)} failed</span>' if failed else "")
        + ".",
        f"Fitted IC50 at 12 h within ×{IC50_TOLERANCE:g} of the model's "
        f"cell-line IC50: {within} of {len(compared)}.",
        f"Sentinel QC: {passing} of {len(qc)} plates have Z' ≥ {Z_PRIME_THRESHOLD:g}.",
    ]
    return "<ul class='summary'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _fit_section(rows, files) -> str:
    table = _table(
        [
            "compound",
            "cell line",
            "time (h)",
            "fitted IC50 (µM)",
            "true IC50 (µM)",
            "fitted / true",
            "Hill",
            "top",
            "bottom",
            "n",
            "viability fit",
            "LDH EC50 (µM)",
            "LDH fit",
        ],
        [
            [
                escape(r["compound"]),
                escape(r["cell_line"]),
                _num(r["timepoint_h"]),
                _num(r["fit"].ic50),
                _num(r["true"]),
                (
                    f'<span class="{"ok" if r["within"] else "bad"}">'
                    f"{_num(r['ratio'])}</span>"
                    if r["compared"]
                    else _num(r["ratio"])
                ),
                _num(r["fit"].hill),
                _num(r["fit"].top),
                _num(r["fit"].bottom),
                str(r["fit"].n_points),
                _status(r["fit"]),
                _num(r["ldh_fit"].ic50),
                _status(r["ldh_fit"]),
            ]
            for r in rows
        ],
        left=2,
    )
    failed = [r for r in rows if not r["fit"].ok or not r["ldh_fit"].ok]
    failures = (
        "<ul>"
        + "".join(
            f"<li>{escape(r['compound'])} · {escape(r['cell_line'])} · "
            f"{r['timepoint_h']:g} h: "
            + "; ".join(
                f"{what} fit failed: {escape(f.error)}"
                for what, f in (("viability", r["fit"]), ("LDH", r["ldh_fit"]))
                if not f.ok
            )
            + "</li>"
            for r in failed
        )
        + "</ul>"
        if failed
        else "<p>No fit failed.</p>"
    )
    return (
        "<h2 id='dose-response'>Dose-response</h2>"
        + _figure(
            files["viability"],
            "viability dose-response curves",
            "Viability of each well (points) and the four-parameter logistic fit "
            "(lines) per timepoint; dashed: the model's cell-line IC50. Vehicle "
            "wells are drawn at dose 0, left of the axis break.",
        )
        + _figure(
            files["ic50"],
            "fitted against true IC50",
            f"Fitted IC50 against the model's; the grey band is ×{IC50_TOLERANCE:g}. "
            "Only 12 h fits are held to it: late attrition at 48 h shifts the "
            "apparent IC50.",
        )
        + "<h3>Fits</h3>"
        + table
        + "<h3>Fits that failed</h3>"
        + failures
        + _figure(
            files["ldh"],
            "LDH dose-response curves",
            "LDH release (dead cells) with its own logistic fit; its midpoint is "
            "an EC50 of cytotoxicity.",
        )
    )


def _plates_section(df, files) -> str:
    from thalamus.report.figures import READOUT_LABELS

    figures = "".join(
        _figure(
            name,
            f"plate heatmaps of {key[len('heatmap_') :]}",
            f"{READOUT_LABELS.get(key[len('heatmap_') :], key)}: each plate relative "
            "to its median (edge wells read about 12% low); × marks a failed well.",
        )
        for key, name in files.items()
        if key.startswith("heatmap_")
    )
    failed = df[df["failure_mode"].notna().to_numpy()]
    table = _table(
        ["plate", "well", "failure", "compound", "dose (µM)"],
        [
            [escape(str(p)), escape(str(w)), escape(str(f)), escape(str(c)), _num(d)]
            for p, w, f, c, d in zip(
                failed["plate_id"],
                failed["well_id"],
                failed["failure_mode"],
                failed["compound"],
                failed["dose_uM"],
            )
        ],
        left=4,
    )
    return (
        "<h2 id='plates'>Plates</h2>"
        + figures
        + f"<details><summary>{len(failed)} failed wells</summary>{table}</details>"
    )


def _qc_section(qc, files) -> str:
    table = _table(
        [
            "plate",
            f"n {NEGATIVE}",
            f"n {POSITIVE}",
            "failed sentinels",
            f"{NEGATIVE} CV % (ER)",
            f"{NEGATIVE} CV % (LDH)",
            "Z'",
            "verdict",
        ],
        [
            [
                escape(q.plate_id),
                str(q.n_negative),
                str(q.n_positive),
                str(q.n_failed),
                _num(q.negative_cv),
                _num(q.negative_ldh_cv),
                _num(q.z_prime),
                f'<span class="{"ok" if q.verdict == "pass" else "bad"}">'
                f"{escape(q.verdict)}</span>",
            ]
            for q in qc
        ],
    )
    return (
        "<h2 id='qc'>Sentinel QC</h2>"
        f"<p>Z' = 1 − 3(σ<sub>p</sub> + σ<sub>n</sub>) / |μ<sub>p</sub> − "
        f"μ<sub>n</sub>| on {escape(QC_READOUT)}, between the {NEGATIVE} wells and "
        f"the {POSITIVE} 2 µM sentinels of each plate, failed wells left out; "
        f"flagged below {Z_PRIME_THRESHOLD:g}. With two positive wells per plate "
        f"the estimate is rough. The {NEGATIVE} sentinels sit in the corners, so "
        "their edge loss widens the gap a little.</p>"
        + _figure(files["qc"], "Z' and CV per plate", "Per-plate sentinel QC.")
        + table
    )


def _manifest_section(manifest: dict) -> str:
    def flat(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from flat(f"{prefix}.{k}" if prefix else k, v)
        else:
            yield prefix, value

    rows = [
        [escape(k), escape(v if isinstance(v, str) else json.dumps(v))]
        for k, v in flat("", manifest)
    ]
    body = _table(["key", "value"], rows, left=2) if rows else "<p>No manifest.</p>"
    return "<h2 id='manifest'>Run manifest</h2>" + body


def render(df, rows, qc, files: dict) -> str:
    """The whole page as a string."""
    manifest = df.attrs
    title = (
        f"thalamus report: {manifest.get('campaign', 'run')} "
        f"(design {manifest.get('design_id', '?')}, seed {manifest.get('seed', '?')})"
    )
    nav = " · ".join(
        f"<a href='#{a}'>{t}</a>"
        for a, t in (
            ("dose-response", "dose-response"),
            ("plates", "plates"),
            ("qc", "QC"),
            ("death", "death accounting"),
            ("batch", "batch effects"),
            ("manifest", "manifest"),
        )
    )
    sections = [
        f"<h1>{escape(title)}</h1><p>{nav}</p>",
        _summary(df, rows, qc),
        _fit_section(rows, files),
        _plates_section(df, files),
        _qc_section(qc, files),
        "<h2 id='death'>Death accounting</h2>"
        + _figure(
            files["death"],
            "death accounting",
            "Mean fraction of cells viable or dead by cause; the four parts add up "
            "to 1 in every well. 'unknown' holds the 2% lost at seeding.",
        ),
        "<h2 id='batch'>Batch effects</h2>"
        + _figure(
            files["batch"],
            "DMSO readouts by day and operator",
            "DMSO sentinel wells by day and operator, each relative to its cell "
            "line's median: a shifted box is a day or operator effect.",
        ),
        _manifest_section(manifest),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )
