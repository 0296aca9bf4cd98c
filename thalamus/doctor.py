"""``thalamus doctor``: the seven-step deployment check, as one call.

Each step returns a :class:`~thalamus.selftest.Check`; :func:`doctor` prints
them as they finish and works in a temporary directory it removes.

1. Two runs with the same workers give byte-identical files.
2. One worker and N workers give identical results.
3. The stream-isolation self-test passes.
4. The three validation tests pass.
5. The package imports nothing outside its declared dependencies.
6. Every worker has its BLAS/OpenMP thread variables pinned to 1.
7. Every declared dependency imports, and its version is reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from thalamus.selftest import Check

logger = logging.getLogger(__name__)

#: Workers of the "N" runs; two keeps the check inside a minute on 2 cores.
N_WORKERS = 2
_PACKAGE = Path(__file__).resolve().parent


@dataclasses.dataclass
class DoctorResult:
    """Each step's check and how long the whole doctor took."""

    checks: list
    wall_s: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _benchmark():
    from thalamus.validate import campaign_file

    return campaign_file("benchmark")


def step_same_workers(work: Path) -> Check:
    """Two runs with N workers: byte-identical Parquet and SQLite."""
    from thalamus.compare import compare
    from thalamus.validate import run_quietly

    for name in ("same-a", "same-b"):
        run_quietly(_benchmark(), work / name, "local", N_WORKERS)
    result = compare(work / "same-a", work / "same-b")
    ok = result.identical and result.byte_identical
    detail = f"{N_WORKERS} workers twice: " + (
        "byte-identical" if ok else "DIFFER: " + _first_difference(result)
    )
    return Check("bit-identical runs, same workers", ok, detail)


def step_worker_count(work: Path) -> Check:
    """One worker against the N-worker run of step 1."""
    from thalamus.compare import compare
    from thalamus.validate import run_quietly

    run_quietly(_benchmark(), work / "one", "local", 1)
    result = compare(work / "one", work / "same-a")
    detail = f"1 vs {N_WORKERS} workers: " + (
        "identical" if result.identical else "DIFFER: " + _first_difference(result)
    )
    if result.identical and result.byte_identical:
        detail += ", byte-identical"
    return Check("worker-count determinism", result.identical, detail)


def _first_difference(result) -> str:
    lines = [ln.strip() for ln in result.lines if "differ" in ln]
    return lines[0] if lines else "see thalamus compare"


def step_self_test(work: Path) -> Check:
    from thalamus.selftest import self_test

    result = self_test()
    return Check("self-test", result.passed, result.summary())


def step_validate(work: Path) -> Check:
    from thalamus.validate import validate

    result = validate(work_dir=work)
    failed = [c.name for c in result.checks if not c.passed]
    detail = f"failed: {', '.join(failed)}" if failed else "3 of 3 tests pass"
    return Check("validate", not failed, detail)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> tuple[set, set]:
    """(required, report-only) distribution names, normalised."""
    from importlib import metadata

    required, report = set(), set()
    for text in metadata.requires("thalamus") or ():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[([^\]]*)\])?", text)
        names = {match.group(1)} | set(filter(None, (match.group(3) or "").split(",")))
        names = {_normalise(n.strip()) for n in names}
        if "extra" not in text:
            required |= names
        elif re.search(r"""extra\s*==\s*["']report["']""", text):
            report |= names
    return required, report


