"""Writing results so that nothing half-written ever carries a final name.

Three pieces:

* :class:`Staging` keeps each finished task's rows as a part file inside the
  output directory (``.staging/``), with its SHA-256 beside it, as tasks
  finish. A resumed run reuses every part whose digest still matches.
* :class:`ResultWriter` takes parts in well order and streams them into a
  Parquet file and an SQLite database under temporary names, in fixed-size row
  groups (so the files do not depend on how wells were grouped into tasks).
  :meth:`ResultWriter.commit` renames them into place; :meth:`abort` removes
  them.
* :func:`output_lock` stops two runs from writing one directory at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from thalamus import schema
from thalamus.design import Design
from thalamus.errors import ThalamusError
from thalamus.simulate import COMPUTED_COLUMNS

logger = logging.getLogger(__name__)

#: Rows per Parquet row group and per SQLite transaction batch.
ROW_GROUP_SIZE = 65_536
STAGING_DIR = ".staging"
LOCK_NAME = ".thalamus.lock"


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def output_lock(out_dir: Path, name: str | None = None):
    """Hold an exclusive lock on ``out_dir`` (or on file ``name`` in it)."""
    path = out_dir / (LOCK_NAME if name is None else f".{name}.lock")
    try:
        handle = open(path, "a")
    except OSError as exc:
        raise ThalamusError(
            f"{out_dir}: cannot write here ({exc.strerror or exc}); "
            "choose another --out"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        what, option = (
            (out_dir, "--out") if name is None else (out_dir / name, "--db-path")
        )
        raise ThalamusError(
            f"{what}: another thalamus run is writing here; wait for it to "
            f"finish or choose another {option}"
        ) from None
    try:
        yield
        # Finished: drop the lock file while still holding the lock.
        path.unlink(missing_ok=True)
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class Staging:
    """Part files of finished tasks, kept until the run commits."""

    def __init__(self, out_dir: Path, identity: dict, resume: bool):
        self.path = out_dir / STAGING_DIR
        self.identity = identity
        ledger = self.path / "staging.json"
        if self.path.exists() and resume:
            previous = _read_json(ledger)
            if previous != identity:
                raise ThalamusError(
                    f"{out_dir}: cannot --resume: the staged parts were made with "
                    f"{_difference(previous, identity)}; rerun without --resume "
                    "to start over"
                )
        elif self.path.exists():
            count = len(list(self.path.glob("part-*.arrow")))
            logger.info("discarding %d staged parts of an earlier run", count)
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(ledger, identity)

    def _part(self, start: int, stop: int) -> Path:
        return self.path / f"part-{start:012d}-{stop:012d}.arrow"

    def is_complete(self, start: int, stop: int) -> bool:
        """True when the part exists whole (digest and row count match)."""
        part = self._part(start, stop)
        sidecar = part.with_suffix(".sha256")
        if not (part.exists() and sidecar.exists()):
            return False
        if sha256_file(part) != sidecar.read_text().strip():
            logger.info("staged part %s is damaged; recomputing it", part.name)
            return False
        return True

    def write(self, start: int, stop: int, computed: dict) -> None:
        """Store one task's computed columns (Arrow IPC), then its digest."""
        import pyarrow as pa

        part = self._part(start, stop)
        table = pa.table({name: computed[name] for name, _ in COMPUTED_COLUMNS})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as ipc:
            ipc.write_table(table)
        data = sink.getvalue()
        tmp = part.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, part)
        digest = hashlib.sha256(data).hexdigest()
        _write_text_atomic(part.with_suffix(".sha256"), digest)

    def read(self, start: int, stop: int) -> dict:
        """The computed columns of a staged part."""
        import pyarrow as pa

        with pa.memory_map(str(self._part(start, stop))) as source:
            table = pa.ipc.open_file(source).read_all()
        if table.num_rows != stop - start:
            raise ThalamusError(f"{self._part(start, stop)}: wrong row count")
        return {name: table.column(name).to_numpy() for name, _ in COMPUTED_COLUMNS}

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class ResultWriter:
    """Stream rows, in well order, into temporary Parquet and SQLite files."""

    def __init__(self, design: Design, parquet_path: Path, sqlite_path: Path):
        import pyarrow.parquet as pq

        self.design = design
        self.final = {"parquet": parquet_path, "sqlite": sqlite_path}
        # The process id keeps two runs that share a --db-path apart.
        self.tmp = {
            k: p.with_name(f".{p.name}.{os.getpid()}.tmp")
            for k, p in self.final.items()
        }
        for path in self.tmp.values():
            path.unlink(missing_ok=True)
        self._parquet = pq.ParquetWriter(
            str(self.tmp["parquet"]), schema.arrow_schema(), compression="zstd"
        )
        self._sqlite = _SqliteWriter(self.tmp["sqlite"], design)
        self._buffer: list[dict] = []
        self._buffered = 0
        self.rows_written = 0

    def add(self, computed: dict) -> None:
        """Append the next rows (they must follow the previous ones)."""
        self._buffer.append(computed)
        self._buffered += len(computed["viability"])
        while self._buffered >= ROW_GROUP_SIZE:
            self._flush(ROW_GROUP_SIZE)

    def _flush(self, n: int) -> None:
        merged = {
            name: np.concatenate([part[name] for part in self._buffer])
            for name, _ in COMPUTED_COLUMNS
        }
        head = {name: values[:n] for name, values in merged.items()}
        rest = {name: values[n:] for name, values in merged.items()}
        self._buffer = [rest] if len(rest["viability"]) else []
        self._buffered -= n
        table = schema.arrow_table(self.design, self.rows_written, head)
        self._sqlite.put(table)
        self._parquet.write_table(table, row_group_size=n)
        self.rows_written += n

    def close(self) -> dict:
        """Finish both files; return their SHA-256 by kind."""
        if self._buffered:
            self._flush(self._buffered)
        self._parquet.close()
        self._sqlite.close()
        return {kind: sha256_file(path) for kind, path in self.tmp.items()}

    def commit(self) -> None:
        """Rename the finished files to their final names."""
        for kind, path in self.tmp.items():
            os.replace(path, self.final[kind])

    def abort(self) -> None:
        """Drop the temporary files (after an error or an interrupt)."""
        with contextlib.suppress(Exception):
            self._parquet.close()
        self._sqlite.abort()
        for path in self.tmp.values():
            path.unlink(missing_ok=True)


