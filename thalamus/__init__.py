"""thalamus: a Dask-distributed campaign runner for the Cell Thalamus simulator.

The public API is loaded lazily so that ``import thalamus`` (and the command
line's ``--help``) stays fast and has no side effects:

>>> import thalamus
>>> callable(thalamus.run_campaign)
True
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load", "run_campaign"]


def __getattr__(name):
    if name == "run_campaign":
        from thalamus.runner import run_campaign

        return run_campaign
    if name == "load":
        from thalamus.results import load

        return load
    raise AttributeError(f"module 'thalamus' has no attribute {name!r}")
