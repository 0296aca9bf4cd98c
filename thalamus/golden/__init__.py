"""Golden results: digests of the demo and benchmark outputs for seed 0.

``thalamus/golden/seed0.json`` records, for each campaign, the digest of its
rows (typed row hashes in well order, see :mod:`thalamus.compare`) and the
SHA-256 of each output file, with the model version that produced them. The
test suite reruns both campaigns and fails when the rows change while
``MODEL_VERSION`` stays the same.

A deliberate model change bumps ``MODEL_VERSION`` in
``thalamus/model/parameters.py`` and refreshes the file::

    python -m thalamus.golden --refresh
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

GOLDEN_FILE = Path(__file__).with_name("seed0.json")
CAMPAIGNS = ("demo", "benchmark")
SEED = 0


def rows_digest(path) -> str:
    """SHA-256 over the typed row hashes of a result file, in well order.

    Unlike a file's SHA-256 it does not change with the Parquet writer's
    version or SQLite's page layout, only with the values.
    """
    from thalamus.compare import read_result, row_digest

    table = read_result(path).tables["thalamus_results"]
    hasher = hashlib.sha256()
    for key in sorted(table.rows):
        hasher.update(row_digest(table.rows[key]))
    return hasher.hexdigest()


def digests(work_dir) -> dict:
    """Run each golden campaign (seed 0, synchronous) into ``work_dir``."""
    import sqlite3

    import pyarrow

    from thalamus.model.parameters import MODEL_VERSION
    from thalamus.validate import campaign_file, run_quietly

    out = {"model_version": MODEL_VERSION, "seed": SEED, "campaigns": {}}
    # File bytes depend on these writers' versions; the rows do not.
    out["writers"] = {"pyarrow": pyarrow.__version__, "sqlite": sqlite3.sqlite_version}
    for name in CAMPAIGNS:
        from thalamus.runner import resolve_spec

        spec = resolve_spec(campaign_file(name), seed=SEED)
        result = run_quietly(spec, Path(work_dir) / name, "synchronous", 1)
        out["campaigns"][name] = {
            "design_id": spec.design_id(),
            "rows": result.n_wells,
            "rows_sha256": rows_digest(result.parquet),
            "files_sha256": {
                p.name: _sha256(p) for p in (result.parquet, result.sqlite)
            },
        }
    return out


def _sha256(path) -> str:
    from thalamus.compare import sha256_file

    return sha256_file(path)


REFRESH_COMMAND = "python -m thalamus.golden --refresh"


def differences(stored: dict, now: dict) -> list[str]:
    """How ``now`` departs from the ``stored`` goldens; empty when it does not.

    File SHA-256s are compared only when the Parquet and SQLite writers are
    the versions that wrote the goldens; the row digests always are.
    """
    if stored["model_version"] != now["model_version"]:
        return [
            f"golden results are for model {stored['model_version']} but the "
            f"model is {now['model_version']}; refresh them: {REFRESH_COMMAND}"
        ]
    out = []
    same_writers = stored.get("writers") == now.get("writers")
    for name, was in stored["campaigns"].items():
        is_ = now["campaigns"].get(name, {})
        keys = ["design_id", "rows", "rows_sha256"]
        keys += ["files_sha256"] if same_writers else []
        for key in keys:
            if was.get(key) != is_.get(key):
                out.append(
                    f"{name}: {key} changed while model version "
                    f"{now['model_version']} did not; bump MODEL_VERSION and run "
                    f"{REFRESH_COMMAND}"
                )
    return out


def load() -> dict:
    """The stored golden digests."""
    return json.loads(GOLDEN_FILE.read_text())


def refresh() -> dict:
    """Recompute the golden digests and write them to :data:`GOLDEN_FILE`."""
    with tempfile.TemporaryDirectory(prefix="thalamus-golden-") as tmp:
        data = digests(tmp)
    GOLDEN_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s", GOLDEN_FILE)
    return data