def imported_modules(path: Path) -> set:
    """Top-level names of every absolute import in one file."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _is_report_file(path: Path, root: Path) -> bool:
    return any(p.startswith("report") for p in path.relative_to(root).parts)


def undeclared_imports(root=None) -> list[str]:
    """``file: module`` for each import not covered by a declared dependency.

    Report dependencies (matplotlib, scipy) count only in report modules.
    """
    from importlib import metadata

    root = Path(root) if root is not None else _PACKAGE
    required, report = declared_dependencies()
    providers = metadata.packages_distributions()
    own = {"thalamus", "__future__", root.name}
    problems = []
    for path in sorted(root.rglob("*.py")):
        allowed = required | report if _is_report_file(path, root) else required
        for module in sorted(imported_modules(path)):
            if module in sys.stdlib_module_names or module in own:
                continue
            dists = {_normalise(d) for d in providers.get(module, [module])}
            if not dists & allowed:
                problems.append(f"{path.relative_to(root)}: {module}")
    return problems


def step_imports(work: Path) -> Check:
    problems = undeclared_imports()
    detail = (
        "undeclared: " + ", ".join(problems)
        if problems
        else "every import is stdlib, thalamus or a declared dependency"
    )
    return Check("no undeclared imports", not problems, detail)


def worker_blas() -> dict:
    """Run on a worker: its BLAS thread variables and, if known, the pools."""
    from thalamus.scheduling import BLAS_VARIABLES

    out = {name: os.environ.get(name) for name in BLAS_VARIABLES}
    try:  # threadpoolctl is optional: not a declared dependency
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return out
    pools = threadpoolctl.threadpool_info()
    out["pools"] = [f"{p['internal_api']}={p['num_threads']}" for p in pools]
    return out


def step_blas(work: Path) -> Check:
    from thalamus import config
    from thalamus.scheduling import BLAS_VARIABLES, open_executor

    threads = int(config.get("blas-threads", default=1))
    executor = open_executor(
        "local", N_WORKERS, dashboard_address="127.0.0.1:0", blas_threads=threads
    )
    try:
        seen = executor.client.run(worker_blas)
    finally:
        executor.close()
    unpinned = [
        f"{worker} {name}={values.get(name)}"
        for worker, values in seen.items()
        for name in BLAS_VARIABLES
        if values.get(name) != "1"
    ]
    sample = next(iter(seen.values()), {})
    detail = f"{len(seen)} workers: " + " ".join(
        f"{n}={sample.get(n)}" for n in BLAS_VARIABLES
    )
    if "pools" in sample:
        detail += " pools " + ",".join(sample["pools"])
    if unpinned:
        detail = "not pinned to 1: " + "; ".join(unpinned)
    ok = bool(seen) and not unpinned
    return Check("BLAS threads pinned on workers", ok, detail)


def step_dependencies(work: Path) -> Check:
    from importlib import metadata

    required, report = declared_dependencies()
    providers = metadata.packages_distributions()
    modules = {}
    for module, dists in providers.items():
        for dist in dists:
            modules.setdefault(_normalise(dist), set()).add(module)
    found, missing = [], []
    for dist in sorted(required | report):
        module = _import_name(dist, modules)
        try:
            importlib.import_module(module)
            found.append(f"{dist} {metadata.version(dist)}")
        except (ImportError, metadata.PackageNotFoundError):
            (missing if dist in required else found).append(
                dist if dist in required else f"{dist} (optional, absent)"
            )
    detail = ", ".join(found)
    if missing:
        detail = f"cannot import: {', '.join(missing)}; {detail}"
    return Check("declared dependencies importable", not missing, detail)


def _import_name(dist: str, modules: dict) -> str:
    names = sorted(modules.get(dist, ()), key=lambda m: (m.startswith("_"), m))
    return names[0] if names else dist.replace("-", "_")


def _remove_idle_scratch(scratch: Path) -> None:
    """Remove the Dask scratch directory our clusters created, if idle.

    Dask's workers leave it behind holding only its two lock files; anything
    else in it belongs to a cluster still running, and it stays.
    """
    with contextlib.suppress(OSError):
        entries = list(scratch.iterdir())
        if all(e.is_file() and e.name.endswith(".lock") for e in entries):
            for entry in entries:
                entry.unlink()
            scratch.rmdir()


STEPS = (
    step_same_workers,
    step_worker_count,
    step_self_test,
    step_validate,
    step_imports,
    step_blas,
    step_dependencies,
)


def doctor(echo=print, steps=STEPS) -> DoctorResult:
    """Run every step, printing each result; stop nothing early.

    Parameters
    ----------
    echo : callable
        Receives each line of output.
    steps : sequence of callables
        The steps; each takes a work directory and returns a Check.
    """
    started = time.perf_counter()
    checks = []
    scratch = Path(tempfile.gettempdir()) / "dask-scratch-space"
    scratch_existed = scratch.exists()
    with tempfile.TemporaryDirectory(prefix="thalamus-doctor-") as tmp:
        for i, step in enumerate(steps, 1):
            step_started = time.perf_counter()
            try:
                check = step(Path(tmp))
            except Exception as exc:  # a crashed step is a failed step
                name = step.__name__.removeprefix("step_").replace("_", " ")
                check = Check(name, False, f"{type(exc).__name__}: {exc}")
            checks.append(check)
            elapsed = time.perf_counter() - step_started
            echo(f"[{i}/{len(steps)}] {check.line()} ({elapsed:.1f} s)")
    if not scratch_existed:
        _remove_idle_scratch(scratch)
    result = DoctorResult(checks, time.perf_counter() - started)
    if result.passed:
        echo(f"ALL CHECKS PASSED in {result.wall_s:.1f} s")
    else:
        failed = [f"{i} ({c.name})" for i, c in enumerate(checks, 1) if not c.passed]
        echo(f"FAILED step {', '.join(failed)} in {result.wall_s:.1f} s")
    return result
