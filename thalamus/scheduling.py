"""Dask graph and schedulers: split wells into tasks and run them anywhere.

The graph is built with ``dask.delayed``: one node holds the campaign design
(it travels once), and each task simulates a contiguous range of wells. By
default a task is one plate: each Dask task costs the scheduler about a
millisecond, so one task per well spends more time scheduling than
simulating.

Executors hand each task's result to a callback as soon as it is ready, so the
caller can stream it to disk and let it go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from thalamus.design import Design
from thalamus.errors import ThalamusError

logger = logging.getLogger(__name__)

LOCAL_SCHEDULERS = ("local", "synchronous", "threads", "processes")
BLAS_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_wells_per_task(design: Design, max_tasks: int | None = None) -> int:
    """One plate per task, or whole plates grouped to stay within ``max_tasks``.

    Each task costs about a millisecond of scheduler time and two of worker
    overhead, so a campaign of thousands of plates groups several per task.

    Examples
    --------
    >>> from thalamus.design import build_design
    >>> from thalamus.spec import load_spec
    >>> default_wells_per_task(build_design(load_spec("campaigns/full.yaml")))
    48
    """
    if max_tasks is None:
        from thalamus import config

        max_tasks = int(config.get("max-tasks", default=256))
    plates_per_task = -(-len(design.plates) // max(1, max_tasks))
    return max(1, plates_per_task) * len(design.layout)


def task_ranges(design: Design, wells_per_task: int | None) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` well ranges (default: see above)."""
    size = wells_per_task or default_wells_per_task(design)
    return [(s, min(s + size, design.n_wells)) for s in range(0, design.n_wells, size)]


def task_name(design: Design, start: int, stop: int) -> str:
    """Readable, unique task key: the plate, the well range and the design.

    The design_id (which folds in the seed) keeps two campaigns that share a
    scheduler from ever sharing a result.
    """
    plate = design.plates[start // len(design.layout)]
    return f"simulate-{plate.plate_id()}-{start}-{stop}-{design.spec.design_id()}"


def build_graph(design: Design, ranges: list[tuple[int, int]], design_node=None):
    """One delayed task per range, all sharing one design node.

    ``design_node`` may be a distributed Future of the design (scattered once);
    by default the design becomes a node of the graph itself.
    """
    import dask

    from thalamus.simulate import simulate_range

    if design_node is None:
        design_node = dask.delayed(
            design, name=f"design-{design.spec.design_id()}", traverse=False
        )
    simulate = dask.delayed(simulate_range, pure=True)
    tasks = [
        simulate(design_node, start, stop, dask_key_name=task_name(design, start, stop))
        for start, stop in ranges
    ]
    logger.debug("graph: %d tasks over %d wells", len(tasks), design.n_wells)
    return tasks


def blas_environment(threads: int) -> dict:
    """Environment variables that pin BLAS/OpenMP to ``threads`` threads."""
    return {name: str(threads) for name in BLAS_VARIABLES}


def format_dashboard_link(template: str | None, host: str, port: int) -> str:
    """Fill a dashboard link template; never fail on an unset variable.

    Examples
    --------
    >>> format_dashboard_link("{NO_SUCH_VARIABLE_X}proxy/{port}/status", "h", 1)
    'http://h:1/status'
    >>> format_dashboard_link("http://{host}:{port}/status", "h", 2)
    'http://h:2/status'
    """
    plain = f"http://{host}:{port}/status"
    if not template:
        return plain
    try:
        return template.format(**{**os.environ, "host": host, "port": port})
    except (KeyError, IndexError, ValueError):
        return plain


class LocalExecutor:
    """Dask's single-machine schedulers: synchronous, threads, processes."""

    def __init__(self, name: str, workers: int, blas_threads: int = 1):
        self.name, self.workers = name, workers
        self.dashboard_link = None
        self.address = None
        self._pool = None
        if name == "threads":
            self._pool = ThreadPoolExecutor(workers)
        elif name == "processes":
            import multiprocessing

            from thalamus.config import pin_blas_threads

            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=context,
                initializer=pin_blas_threads,
                initargs=(blas_threads,),
            )

    def design_node(self, design: Design):
        """Dask's local schedulers take the design as a node of the graph."""
        return None

    def run(self, tasks: list, on_result) -> None:
        import dask

        window = 1 if self.name == "synchronous" else 4 * self.workers
        for first in range(0, len(tasks), window):
            chunk = tasks[first : first + window]
            kwargs = {"scheduler": self.name}
            if self._pool is not None:
                kwargs["pool"] = self._pool
            for offset, result in enumerate(dask.compute(*chunk, **kwargs)):
                on_result(first + offset, result)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class DistributedExecutor:
    """A dask.distributed client: a LocalCluster, or an existing scheduler."""

    def __init__(self, client, cluster=None, owns_client: bool = False):
        self.client, self.cluster = client, cluster
        self.owns_client = owns_client or cluster is not None
        self.name = "distributed"
        info = client.scheduler_info()
        self.workers = len(info.get("workers", {}))
        self.address = client.scheduler.address
        port = info.get("services", {}).get("dashboard")
        host = _host_of(self.address)
        if port is None:
            self.dashboard_link = None
        else:
            import dask.config

            template = dask.config.get("distributed.dashboard.link", default=None)
            self.dashboard_link = format_dashboard_link(template, host, port)

    def design_node(self, design: Design):
        """Send the design to every worker once; tasks refer to it by key.

        Every worker holds a copy, so losing a worker never loses the design.
        """
        return self.client.scatter(design, hash=False, broadcast=True)

    def run(self, tasks: list, on_result) -> None:
        """Keep a bounded window of tasks in flight, refilled as they finish.

        The client then tracks a few dozen futures, not one per task, so its
        memory does not grow with the campaign.
        """
        from distributed import as_completed

        window = max(4 * self.workers, 32)
        pending = iter(enumerate(tasks))
        index: dict = {}
        completed = as_completed()

        def submit(count: int) -> None:
            chunk = [item for _, item in zip(range(count), pending)]
            if chunk:
                futures = self.client.compute([task for _, task in chunk])
                for (i, _), future in zip(chunk, futures):
                    index[future.key] = i
                    completed.add(future)

        submit(window)
        for future in completed:
            result = future.result()
            on_result(index.pop(future.key), result)
            future.release()
            if len(index) <= window // 2:
                submit(window - len(index))

    def close(self) -> None:
        """Close what this executor opened; a caller's client stays open."""
        with contextlib.suppress(Exception):
            if self.owns_client:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _host_of(address: str) -> str:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host.strip("[]")


