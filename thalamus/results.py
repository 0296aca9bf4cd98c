"""Read a finished run back: the results table as a pandas DataFrame.

>>> import thalamus
>>> callable(thalamus.load)
True
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from thalamus.errors import ThalamusError
from thalamus.schema import MANIFEST_NAME, PARQUET_NAME

logger = logging.getLogger(__name__)


def load(run_dir):
    """The results of a run as a DataFrame, one row per well.

    Parameters
    ----------
    run_dir : str or Path
        A run's output directory (the one holding ``cell_thalamus_results.parquet``
        and ``manifest.json``).

    Returns
    -------
    pandas.DataFrame
        Name columns (plate, well, cell line, compound, operator, death and
        failure modes, ...) are categoricals holding only the values present;
        ``failure_mode`` is missing for wells that did not fail. The run's
        manifest (seed, design_id, versions, timings, ...) is ``df.attrs``.

    Raises
    ------
    ThalamusError
        If the directory holds no results.

    Examples
    --------
    After ``thalamus campaign run campaigns/benchmark.yaml``::

        df = thalamus.load("runs/benchmark-seed0")
        df.attrs["design_id"]  # '4115a68df1bb0ba3'
    """
    import pandas as pd

    run_dir = Path(run_dir)
    parquet = run_dir / PARQUET_NAME
    if not parquet.is_file():
        raise ThalamusError(
            f"{run_dir} holds no {PARQUET_NAME}; give the output directory of a "
            "finished run, such as runs/benchmark-seed0"
        )
    logger.debug("reading %s", parquet)
    try:
        df = pd.read_parquet(parquet)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise ThalamusError(
            f"{parquet}: not a readable Parquet file ({exc.__class__.__name__}); "
            "rerun the campaign into this folder with --overwrite"
        ) from None
    for name in df.columns:
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            # The file's dictionaries list every known compound and mode.
            df[name] = df[name].cat.remove_unused_categories()
    df.attrs = read_manifest(run_dir)
    return df


def read_manifest(run_dir) -> dict:
    """The run's ``manifest.json`` as a dict (empty if the file is missing)."""
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        logger.info("%s has no %s; results carry no manifest", run_dir, MANIFEST_NAME)
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
