"""The report: its fits, QC arithmetic, figures and page, on real runs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import CAMPAIGNS
from thalamus.cli import main
from thalamus.errors import ThalamusError
from thalamus.report import write_report
from thalamus.report.fits import IC50_TOLERANCE, fit_four_pl, fit_table, true_ic50
from thalamus.report.qc import plate_qc, z_prime
from thalamus.results import load
from thalamus.runner import run_campaign

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_campaign(CAMPAIGNS / "demo.yaml", out=out, scheduler="synchronous")
    return out


# --- fits -------------------------------------------------------------------


@pytest.mark.parametrize("ic50, hill", [(3.0, 1.0), (0.02, 2.5), (400.0, 4.0)])
def test_fit_recovers_known_curve(ic50, hill):
    doses = np.repeat([0, ic50 / 10, ic50 / 3, ic50, ic50 * 3, ic50 * 10], 2)
    response = 0.05 + 0.9 / (1 + (doses / ic50) ** hill)
    fit = fit_four_pl(doses, response)
    assert fit.ok
    assert fit.ic50 == pytest.approx(ic50, rel=1e-4)
    assert fit.hill == pytest.approx(hill, rel=1e-3)
    assert (fit.top, fit.bottom) == pytest.approx((0.95, 0.05), abs=1e-4)


def test_fit_failures_say_why():
    too_few = fit_four_pl([0, 1, 10], [1.0, 0.5, 0.1])
    assert not too_few.ok and too_few.error == "3 distinct doses, need 4"
    # Replicate scatter but no trend: top and bottom meet.
    doses = [0, 0, 1, 1, 10, 10, 100, 100]
    flat = fit_four_pl(doses, [1, 0.96, 1, 0.95, 1, 0.97, 0.98, 0.97])
    assert not flat.ok and flat.error.startswith("no dose response")
    assert np.isnan(flat.ic50)
    scattered = fit_four_pl([0, 1, 10, 100, 1000], [0.5, 0.98, 0.2, 0.9, 0.1])
    assert not scattered.ok and scattered.error.startswith("poor fit (R² 0.")


def test_true_ic50_is_base_ec50_times_multiplier():
    # Reference model tables: tunicamycin EC50 1.0 µM, HepG2 multiplier 0.7;
    # nocodazole EC50 0.5 µM, A549 (p 1.3, f 0.2): (1 / 1.3) * 1.04.
    assert true_ic50("tunicamycin", "HepG2") == pytest.approx(0.7)
    assert true_ic50("etoposide", "HepG2") == pytest.approx(13.0)
    assert true_ic50("nocodazole", "A549") == pytest.approx(0.5 / 1.3 * 1.04)


def test_benchmark_ic50s_agree_with_the_model(benchmark_run):
    df = load(benchmark_run)
    fits = dict(fit_table(df, "viability"))
    assert len(fits) == 8  # 4 compounds x 2 cell lines x 12 h
    ratios = {}
    for (compound, line, t), fit in fits.items():
        assert t == 12.0 and fit.ok, (compound, line, fit.error)
        ratios[compound, line] = fit.ic50 / true_ic50(compound, line)
    for key, ratio in ratios.items():
        assert 1 / IC50_TOLERANCE <= ratio <= IC50_TOLERANCE, (key, ratio)
    # The tolerance tells cell lines apart: against the other line's IC50,
    # tBHQ (A549 45 µM, HepG2 21 µM) falls outside it.
    swapped = fits["tBHQ", "A549", 12.0].ic50 / true_ic50("tBHQ", "HepG2")
    assert swapped > IC50_TOLERANCE


# --- QC ---------------------------------------------------------------------


def test_z_prime_by_hand():
    # sd 1 each side, gap 10: 1 - 3 * 2 / 10.
    assert z_prime([9.0, 10.0, 11.0], [-1.0, 0.0, 1.0]) == pytest.approx(0.4)
    assert z_prime([20.0, 19.0, 21.0], [-1.0, 0.0, 1.0]) == pytest.approx(0.7)


def test_plate_qc_leaves_failed_wells_out():
    rows = []
    for well, compound, er, failed in [
        ("A01", "DMSO", 1.0, None),
        ("A12", "DMSO", 1.2, None),
        ("H01", "DMSO", 1.1, None),
        ("H12", "DMSO", 9.0, "contamination"),
        ("D06", "tunicamycin", 2.0, None),
        ("E06", "tunicamycin", 2.2, None),
    ]:
        rows.append(
            dict(plate_id="P1", well_id=well, compound=compound, morph_er=er,
                 ldh_signal=100.0, is_sentinel=True, failure_mode=failed)
        )  # fmt: skip
    (qc,) = plate_qc(pd.DataFrame(rows))
    assert (qc.n_negative, qc.n_positive, qc.n_failed) == (3, 2, 1)
    sd_n, sd_p = 0.1, np.std([2.0, 2.2], ddof=1)
    assert qc.z_prime == pytest.approx(1 - 3 * (sd_n + sd_p) / 1.0)
    assert qc.negative_cv == pytest.approx(100 * 0.1 / 1.1)
    assert qc.verdict == "below 0.5"


def test_benchmark_plates_pass_qc(benchmark_run):
    qc = plate_qc(load(benchmark_run))
    assert [q.plate_id for q in qc] == ["A549-D1-A-R1-T12h", "HepG2-D1-A-R1-T12h"]
    # tunicamycin 2 µM at 12 h doubles the ER signal: clear separation.
    assert all(q.z_prime > 0.5 and q.verdict == "pass" for q in qc)


# --- the page ---------------------------------------------------------------


def test_report_page_and_figures(benchmark_run, tmp_path):
    report = write_report(benchmark_run, tmp_path / "r")
    html = report.index.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(report.figures) == 9
    for name in sources:
        data = (tmp_path / "r" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    assert "<script" not in html
    assert (
        "Fitted IC50 at 12 h within ×1.5 of the model's cell-line IC50: 8 of 8" in html
    )
    assert "2 of 2 plates have Z' ≥ 0.5" in html
    # The manifest's identity and each fitted pair are on the page.
    assert report.index.parent.joinpath("index.html").is_file()
    assert "4115a68df1bb0ba3" in html and "No fit failed." in html
    for compound in ("tBHQ", "tunicamycin", "CCCP", "etoposide"):
        assert f'<td class="l">{compound}</td>' in html


def test_failed_fits_are_listed_not_dropped(demo_run):
    # The demo has two doses per compound: no four-parameter fit is possible.
    report = write_report(demo_run)
    html = report.index.read_text(encoding="utf-8")
    assert report.index == demo_run / "report" / "index.html"
    assert len(report.failed_fits) == 2
    for compound in ("tBHQ", "tunicamycin"):
        assert (
            f"<li>{compound} · A549 · 12 h: viability fit failed: "
            "2 distinct doses, need 4" in html
        )
    assert "no sentinel wells" not in html  # said in the QC figure, not text
    assert "0 of 0 plates" in html


def test_report_is_deterministic(demo_run, tmp_path):
    first = write_report(demo_run, tmp_path / "a")
    second = write_report(demo_run, tmp_path / "b")
    for a, b in zip(first.figures, second.figures):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first.index.read_text() == second.index.read_text()


def test_cli_report(demo_run, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["report", str(demo_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("report: 9 figures in ")
    assert "  fit failed: tBHQ A549 12 h: 2 distinct doses, need 4\n" in result.output
    assert (out / "index.html").is_file()


def test_cli_report_without_results(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert "holds no cell_thalamus_results.parquet" in result.output
    with pytest.raises(ThalamusError):
        write_report(tmp_path)
