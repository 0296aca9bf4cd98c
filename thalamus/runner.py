"""Run a campaign: spec to design to Dask tasks to files on disk.

:func:`run_campaign` is the Python API behind ``thalamus campaign run``. It
refuses bad input before touching the disk, streams each finished task to a
staging area, writes the results in well order under temporary names, and
renames them into place only when everything succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from thalamus import config, outputs, schema
from thalamus.design import Design, build_design
from thalamus.errors import ThalamusError
from thalamus.spec import CampaignSpec, load_spec, spec_from_dict

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RunResult:
    """What a finished run wrote, and how long it took."""

    out_dir: Path
    parquet: Path
    sqlite: Path
    manifest: Path
    n_wells: int
    n_plates: int
    n_tasks: int
    wall_s: float
    scheduler: str
    workers: int
    dashboard_link: str | None

    @property
    def wells_per_s(self) -> float:
        return self.n_wells / self.wall_s if self.wall_s > 0 else float("inf")


def resolve_spec(spec_or_path, seed=None) -> CampaignSpec:
    """A validated spec from a path, a dict or a spec."""
    if isinstance(spec_or_path, CampaignSpec):
        return spec_or_path if seed is None else spec_or_path.with_seed(seed)
    if isinstance(spec_or_path, dict):
        spec = spec_from_dict(spec_or_path)
        return spec if seed is None else spec.with_seed(seed)
    return load_spec(spec_or_path, seed=seed)


def versions() -> dict:
    """Versions of thalamus and the libraries a result depends on."""
    from importlib import metadata

    import thalamus

    out = {"thalamus": thalamus.__version__, "python": platform.python_version()}
    for name in ("numpy", "dask", "distributed", "pyarrow", "click", "PyYAML"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    import sqlite3

    # The SQLite file's header records the library's version: byte-identical
    # files need the same SQLite (and pyarrow, for Parquet) on both machines.
    out["sqlite"] = sqlite3.sqlite_version
    out["model"] = _model_version()
    return out


def _model_version() -> str:
    from thalamus.model.parameters import MODEL_VERSION

    return MODEL_VERSION


def run_campaign(
    spec_or_path,
    client=None,
    *,
    out=None,
    db_path=None,
    seed=None,
    scheduler=None,
    scheduler_file=None,
    workers=None,
    wells_per_task=None,
    overwrite=False,
    resume=False,
    dashboard_address=None,
    on_start=None,
    progress=None,
) -> RunResult:
    """Simulate every well of a campaign and write Parquet, SQLite and manifest.

    Parameters
    ----------
    spec_or_path : str, Path, dict or CampaignSpec
        The campaign.
    client : distributed.Client, optional
        Run on this client's cluster (dask-jobqueue, dask-gateway, ...); it is
        left open. Otherwise ``scheduler`` decides.
    out : path, optional
        Output directory; default ``runs/<name>-seed<seed>``.
    db_path : path, optional
        Where the SQLite mirror goes; default inside ``out``.
    seed : int, optional
        Overrides the spec's seed.
    scheduler : str, optional
        ``local``, ``synchronous``, ``threads``, ``processes`` or
        ``tcp://host:port``; default from the ``thalamus.scheduler`` setting.
    scheduler_file : path, optional
        Connect to the scheduler described by this file.
    workers : int, optional
        Worker processes (or threads) for local schedulers; default all cores.
    wells_per_task : int, optional
        Wells simulated per Dask task; default one plate.
    overwrite : bool
        Replace existing results instead of refusing.
    resume : bool
        Reuse the parts an interrupted run staged in ``out``.
    on_start : callable, optional
        Called with a dict describing the run once the scheduler is up.
    progress : callable, optional
        Called with the number of wells finished after each task.

    Returns
    -------
    RunResult
    """
    started = time.perf_counter()
    spec = resolve_spec(spec_or_path, seed)
    design = build_design(spec)
    scheduler = scheduler or config.get("scheduler", default="local")
    if wells_per_task is not None and wells_per_task < 1:
        raise ThalamusError("--wells-per-task must be a whole number >= 1")
    wells_per_task = wells_per_task or config.get("wells-per-task")
    workers = workers or config.get("workers")
    out_dir, parquet, sqlite = outputs.output_paths(spec, out, db_path)
    outputs.check_paths(out_dir, parquet, sqlite)
    outputs.refuse_existing(out_dir, (parquet, sqlite), overwrite)
    if client is None:
        from thalamus import scheduling

        scheduling.check_scheduler(scheduler, scheduler_file)
        scheduling.check_workers(scheduler, workers)
        scheduling.check_dashboard_address(dashboard_address)

    created = outputs.make_dirs(out_dir) + outputs.make_dirs(sqlite.parent)
    from thalamus import writers

    options = _Options(
        client,
        scheduler,
        scheduler_file,
        workers,
        wells_per_task,
        resume,
        dashboard_address,
        on_start,
        progress,
    )
    try:
        with contextlib.ExitStack() as locks:
            locks.enter_context(writers.output_lock(out_dir))
            if sqlite.parent.resolve() != out_dir.resolve():
                # A --db-path elsewhere is locked too: two runs must not share it.
                locks.enter_context(writers.output_lock(sqlite.parent, sqlite.name))
            outputs.refuse_existing(out_dir, (parquet, sqlite), overwrite)
            return _run_locked(design, out_dir, parquet, sqlite, options, started)
    except BaseException:
        outputs.remove_if_unused(created)
        raise


@dataclasses.dataclass(frozen=True)
class _Options:
    """How to run: the scheduler and the callbacks, as run_campaign got them."""

    client: object
    scheduler: str
    scheduler_file: object
    workers: int | None
    wells_per_task: int | None
    resume: bool
    dashboard_address: str | None
    on_start: object
    progress: object


def _run_locked(
    design: Design, out_dir, parquet, sqlite, options: _Options, started: float
) -> RunResult:
    from thalamus import scheduling, writers
    from thalamus.model.parameters import MODEL_VERSION

    spec = design.spec
    identity = {
        "design_id": spec.design_id(),
        "seed": str(spec.seed),
        "model_version": MODEL_VERSION,
    }
    # Connect first: an unreachable scheduler must leave nothing behind.
    blas = int(config.get("blas-threads", default=1))
    executor = scheduling.open_executor(
        options.scheduler,
        options.workers,
        scheduler_file=options.scheduler_file,
        dashboard_address=options.dashboard_address or config.get("dashboard-address"),
        client=options.client,
        blas_threads=blas,
    )
    writer = None
    try:
        staging = writers.Staging(out_dir, identity, options.resume)
        ranges = scheduling.task_ranges(design, options.wells_per_task)
        done = [options.resume and staging.is_complete(a, b) for a, b in ranges]
        todo = [r for r, ok in zip(ranges, done) if not ok]
        if options.resume:
            logger.info("resuming: %d of %d parts staged", sum(done), len(ranges))
        info = {
            "campaign": spec.name,
            "design_id": spec.design_id(),
            "seed": spec.seed,
            "wells": design.n_wells,
            "plates": len(design.plates),
            "tasks": len(ranges),
            "scheduler": options.scheduler if options.client is None else "client",
            "executor": executor.name,
            "workers": executor.workers,
            "dashboard_link": executor.dashboard_link,
            "parquet": str(parquet),
            "sqlite": str(sqlite),
            "out_dir": str(out_dir),
            "resumed_parts": sum(done),
            "wells_per_task": ranges[0][1] - ranges[0][0],
        }
        if options.on_start:
            options.on_start(info)
        writer = writers.ResultWriter(design, parquet, sqlite)
        sim_started = time.perf_counter()
        feeder = _OrderedFeeder(ranges, done, staging, writer, options.progress)
        feeder.feed_ready()
        graph = scheduling.build_graph(design, todo, executor.design_node(design))
        executor.run(graph, lambda i, result: feeder.arrived(todo[i], result))
        feeder.finish()
        sim_s = time.perf_counter() - sim_started
        digests = writer.close()
        write_s = time.perf_counter() - sim_started - sim_s
        wall = time.perf_counter() - started
        manifest = _manifest(
            design, info, digests, parquet, sqlite, wall, sim_s, write_s
        )
        with _uninterruptible():
            # An old manifest must never describe the new files, and the new
            # files never stand without their manifest.
            (out_dir / schema.MANIFEST_NAME).unlink(missing_ok=True)
            writer.commit()
            writers.write_manifest(out_dir / schema.MANIFEST_NAME, manifest)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        executor.close()
    staging.remove()
    logger.info("campaign %s: %d wells in %.2f s", spec.name, design.n_wells, wall)
    return RunResult(
        out_dir=out_dir,
        parquet=parquet,
        sqlite=sqlite,
        manifest=out_dir / schema.MANIFEST_NAME,
        n_wells=design.n_wells,
        n_plates=len(design.plates),
        n_tasks=len(ranges),
        wall_s=wall,
        scheduler=info["scheduler"],
        workers=executor.workers,
        dashboard_link=executor.dashboard_link,
    )


@contextlib.contextmanager
def _uninterruptible():
    """Ignore Ctrl-C and SIGTERM for the few milliseconds of renaming files.

    A signal arriving then is dropped: the run completes and reports so.
    Only the main thread can change signal handlers; elsewhere this does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for number in saved:
        signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