def open_executor(
    scheduler: str,
    workers: int | None,
    scheduler_file=None,
    dashboard_address=None,
    client=None,
    blas_threads: int = 1,
):
    """Start or connect to the scheduler the user asked for.

    Parameters
    ----------
    scheduler : str
        ``local`` (a distributed LocalCluster of worker processes),
        ``synchronous``, ``threads``, ``processes``, or ``tcp://host:port``.
    workers : int or None
        Worker processes (local cluster) or pool size; None means all cores.
    scheduler_file : path, optional
        A scheduler file written by ``dask scheduler --scheduler-file``.
    dashboard_address : str, optional
        Where the local cluster's dashboard listens.
    client : distributed.Client, optional
        Use this client as it is (its cluster belongs to the caller).
    """
    if client is not None:
        return DistributedExecutor(client)
    workers = workers or os.cpu_count() or 1
    check_scheduler(scheduler, scheduler_file)
    if scheduler_file is not None or scheduler.startswith(("tcp://", "tls://")):
        return _connect(scheduler, scheduler_file)
    if scheduler == "local":
        return _local_cluster(workers, dashboard_address, blas_threads)
    return LocalExecutor(scheduler, workers, blas_threads)


def check_dashboard_address(address: str | None) -> None:
    """Refuse a dashboard address that is not ``host:port`` with a valid port.

    Examples
    --------
    >>> check_dashboard_address("127.0.0.1:0")
    >>> check_dashboard_address(":8787")
    """
    if address is None:
        return
    host, _, port = address.rpartition(":")
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ThalamusError(
            f"--dashboard-address {address!r}: give host:port with a port from 0 "
            "to 65535, e.g. 127.0.0.1:8787 (0 picks a free port)"
        )


def check_workers(scheduler: str, workers: int | None) -> None:
    """Refuse more local workers than 4 per core: never faster, and costly.

    Examples
    --------
    >>> check_workers("local", 2)
    """
    cores = os.cpu_count() or 1
    if workers is not None and scheduler in LOCAL_SCHEDULERS and workers > 4 * cores:
        raise ThalamusError(
            f"--workers {workers} is more than 4 per core on this {cores}-core "
            f"machine; use at most {4 * cores} (default: one per core)"
        )


