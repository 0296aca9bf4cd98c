"""thalamus settings, read through dask.config under the ``thalamus`` namespace.

The shipped defaults (``thalamus/thalamus.yaml``) are registered the first time
a setting is read, not at import, so importing thalamus changes nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_DEFAULTS = Path(__file__).with_name("thalamus.yaml")
_registered = False


def _ensure_defaults() -> None:
    global _registered
    if _registered:
        return
    import dask.config
    import yaml

    with open(_DEFAULTS) as handle:
        dask.config.update_defaults(yaml.safe_load(handle))
    _registered = True


def get(key: str, default=None):
    """Read ``thalamus.<key>`` from dask.config, falling back to the defaults.

    Examples
    --------
    >>> get("blas-threads")
    1
    """
    _ensure_defaults()
    import dask.config

    return dask.config.get(f"thalamus.{key}", default=default)


def pin_blas_threads(threads: int) -> None:
    """Pin BLAS/OpenMP thread pools in this process (before NumPy loads).

    Used as the initializer of worker processes; it imports nothing heavy, so
    the variables are set before any BLAS library reads them.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def project_dask_config() -> Path | None:
    """The project's Dask configuration file, if one can be found.

    Looked for, in order: ``$THALAMUS_DASK_CONFIG``, ``./dask_config.yaml``,
    and ``dask_config.yaml`` beside the package's source tree (a checkout).
    """
    candidates = [
        os.environ.get("THALAMUS_DASK_CONFIG"),
        Path.cwd() / "dask_config.yaml",
        Path(__file__).resolve().parent.parent / "dask_config.yaml",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_dask_config(path: Path | None) -> None:
    """Merge a Dask YAML config file into dask.config (later keys win)."""
    _ensure_defaults()
    if path is None:
        return
    import dask.config
    import yaml

    from thalamus.errors import ThalamusError

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ThalamusError(
            f"{path}: cannot read Dask config ({exc.__class__.__name__}); "
            "pass --dask-config with a readable YAML file"
        ) from None
    if not isinstance(data, dict):
        raise ThalamusError(f"{path}: a Dask config must be a YAML mapping")
    dask.config.update(dask.config.config, data, priority="new")
    logger.debug("loaded Dask config %s", path)
