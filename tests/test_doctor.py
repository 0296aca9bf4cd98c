"""thalamus doctor: seven steps, each printed; a failing step is named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from thalamus import doctor as D
from thalamus.selftest import Check

ROOT = Path(__file__).resolve().parent.parent


def test_declared_dependencies_come_from_the_package_metadata():
    required, report = D.declared_dependencies()
    assert {"numpy", "dask", "distributed", "pandas", "pyarrow", "click"} <= required
    assert "pyyaml" in required
    assert report == {"matplotlib", "scipy"}
    assert not {"pytest", "selenium"} & (required | report)


def test_undeclared_imports_are_found(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "ok.py").write_text("import os, json\nimport numpy\nimport yaml\n")
    (tmp_path / "web.py").write_text("def f():\n    import selenium.webdriver\n")
    (tmp_path / "plots.py").write_text("from matplotlib import pyplot\n")
    (tmp_path / "report" / "figures.py").write_text("import scipy.optimize\n")
    (tmp_path / "rel.py").write_text("from . import ok\n")
    assert D.undeclared_imports(tmp_path) == [
        "plots.py: matplotlib",
        "web.py: selenium",
    ]


def test_the_package_imports_only_declared_dependencies():
    assert D.undeclared_imports() == []


def test_worker_blas_reads_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    seen = D.worker_blas()
    assert seen["OMP_NUM_THREADS"] == "3" and seen["MKL_NUM_THREADS"] is None


def test_dependency_step_reports_versions():
    from importlib import metadata

    check = D.step_dependencies(Path("."))
    assert check.passed, check.detail
    assert f"numpy {metadata.version('numpy')}" in check.detail


def test_a_failing_or_crashing_step_is_named_and_work_is_removed():
    seen = {}

    def step_fine(work):
        seen["work"] = work
        (work / "scratch").write_text("x")
        return Check("fine", True, "all good")

    def step_broken(work):
        return Check("broken", False, "it is not")

    def step_crashes(work):
        raise RuntimeError("boom")

    lines = []
    result = D.doctor(lines.append, steps=(step_fine, step_broken, step_crashes))
    assert not result.passed
    assert lines[0].startswith("[1/3] ok   fine: all good (")
    assert lines[1].startswith("[2/3] FAIL broken: it is not")
    assert lines[2].startswith("[3/3] FAIL crashes: RuntimeError: boom")
    assert re.fullmatch(
        r"FAILED step 2 \(broken\), 3 \(crashes\) in \d+\.\d s", lines[3]
    )
    assert not seen["work"].exists()


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_doctor_passes_within_a_minute(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    done = subprocess.run(
        [sys.executable, "-m", "thalamus.cli", "doctor"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=110,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [ln[:10] for ln in lines[:7]] == [f"[{i}/7] ok  " for i in range(1, 8)]
    assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" in lines[5]
    wall = float(re.fullmatch(r"ALL CHECKS PASSED in (\d+\.\d) s", lines[7])[1])
    assert wall < 60
    assert list(tmp_path.iterdir()) == []  # no runs, no Dask scratch space