def check_scheduler(scheduler: str, scheduler_file=None) -> None:
    """Refuse an unknown scheduler or a missing scheduler file at once.

    Examples
    --------
    >>> check_scheduler("tcp://127.0.0.1:8786")
    >>> check_scheduler("cluster")
    Traceback (most recent call last):
    ...
    thalamus.errors.ThalamusError: --scheduler 'cluster' is not known; use one \
of local, synchronous, threads, processes or tcp://host:port
    """
    if scheduler_file is not None:
        if not Path(scheduler_file).is_file():
            # distributed would wait for the file forever.
            raise ThalamusError(
                f"--scheduler-file {scheduler_file}: no such file; start the "
                "scheduler with `dask scheduler --scheduler-file PATH` first"
            )
        return
    if scheduler in LOCAL_SCHEDULERS or scheduler.startswith(("tcp://", "tls://")):
        return
    raise ThalamusError(
        f"--scheduler {scheduler!r} is not known; use one of "
        f"{', '.join(LOCAL_SCHEDULERS)} or tcp://host:port"
    )


def _connect(address: str, scheduler_file) -> DistributedExecutor:
    import dask.config
    from distributed import Client

    from thalamus import config

    timeout = float(config.get("connect-timeout", default=10))
    target = f"scheduler file {scheduler_file}" if scheduler_file else address
    started = time.monotonic()
    outcome: dict = {}

    def connect() -> None:
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
                if scheduler_file is not None:
                    outcome["client"] = Client(
                        scheduler_file=str(scheduler_file), timeout=timeout
                    )
                else:
                    outcome["client"] = Client(address, timeout=timeout)
        except BaseException as exc:  # reported below, in the caller's thread
            outcome["error"] = exc

    # Something that accepts TCP but never completes Dask's handshake would
    # make Client() wait forever: give it a deadline of our own.
    thread = threading.Thread(target=connect, name="thalamus-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2.0)
    waited = time.monotonic() - started
    if "client" in outcome:
        return DistributedExecutor(outcome["client"], owns_client=True)
    error = outcome.get("error")
    if error is None:
        reason = "no answer"
    elif isinstance(error, (OSError, TimeoutError)):
        reason = error.__class__.__name__
    else:  # garbage in the handshake: something else is listening there
        reason = f"it did not answer as a Dask scheduler: {error.__class__.__name__}"
    raise ThalamusError(
        f"cannot reach the Dask scheduler at {target} after {waited:.0f} s ({reason}); "
        "check that a Dask scheduler is running there and the address"
    )


def _local_cluster(workers: int, dashboard_address, blas_threads: int):
    import dask.config
    import pandas  # noqa: F401
    from distributed import Client, LocalCluster

    # The dashboard's callbacks import pandas on the cluster's event-loop
    # thread while the writers import it here; imported first, it is never
    # seen half-initialised by one of the two threads.
    environ = blas_environment(blas_threads)
    # Worker processes set up their logging on import, before the nanny hands
    # them our config: pass on the caller's choice of log levels.
    quiet = logging.ERROR
    for name in ("distributed", "tornado", "bokeh"):
        level = dask.config.get(f"logging.{name}", default=None)
        if isinstance(level, str):
            environ[f"DASK_LOGGING__{name.upper()}"] = level
            quiet = max(quiet, getattr(logging, level.upper(), logging.ERROR))
    preload = dask.config.get("distributed.worker.preload", default=[]) or []
    settings = {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.preload": [*preload, "thalamus._worker"],
    }
    cluster = client = None
    try:
        with (
            dask.config.set(settings),
            warnings.catch_warnings(),
            _ctrl_c_ignored(),
        ):
            # A busy dashboard port is not a problem: distributed binds another
            # one, and the link printed for the user names the port it bound.
            warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=dashboard_address or "127.0.0.1:8787",
                silence_logs=quiet,
            )
            client = Client(cluster)
        return DistributedExecutor(client, cluster)
    except BaseException:  # e.g. SIGTERM while starting: stop what started
        for part in (client, cluster):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        raise


@contextlib.contextmanager
def _ctrl_c_ignored():
    """Ignore Ctrl-C while the local cluster starts its worker processes.

    A terminal's Ctrl-C reaches every process of the foreground group, and a
    worker caught half-started prints tracebacks and can break the cluster's
    start. Processes started while SIGINT is ignored inherit that (Python
    then installs no KeyboardInterrupt handler in them), so workers never act
    on Ctrl-C; the client does, once the cluster is up. A Ctrl-C pressed
    during this second or so is dropped: press it again.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
