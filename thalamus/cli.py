"""The ``thalamus`` command line.

Heavy libraries (NumPy, Dask, pyarrow) are imported inside the commands, so
``thalamus --help`` starts fast. Errors a user can fix print one line,
``Error: ...``, and exit with code 2 (1 when a run failed); an interrupt
exits 130 (Ctrl-C) or 143 (SIGTERM) after cleaning up.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

import click

import thalamus

EXIT_INTERRUPT = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum, frame):
    raise Terminated()


_QUIET_LOGGERS = ("distributed", "bokeh", "tornado")


def _configure_logging(verbose: int) -> None:
    level = max(logging.WARNING - 10 * verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        # distributed sets its loggers' levels from dask.config when imported.
        import dask.config

        # Their errors during an interrupt or a lost worker are noise here:
        # thalamus reports the outcome itself, in one line.
        dask.config.set({f"logging.{name}": "critical" for name in _QUIET_LOGGERS})
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _fail(exc) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", 2))


def _seed_option(value):
    """click callback: a seed must be a whole number >= 0."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) >= 2**128:
        raise click.BadParameter(
            f"{value!r} is not a whole number >= 0 below 2**128, e.g. --seed 0"
        )
    return int(value)


class _OneLineErrors(click.Group):
    """A click group whose usage errors are one line: ``Error: ...``, exit 2."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "thalamus"
            click.echo(
                f"Error: {exc.format_message()} (see '{command} --help')", err=True
            )
            sys.exit(2)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_INTERRUPT)


@click.group(
    cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(thalamus.__version__, prog_name="thalamus")
@click.option(
    "-v", "--verbose", count=True, help="More log output (-v INFO, -vv DEBUG)."
)
def main(verbose: int) -> None:
    """thalamus: simulated Cell Painting screens, reproducible to the bit."""
    _configure_logging(verbose)


@main.group()
def campaign() -> None:
    """Plan and run campaigns described by a YAML spec."""


@campaign.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--seed", callback=lambda c, p, v: _seed_option(v), help="Override the spec's seed."
)
@click.option(
    "--wells-per-task",
    type=click.IntRange(min=1),
    default=None,
    help="Wells per Dask task (default: one plate).",
)
def plan_command(spec, seed, wells_per_task) -> None:
    """Validate SPEC and print its plan without simulating anything."""
    from thalamus.errors import ThalamusError

    try:
        from thalamus.plan import describe

        click.echo(describe(spec, seed=seed, wells_per_task=wells_per_task))
    except ThalamusError as exc:
        _fail(exc)


@campaign.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--scheduler",
    default=None,
    help="local | synchronous | threads | processes | tcp://host:port",
)
@click.option(
    "--scheduler-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Connect to the scheduler described by this file.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes of the local cluster (default: all cores).",
)
@click.option(
    "--wells-per-task",
    type=click.IntRange(min=1),
    default=None,
    help="Wells per Dask task (default: one plate).",
)
@click.option(
    "--seed", callback=lambda c, p, v: _seed_option(v), help="Override the spec's seed."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default: runs/<name>-seed<seed>).",
)
@click.option(
    "--db-path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the SQLite mirror.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing results.")
@click.option("--resume", is_flag=True, help="Reuse parts an interrupted run staged.")
@click.option(
    "--dashboard-address",
    default=None,
    help="Where the local cluster's dashboard listens (default 127.0.0.1:8787).",
)
@click.option(
    "--dask-config",
    type=click.Path(dir_okay=False),
    default=None,
    help="A Dask YAML config to load (default: the project's dask_config.yaml).",
)
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
def run_command(
    spec,
    scheduler,
    scheduler_file,
    workers,
    wells_per_task,
    seed,
    out,
    db_path,
    overwrite,
    resume,
    dashboard_address,
    dask_config,
    no_progress,
) -> None:
    """Simulate every well of SPEC and write Parquet, SQLite and a manifest."""
    from pathlib import Path

    from thalamus import config
    from thalamus.errors import ThalamusError
    from thalamus.runner import run_campaign

    if scheduler is not None and not scheduler.strip():
        _fail(
            ThalamusError(
                "--scheduler is empty; give local, synchronous, "
                "threads, processes or tcp://host:port"
            )
        )
    if scheduler is not None and scheduler_file is not None:
        _fail(ThalamusError("give either --scheduler or --scheduler-file, not both"))
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    started = time.perf_counter()
    state: dict = {}  # the progress bar, once the run has started
    try:
        config.load_dask_config(
            Path(dask_config) if dask_config else config.project_dask_config()
        )

        def on_start(info):
            _print_banner(info, scheduler_file)
            if not no_progress and sys.stderr.isatty():
                state["bar"] = click.progressbar(
                    length=info["wells"],
                    label="wells",
                    file=sys.stderr,
                    show_pos=True,
                    show_eta=True,
                )
                state["bar"].__enter__()
                state["last"] = 0

        def progress(done):
            if "bar" in state:
                state["bar"].update(done - state["last"])
                state["last"] = done

        result = run_campaign(
            spec,
            out=out,
            db_path=db_path,
            seed=seed,
            scheduler=scheduler,
            scheduler_file=scheduler_file,
            workers=workers,
            wells_per_task=wells_per_task,
            overwrite=overwrite,
            resume=resume,
            dashboard_address=dashboard_address,
            on_start=on_start,
            progress=progress,
        )
        # The results are complete and in place: a SIGTERM from here on must
        # not turn this run into a killed one while the process exits.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        previous = signal.SIG_IGN
        _close_bar(state, newline=False)
        _print_summary(result, time.perf_counter() - started)
    except ThalamusError as exc:
        _close_bar(state)
        _fail(exc)
    except (KeyboardInterrupt, Terminated) as exc:
        _close_bar(state)
        stopped = isinstance(exc, Terminated)
        click.echo(
            f"{'Terminated' if stopped else 'Interrupted'}: no results were "
            "written under final names; rerun with --resume to reuse finished "
            "parts.",
            err=True,
        )
        sys.exit(EXIT_TERMINATED if stopped else EXIT_INTERRUPT)
    except Exception as exc:  # a lost scheduler, a worker killed too often, ...
        _close_bar(state)
        logging.getLogger(__name__).debug("run failed", exc_info=True)
        click.echo(
            f"Error: the run failed ({exc.__class__.__name__}: {exc}); no results "
            "were written under final names; rerun with --resume to reuse "
            "finished parts (-vv shows the traceback)",
            err=True,
        )
        sys.exit(1)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _close_bar(state: dict, newline: bool = True) -> None:
    """Finish the progress bar, if one is drawn (a newline ends its line)."""
    bar = state.pop("bar", None)
    if bar is not None:
        bar.__exit__(None, None, None)
        if newline:
            click.echo("", err=True)


def _print_banner(info: dict, scheduler_file) -> None:
    import os
    import platform

    from thalamus.runner import versions
    from thalamus.scheduling import BLAS_VARIABLES

    v = versions()
    lines = [
        f"thalamus {v['thalamus']} ({os.path.dirname(thalamus.__file__)})",
        f"  python {v['python']}  numpy {v['numpy']}  dask {v['dask']}  "
        f"distributed {v['distributed']}  pyarrow {v['pyarrow']}",
        f"  platform {platform.platform()}",
        f"  campaign {info['campaign']}  design {info['design_id']}"
        f"  seed {info['seed']}",
        f"  wells {info['wells']}  plates {info['plates']}  tasks {info['tasks']}",
        f"  scheduler {scheduler_file or info['scheduler']}"
        + (
            ""
            if info["executor"] == "synchronous"
            else f" ({info['executor']}, {info['workers']} workers)"
        ),
        "  BLAS threads here: "
        + " ".join(f"{name}={os.environ.get(name, 'unset')}" for name in BLAS_VARIABLES)
        + f"; {_worker_blas(info)}",
        f"  parquet {info['parquet']}",
        f"  sqlite  {info['sqlite']}",
    ]
    if info.get("resumed_parts"):
        lines.append(f"  resuming: {info['resumed_parts']} parts reused")
    if info.get("dashboard_link"):
        lines.append(f"  dashboard {info['dashboard_link']}")
    click.echo("\n".join(lines))


def _worker_blas(info: dict) -> str:
    """Where the BLAS pinning of the workers comes from, for the banner."""
    if info["executor"] in ("synchronous", "threads"):
        return "tasks run in this process"
    if info["scheduler"] in ("local", "processes"):
        return "worker processes pinned to 1 thread"
    return "workers as configured by their cluster (thalamus doctor reports them)"


def _print_summary(result, wall: float) -> None:
    plates = f"{result.n_plates} plate{'s' if result.n_plates != 1 else ''}"
    click.echo(
        f"done: {result.n_wells} wells on {plates} in {wall:.2f} s "
        f"({result.n_wells / wall:,.0f} wells/s)\n"
        f"  {result.parquet}\n  {result.sqlite}\n  {result.manifest}"
    )


# --- commands: guarantees (compare, self-test, validate, doctor) ---


@main.command("compare")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
def compare_command(a, b) -> None:
    """Compare two result files or run directories, row by row and byte by byte.

    Exit 0 identical, 1 different, 2 unusable input.
    """
    from thalamus.compare import compare
    from thalamus.errors import ThalamusError

    try:
        result = compare(a, b)
    except ThalamusError as exc:
        _fail(exc)
    click.echo(result.report())
    click.echo("IDENTICAL" if result.identical else "DIFFERENT")
    sys.exit(result.exit_code)


@main.command("self-test")
def self_test_command() -> None:
    """Show that assay draws cannot change a cell's fate (stream isolation)."""
    from thalamus.selftest import self_test

    result = self_test(echo=click.echo)
    click.echo(result.summary())
    sys.exit(0 if result.passed else 1)


