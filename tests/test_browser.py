"""The report in a real browser: headless Chromium driven by selenium.

Skipped where Chromium is not installed, unless ``CI`` is set: there
``.ci/run`` installs it, so its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import CAMPAIGNS
from thalamus.report import write_report
from thalamus.runner import run_campaign

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.browser


def _require_chromium():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = (
        f"not installed: {', '.join(missing)} "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def driver(tmp_path):
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    browser = webdriver.Chrome(options=options, service=service)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.mark.timeout(120)
def test_report_renders_in_chromium(tmp_path, driver):
    run_dir = tmp_path / "benchmark"
    run_campaign(CAMPAIGNS / "benchmark.yaml", out=run_dir, scheduler="synchronous")
    report = write_report(run_dir)

    driver.get(report.index.as_uri())
    assert driver.title.startswith("thalamus report: benchmark")
    assert driver.execute_script("return document.readyState") == "complete"
    widths = driver.execute_script(
        "return Array.from(document.images, i => [i.getAttribute('src'),"
        " i.complete, i.naturalWidth]);"
    )
    assert len(widths) == len(report.figures) == 9
    assert all(complete and width > 0 for _, complete, width in widths), widths

    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    # Kept beside the report as the test's artefact: the first screen.
    shot = report.index.parent / "screenshot.png"
    assert driver.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.timeout(120)
def test_a_broken_image_is_caught(tmp_path, driver):
    # The check above must be able to fail: a missing figure has width 0 and
    # the browser logs the failed load.
    page = tmp_path / "index.html"
    shutil.copy(Path(__file__), tmp_path / "not-an-image.png")
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'>"
                    "<title>t</title></head><body><img src='missing.png'>"
                    "<img src='not-an-image.png'></body></html>")  # fmt: skip
    driver.get(page.as_uri())
    widths = driver.execute_script(
        "return Array.from(document.images, i => i.naturalWidth);"
    )
    assert widths == [0, 0]
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert any("missing.png" in e["message"] for e in severe), severe
