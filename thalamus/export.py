"""Export a run's results for other tools.

``profiles`` follows the Cell Painting profiling conventions (as pycytominer
and the JUMP datasets use them): one row per well, ``Metadata_``-prefixed
design columns, ``Metadata_Plate`` and ``Metadata_Well`` naming the well, and
one CellProfiler-style feature per stain, ``Cells_Intensity_MeanIntensity_<stain>``,
so that feature inference by compartment prefix finds them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from thalamus.errors import ThalamusError

logger = logging.getLogger(__name__)

FORMATS = ("profiles",)
PROFILES_NAME = "cell_thalamus_profiles.parquet"
#: Model channel -> conventional Cell Painting stain name.
STAINS = {"nucleus": "DNA", "actin": "AGP", "er": "ER", "mito": "Mito", "rna": "RNA"}
FEATURE_PREFIX = "Cells_Intensity_MeanIntensity_"
#: Results columns that get their own conventional metadata names.
_RENAMED = {"plate_id": "Metadata_Plate", "well_id": "Metadata_Well"}
_DESIGN = (
    "design_id", "cell_line", "compound", "dose_uM", "dose_level", "timepoint_h",
    "day", "operator", "replicate", "is_sentinel", "is_edge",
)  # fmt: skip


def feature_name(channel: str) -> str:
    """The profile feature column of a model channel.

    >>> feature_name("nucleus")
    'Cells_Intensity_MeanIntensity_DNA'
    """
    return FEATURE_PREFIX + STAINS[channel]


def pert_type(compound, dose_uM, is_sentinel):
    """``negcon`` for vehicle wells, ``poscon`` for the active sentinels,
    ``trt`` for the rest (arrays in, array out).

    >>> import numpy as np
    >>> pert_type(np.array(["DMSO", "tBHQ", "tBHQ", "tBHQ"]),
    ...           np.array([0.0, 0.0, 10.0, 3.0]), np.array([1, 0, 1, 0], bool))
    array(['negcon', 'negcon', 'poscon', 'trt'], dtype='<U6')
    """
    import numpy as np

    vehicle = (np.asarray(compound) == "DMSO") | (np.asarray(dose_uM) == 0)
    return np.where(vehicle, "negcon", np.where(is_sentinel, "poscon", "trt"))


def profiles(df):
    """The profiles table of a results DataFrame (see :func:`thalamus.load`)."""
    import pandas as pd

    from thalamus.model.parameters import CHANNELS

    columns = {new: df[old].astype(str).to_numpy() for old, new in _RENAMED.items()}
    for name in _DESIGN:
        values = df[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(str)
        columns[f"Metadata_{name}"] = values.to_numpy()
    columns["Metadata_pert_type"] = pert_type(
        df["compound"].astype(str), df["dose_uM"], df["is_sentinel"]
    )
    columns["Metadata_failure_mode"] = (
        df["failure_mode"]
        .astype(object)
        .where(df["failure_mode"].notna(), None)
        .to_numpy()
    )
    for channel in CHANNELS:
        columns[feature_name(channel)] = df[f"morph_{channel}"].to_numpy()
    return pd.DataFrame(columns)


def export(run_dir, fmt: str = "profiles", out=None) -> Path:
    """Write a run's results in another layout.

    Parameters
    ----------
    run_dir : str or Path
        A finished run's directory.
    fmt : {'profiles'}
        The layout.
    out : str or Path, optional
        The file to write; default ``RUN_DIR/cell_thalamus_profiles.parquet``.

    Returns
    -------
    Path
        The file written.
    """
    from thalamus.results import load

    if fmt not in FORMATS:
        raise ThalamusError(
            f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        )
    default = Path(run_dir) / PROFILES_NAME
    path = Path(out) if out is not None else default
    _check_target(path, default)
    table = profiles(load(run_dir))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ThalamusError(
            f"{path}: cannot write ({exc.strerror or exc}); choose another --out"
        ) from None
    logger.info("wrote %d profiles to %s", len(table), path)
    return path


def _check_target(path: Path, default: Path) -> None:
    """Refuse to write over anything but an earlier export at the default path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ThalamusError(
            f"--out {path}: cannot create {path.parent} ({exc.strerror or exc}); "
            "choose another --out"
        ) from None
    if path.exists() and path.resolve() != default.resolve():
        raise ThalamusError(
            f"--out {path} already exists; export writes only new files "
            "(or the default RUN_DIR/" + PROFILES_NAME + ")"
        )
