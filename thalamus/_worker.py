"""Set-up for the worker processes of the local cluster thalamus starts.

Loaded in each worker through ``distributed.worker.preload``. A terminal's
Ctrl-C reaches every process of the foreground group; only the client should
act on it (it closes the cluster, which stops the workers), so the workers
ignore it rather than each printing a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:
    """Ignore SIGINT in this worker process (signals need the main thread)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