@main.command("validate")
def validate_command() -> None:
    """Determinism, death accounting and RNG hygiene, with a summary table."""
    from thalamus.errors import ThalamusError
    from thalamus.validate import validate

    try:
        result = validate(echo=click.echo)
    except ThalamusError as exc:
        _fail(exc)
    click.echo(result.table())
    sys.exit(0 if result.passed else 1)


@main.command("doctor")
def doctor_command() -> None:
    """The seven-step deployment check; ends with ALL CHECKS PASSED."""
    from thalamus.doctor import doctor

    result = doctor(echo=click.echo)
    sys.exit(0 if result.passed else 1)


# --- commands: results (report, export) ---


@main.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=str),
    help="Where the page and figures go [default: RUN_DIR/report].",
)
def report_command(run_dir: str, out: str | None) -> None:
    """Write RUN_DIR/report/index.html with its figures; opens nothing."""
    from thalamus.errors import ThalamusError
    from thalamus.report import write_report

    try:
        report = write_report(run_dir, out)
    except ThalamusError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(
            ThalamusError(
                f"{exc.filename or out}: cannot write the report "
                f"({exc.strerror or exc}); choose another --out"
            )
        )
    click.echo(
        f"report: {len(report.figures)} figures in {report.seconds:.1f} s\n"
        f"  {report.index}"
    )
    for row in report.failed_fits:
        click.echo(
            f"  fit failed: {row['compound']} {row['cell_line']} "
            f"{row['timepoint_h']:g} h: {row['fit'].error or row['ldh_fit'].error}"
        )


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["profiles"]),
    default="profiles",
    show_default=True,
    help="profiles: Parquet in the Cell Painting profiling conventions.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=str),
    help="File to write [default: RUN_DIR/cell_thalamus_profiles.parquet].",
)
def export_command(run_dir: str, fmt: str, out: str | None) -> None:
    """Export RUN_DIR's results for profiling tools (pycytominer, ...)."""
    from thalamus.errors import ThalamusError
    from thalamus.export import export

    try:
        path = export(run_dir, fmt, out)
    except ThalamusError as exc:
        _fail(exc)
    click.echo(f"exported {fmt}: {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