class _SqliteWriter:
    """Inserts row groups into the SQLite file from a thread of its own.

    SQLite releases the GIL while it writes pages, so the inserts overlap with
    the Parquet writer and with receiving results. Row groups go through a
    short queue in order; the first error is raised again by :meth:`close`.
    """

    _DONE = object()

    def __init__(self, path: Path, design: Design):
        import queue
        import threading

        self.path, self.design = path, design
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="thalamus-sqlite")
        self.thread.daemon = True
        self.thread.start()

    def _work(self) -> None:
        db, finished = None, False
        try:
            db = _open_sqlite(self.path)
            while (table := self.queue.get()) is not self._DONE:
                if table is None:  # aborted
                    return
                _insert_rows(db, table)
            finished = True  # the end marker is taken: nothing more will come
            _finish_sqlite(db, self.design)
        except BaseException as exc:  # handed to the caller by close()
            self.error = exc
            while not finished:
                item = self.queue.get()
                finished = item is self._DONE or item is None
        finally:
            if db is not None:
                db.close()

    def put(self, table) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(table)

    def close(self) -> None:
        self.queue.put(self._DONE)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout=30)


def _open_sqlite(path: Path):
    import sqlite3

    db = sqlite3.connect(str(path), isolation_level=None)
    # One writer, a temporary file renamed at the end: no journal needed.
    db.execute("PRAGMA page_size=4096")  # fixed, so files match across builds
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-65536")
    columns = ", ".join(
        f"{name} {schema.SQLITE_TYPES[kind]}" for name, kind in schema.RESULT_COLUMNS
    )
    db.execute(f"CREATE TABLE {schema.RESULTS_TABLE} ({columns})")
    db.execute("BEGIN")
    return db


def _python_values(column, kind: str) -> list:
    """A pyarrow column as a list of Python values SQLite can bind."""
    if kind == "str":
        # Map dictionary indices through the (short) dictionary: far faster
        # than decoding every string.
        chunk = column.combine_chunks()
        names = np.array(chunk.dictionary.to_pylist() + [None], dtype=object)
        indices = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
        if chunk.null_count:
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            indices = np.where(valid, indices, len(names) - 1)
        return names[indices].tolist()
    if column.null_count:
        return column.to_pylist()
    values = column.to_numpy()
    return values.astype(np.int64).tolist() if kind == "bool" else values.tolist()


def _insert_rows(db, table) -> None:
    values = [
        _python_values(table.column(name), kind) for name, kind in schema.RESULT_COLUMNS
    ]
    marks = ", ".join("?" * len(values))
    db.executemany(f"INSERT INTO {schema.RESULTS_TABLE} VALUES ({marks})", zip(*values))
    logger.debug("inserted %d rows into %s", table.num_rows, schema.RESULTS_TABLE)


def _finish_sqlite(db, design: Design) -> None:
    spec = design.spec
    db.execute(
        f"CREATE UNIQUE INDEX {schema.RESULTS_TABLE}_well "
        f"ON {schema.RESULTS_TABLE} (plate_id, well_id)"
    )
    db.execute(
        f"CREATE TABLE {schema.DESIGNS_TABLE} (design_id TEXT PRIMARY KEY, name TEXT, "
        "seed TEXT, model_version TEXT, spec_digest TEXT, spec_json TEXT, "
        "n_wells INTEGER, n_plates INTEGER, n_sentinel_wells INTEGER)"
    )
    from thalamus.model.parameters import MODEL_VERSION

    db.execute(
        f"INSERT INTO {schema.DESIGNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            spec.design_id(),
            spec.name,
            str(spec.seed),
            MODEL_VERSION,
            spec.digest(),
            json.dumps(spec.canonical(), sort_keys=True),
            design.n_wells,
            len(design.plates),
            design.n_sentinel_wells,
        ),
    )
    db.execute("COMMIT")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _difference(previous, current: dict) -> str:
    if not isinstance(previous, dict):
        return "an unreadable ledger"
    changed = [k for k in current if previous.get(k) != current[k]]
    return "another " + ", ".join(changed) if changed else "other settings"


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json_atomic(path: Path, data) -> None:
    _write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_manifest(path: Path, manifest: dict) -> None:
    """Write the run manifest atomically (it is the last file to appear)."""
    _write_json_atomic(path, manifest)
