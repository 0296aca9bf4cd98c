"""Where a run's files go, and what a run may create or replace there.

Every check here runs before anything on disk changes: a refused run leaves
the disk as it found it (folders it created are removed again).
"""

from __future__ import annotations

import functools
from pathlib import Path

from thalamus import config, schema
from thalamus.errors import ThalamusError
from thalamus.spec import CampaignSpec


def output_paths(spec: CampaignSpec, out=None, db_path=None) -> tuple[Path, Path, Path]:
    """(output directory, Parquet path, SQLite path) for a run."""
    template = config.get("out-dir", default="runs/{name}-seed{seed}")
    out_dir = (
        Path(out) if out else Path(template.format(name=spec.name, seed=spec.seed))
    )
    sqlite = Path(db_path) if db_path else out_dir / schema.SQLITE_NAME
    return out_dir, out_dir / schema.PARQUET_NAME, sqlite


def _unusable_path_is_input_error(check):
    """Turn an OS error while inspecting paths into a one-line input error."""

    @functools.wraps(check)
    def checked(out_dir: Path, *args):
        try:
            return check(out_dir, *args)
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise ThalamusError(
                f"{exc.filename or out_dir}: unusable output path "
                f"({exc.strerror or exc}); choose another --out or --db-path"
            ) from None

    return checked


@_unusable_path_is_input_error
def check_paths(out_dir: Path, parquet: Path, sqlite: Path) -> None:
    """Refuse an SQLite path that would overwrite another output or a folder."""
    taken = {parquet.resolve(): "the Parquet file"}
    taken[(out_dir / schema.MANIFEST_NAME).resolve()] = "the manifest"
    if sqlite.resolve() in taken:
        raise ThalamusError(
            f"--db-path {sqlite} is {taken[sqlite.resolve()]}'s path; "
            "give the SQLite mirror a path of its own"
        )
    staging = (out_dir / ".staging").resolve()
    if staging == sqlite.resolve().parent or staging in sqlite.resolve().parents:
        raise ThalamusError(
            f"--db-path {sqlite} is inside the staging folder, which is removed "
            "after the run; choose another path"
        )
    for path, what in ((out_dir, "--out"), (sqlite, "--db-path")):
        blocked = next((p for p in (path, *path.parents) if p.is_file()), None)
        if blocked is not None and not (path == sqlite and blocked == sqlite):
            raise ThalamusError(
                f"{what} {path}: {blocked} is a file, not a directory; "
                "choose another path"
            )
    if sqlite.is_dir():
        raise ThalamusError(f"--db-path {sqlite} is a directory; give a file path")


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return those created."""
    missing = []
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_unused(missing)
        raise ThalamusError(
            f"{path}: cannot create this folder ({exc.strerror or exc}); "
            "choose another --out or --db-path"
        ) from None
    return missing


def remove_if_unused(created: list[Path]) -> None:
    """Remove the folders this run created, if they hold only the lock file."""
    from thalamus.writers import LOCK_NAME

    for folder in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
        try:
            if folder.is_dir() and {p.name for p in folder.iterdir()} <= {LOCK_NAME}:
                (folder / LOCK_NAME).unlink(missing_ok=True)
                folder.rmdir()
        except OSError:  # unusable name, or someone else's files: leave it
            continue


#: How each output file starts; --overwrite replaces only files that do.
_MAGIC = {".parquet": b"PAR1", ".json": b"{"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


@_unusable_path_is_input_error
def refuse_existing(out_dir: Path, paths, overwrite: bool) -> None:
    existing = [p for p in (*paths, out_dir / schema.MANIFEST_NAME) if p.exists()]
    if not existing:
        return
    option = "--db-path" if existing[0] == paths[-1] else "--out"
    if not overwrite:
        raise ThalamusError(
            f"{existing[0]} already exists; pass --overwrite to replace it or "
            f"choose another {option}"
        )
    for path in existing:
        magic = _MAGIC.get(path.suffix, _SQLITE_MAGIC)
        if not path.is_file() or not _starts_with(path, magic):
            raise ThalamusError(
                f"{path} exists and is not a thalamus result; --overwrite replaces "
                f"only earlier results: move it or choose another {option}"
            )


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(magic)) == magic