class _OrderedFeeder:
    """Stage parts as they arrive; hand them to the writer in well order."""

    def __init__(self, ranges, done, staging, writer, progress):
        self.ranges, self.ready = ranges, list(done)
        self.position = {span: i for i, span in enumerate(ranges)}
        self.staging, self.writer, self.progress = staging, writer, progress
        self.next = 0
        self.wells_done = sum(b - a for (a, b), ok in zip(ranges, done) if ok)

    def arrived(self, span, computed) -> None:
        start, stop = span
        self.staging.write(start, stop, computed)
        index = self.position[span]
        self.ready[index] = True
        self.wells_done += stop - start
        if self.progress:
            self.progress(self.wells_done)
        # The next part in order goes straight to the writer; others wait on
        # disk, so the client never holds more than one part in memory.
        self.feed_ready(in_memory={index: computed})

    def feed_ready(self, in_memory=None) -> None:
        in_memory = in_memory or {}
        while self.next < len(self.ranges) and self.ready[self.next]:
            start, stop = self.ranges[self.next]
            part = in_memory.get(self.next)
            self.writer.add(
                part if part is not None else self.staging.read(start, stop)
            )
            self.next += 1

    def finish(self) -> None:
        self.feed_ready()
        if self.next != len(self.ranges):
            raise ThalamusError("internal: some tasks never reported a result")


def _manifest(design, info, digests, parquet, sqlite, wall, sim_s, write_s) -> dict:
    from thalamus.model.parameters import MODEL_VERSION

    spec = design.spec
    return {
        "campaign": spec.name,
        "design_id": spec.design_id(),
        "spec_digest": spec.digest(),
        "spec_source": spec.source,
        "seed": spec.seed,
        "model_version": MODEL_VERSION,
        "rows": design.n_wells,
        "plates": len(design.plates),
        "sentinel_wells": design.n_sentinel_wells,
        "tasks": info["tasks"],
        "wells_per_task": info["wells_per_task"],
        "resumed_parts": info["resumed_parts"],
        "scheduler": info["scheduler"],
        "executor": info["executor"],
        "workers": info["workers"],
        "dashboard_link": info["dashboard_link"],
        "files": {
            parquet.name: {"path": str(parquet), "sha256": digests["parquet"]},
            sqlite.name: {"path": str(sqlite), "sha256": digests["sqlite"]},
        },
        "timings_s": {
            "total": round(wall, 4),
            "simulate": round(sim_s, 4),
            "write": round(write_s, 4),
        },
        "versions": versions(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python_executable": sys.executable,
        "finished_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
