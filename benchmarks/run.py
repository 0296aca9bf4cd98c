"""Throughput, memory and start-up figures for this machine.

Run from the repository root (``make bench``). Every figure is the median of
several runs; nothing here is a test and nothing asserts a target.

Figures:

1. seeding cost per well: NumPy SeedSequence objects vs the vectorised hash;
2. Dask per-task overhead on a local cluster (no-op tasks);
3. full campaign, local cluster: one task per well vs the default grouping;
4. atlas campaign (about a million wells) end to end on ``--scheduler local``:
   wells/s and the peak RSS of every process (client and workers);
5. ``thalamus --help`` start-up time;
6. full campaign with ``--scheduler synchronous``, whole process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
THALAMUS = [sys.executable, "-m", "thalamus.cli"]
if (Path(sys.executable).parent / "thalamus").exists():
    THALAMUS = [str(Path(sys.executable).parent / "thalamus")]


def median_of(runs: int, measure) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def seeding_cost() -> dict:
    from thalamus import seeding

    n = 20_000
    tails = np.stack([np.arange(n) % 16, np.arange(n) % 24], axis=1)
    prefix = (seeding.PHYSICS, 384, 1, 2, 3, 4, 5)
    started = time.perf_counter()
    for row in tails[:2000]:
        key = (*prefix, int(row[0]), int(row[1]))
        np.random.SeedSequence(0, spawn_key=key).generate_state(4)
    per_object = (time.perf_counter() - started) / 2000
    started = time.perf_counter()
    for _ in range(10):
        seeding.stream_words(0, prefix, tails)
    per_vector = (time.perf_counter() - started) / (10 * n)
    return {"numpy_us": per_object * 1e6, "vector_us": per_vector * 1e6}


def task_overhead(client, n_tasks: int = 2000) -> float:
    """Milliseconds of wall time per no-op task on the running cluster."""
    import dask

    def noop(i):
        return i

    tasks = [
        dask.delayed(noop, pure=True)(i, dask_key_name=f"noop-{i}")
        for i in range(n_tasks)
    ]
    started = time.perf_counter()
    dask.compute(*tasks, scheduler=client.get)
    return (time.perf_counter() - started) / n_tasks * 1e3


def grouped_throughput(client, runs: int) -> dict:
    from thalamus.runner import run_campaign

    out = {}
    for label, wells_per_task in (("one task per well", 1), ("default grouping", None)):

        def measure(wells_per_task=wells_per_task):
            with tempfile.TemporaryDirectory() as tmp:
                result = run_campaign(
                    ROOT / "campaigns" / "full.yaml",
                    client=client,
                    out=tmp,
                    wells_per_task=wells_per_task,
                )
                return result.n_wells / result.wall_s

        out[label] = median_of(runs, measure)
    return out


def atlas_end_to_end(runs: int) -> dict:
    import psutil

    walls, peaks, client_peaks = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                *THALAMUS,
                "campaign",
                "run",
                str(ROOT / "campaigns" / "atlas.yaml"),
                "--scheduler",
                "local",
                "--out",
                tmp,
                "--no-progress",
                "--dashboard-address",
                "127.0.0.1:0",
            ]
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            root = psutil.Process(process.pid)
            peak: dict[int, int] = {}
            while process.poll() is None:
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    break
                for proc in tree:
                    try:
                        rss = proc.memory_info().rss
                    except psutil.Error:
                        continue
                    peak[proc.pid] = max(peak.get(proc.pid, 0), rss)
                time.sleep(0.05)
            walls.append(time.perf_counter() - started)
            if process.returncode != 0:
                raise SystemExit(
                    f"atlas run failed with exit code {process.returncode}"
                )
            peaks.append(max(peak.values()) / 2**20)
            client_peaks.append(peak.get(process.pid, 0) / 2**20)
    return {
        "wall_s": (statistics.median(walls), walls),
        "peak_rss_mb_any_process": (statistics.median(peaks), peaks),
        "peak_rss_mb_client": (statistics.median(client_peaks), client_peaks),
    }


def timed_command(command: list[str], runs: int) -> tuple[float, list[float]]:
    def measure():
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    return median_of(runs, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure")
    parser.add_argument("--atlas-runs", type=int, default=3)
    parser.add_argument("--skip-atlas", action="store_true")
    args = parser.parse_args()
    os.chdir(ROOT)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    cost = seeding_cost()
    print(
        f"seeding per well-stream: NumPy SeedSequence {cost['numpy_us']:.1f} us, "
        f"vectorised hash {cost['vector_us']:.3f} us"
    )

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        overhead = statistics.median(task_overhead(client) for _ in range(3))
        print(f"dask per-task overhead (local cluster, 2 workers): {overhead:.2f} ms")
        throughput = grouped_throughput(client, args.runs)
    one = throughput["one task per well"][0]
    grouped = throughput["default grouping"][0]
    print(
        f"full campaign, local cluster: one task per well {one:,.0f} wells/s; "
        f"default grouping {grouped:,.0f} wells/s ({grouped / one:.1f}x)"
    )

    if not args.skip_atlas:
        atlas = atlas_end_to_end(args.atlas_runs)
        wall = atlas["wall_s"][0]
        print(
            f"atlas (1,015,808 wells) end to end, --scheduler local: {wall:.2f} s "
            f"({1_015_808 / wall:,.0f} wells/s); runs {atlas['wall_s'][1]}"
        )
        print(
            f"  peak RSS: any process {atlas['peak_rss_mb_any_process'][0]:.0f} MB, "
            f"client {atlas['peak_rss_mb_client'][0]:.0f} MB"
        )

    help_s, _ = timed_command([*THALAMUS, "--help"], args.runs)
    print(f"thalamus --help: {help_s:.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        full_s, values = timed_command(
            [
                *THALAMUS,
                "campaign",
                "run",
                "campaigns/full.yaml",
                "--scheduler",
                "synchronous",
                "--out",
                tmp,
                "--overwrite",
                "--no-progress",
            ],
            args.runs,
        )
    print(
        f"full campaign, --scheduler synchronous, whole process: {full_s:.2f} s "
        f"(runs {[round(v, 2) for v in values]})"
    )


if __name__ == "__main__":
    main()
