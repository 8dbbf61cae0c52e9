"""Storage: every DuckDB connection the package opens, SQL quoting, the raw schema's bookkeeping tables,
and the one way a file is replaced whole (``write_atomic``; a DuckDB file: ``rewrite_database``).

One place decides how DuckDB runs here (threads, memory limit, where it spills; README, "Configuration"),
so no caller can forget a setting. A DuckDB file has one writer or many readers: readers pass
``read_only=True``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.config import Settings, load_settings


def duckdb_config(settings: Settings) -> dict[str, str]:
    """The DuckDB settings of profiles.yml, from the same environment variables and defaults.

    No vacuum at checkpoints, as in dbt's targets: a checkpoint vacuums every table's row groups with
    deleted rows, whoever deleted them, so a connection that wrote one row after a build paid for the
    build's deletes (1.7 s after 112 days). The privacy stage compacts the warehouse by rewriting it
    every ``compact_days`` instead (docs/performance.md, "day_growth").
    """
    temp = os.environ.get("LIFECYCLE_DUCKDB_TEMP_DIR", str(settings.data_dir / "tmp"))
    return {
        "threads": os.environ.get("LIFECYCLE_DUCKDB_THREADS", "2"),
        "memory_limit": os.environ.get("LIFECYCLE_DUCKDB_MEMORY_LIMIT", "4GB"),
        "temp_directory": temp,
        "max_vacuum_tasks": "0",
    }


def connect(
    path: Path | str | None = None, *, read_only: bool = False, settings: Settings | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB database at ``path`` (in memory if None) with the project's settings.

    The connection is a context manager (``with connect(p) as con:`` closes it). A read-only open of a file
    another process is writing fails with DuckDB's lock error; callers that expect a writer say so.
    """
    # DuckDB's stubs take a wider value type, and dict is invariant: widen the declared type, not the values.
    config: dict[str, str | bool | int | float | list[str]] = {**duckdb_config(settings or load_settings())}
    return duckdb.connect(":memory:" if path is None else str(path), read_only=read_only, config=config)


def connect_warehouse(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The working warehouse (``warehouse.duckdb``) of this data directory.

    It holds raw personal data (the application's CDC row images), so it is readable by its owner only.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = connect(settings.warehouse_path, read_only=read_only, settings=settings)
    if not read_only:
        settings.warehouse_path.chmod(0o600)
    return con


def rewrite_database(
    path: Path,
    *,
    settings: Settings | None = None,
    rows: Callable[[duckdb.DuckDBPyConnection, str, str, str], str] | None = None,
) -> tuple[int, int]:
    """Copy the database at ``path`` into a fresh file and swap it in with one rename; sizes before, after.

    Deleted or overwritten values stay in a DuckDB file's free blocks until the file is rewritten, and the
    file never shrinks by itself (``checkpoint`` only marks blocks free). ``rows(con, catalog, schema,
    table)`` gives the query of the rows a table's copy holds (the erasure of a published file that
    analysts may be reading), its columns in the table's order: the fresh file gets the source's catalog
    (schemas, tables, views, macros) and then each table's rows from that query, so the source is read once
    and never written, and a value the query leaves out is nowhere in the new file. Without ``rows`` every
    row is copied as it is (the warehouse's purge). A reader keeps the file it opened; the new one has the
    old one's mode, is on disk (fsync) before the rename, and the leftovers of a run that was killed are
    removed by the next. Needs no other connection to ``path`` open for writing (DuckDB's single writer).
    """
    before = path.stat().st_size
    fresh = path.with_name(f".{path.name}.fresh")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    with connect(settings=settings) as con:
        con.execute(f"attach {quote_literal(path)} as source_db (read_only)")
        con.execute(f"attach {quote_literal(fresh)} as fresh_db")
        if rows is None:
            con.execute("copy from database source_db to fresh_db")
        else:
            con.execute("copy from database source_db to fresh_db (schema)")
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'source_db'"
                " order by 1, 2"
            ).fetchall()
            for schema, table in tables:
                target = ".".join(quote_ident(p) for p in ("fresh_db", schema, table))
                con.execute(f"insert into {target} {rows(con, 'source_db', schema, table)}")
        con.execute("detach fresh_db")
    fd = os.open(fresh, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fresh.chmod(path.stat().st_mode & 0o777)
    os.replace(fresh, path)
    return before, path.stat().st_size


#: The name of ``write_atomic``'s temporary file: ``.<name>.<8 hex digits>.tmp``.
_UNFINISHED_WRITE = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")


def is_unfinished_write(path: Path) -> bool:
    """Whether ``path`` is a temporary file ``write_atomic`` left behind (its process was killed before the
    rename): a listing of a folder's data files leaves it out."""
    return _UNFINISHED_WRITE.fullmatch(path.name) is not None


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Replace the file at ``path`` with ``data`` (text is written as UTF-8), whole or not at all.

    The bytes go to a temporary file in the same folder (created with it if missing), are on disk (fsync)
    and are then renamed over ``path``: a reader, or a crash at any moment, sees the old file or the new
    one, never a part. The new file gets ``mode``, or without it the mode a newly created file gets (the
    umask's); the old file's mode is not carried over unless passed. A write that fails removes its
    temporary file and leaves ``path`` as it was.

    The temporary file's name, ``.<name>.<random>.tmp``, is new for every write, so two processes
    replacing the same file (library callers that do not hold the data directory's lock) never write into
    one temporary file: the last rename wins, whole. A process killed between the write and the rename
    leaves that file behind; it is a file of the folder like any other, so a rule that reads every file
    there (the privacy stage's text rule on ``state/`` and ``site/``) reads, and redacts, it too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    content = data.encode() if isinstance(data, str) else data
    # O_EXCL: never write into (nor, below, remove) a file this call did not create. With a mode given, the
    # file is private until its mode is set, before any byte is written.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with open(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(fd, mode)
            handle.write(content)
            handle.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def one_row(con: duckdb.DuckDBPyConnection, sql: str, parameters: object = None) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate, ``current_database()``).

    DuckDB types ``fetchone()`` as possibly None; this states that the row is there, and names the query
    if it is not.
    """
    row = con.execute(sql, parameters).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row, got none from: {sql}")
    return row


def quote_literal(value: str | Path) -> str:
    """A SQL string literal (paths and values that are not parameters, e.g. in ``attach`` or ``copy``)."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted so that any name (a column called ``order``, a dash) is taken as is."""
    return '"' + name.replace('"', '""') + '"'


#: The raw schema's bookkeeping: what each ingestion batch read and landed, what it quarantined, where each
#: source's change log was read up to, which files have landed, how the sources' schemas drifted, which
#: customers must be forgotten (the key and the reason; a reason that names the person is redacted with
#: them) and what erasure and retention changed in place.
RAW_BOOKKEEPING_DDL = """
create schema if not exists raw;
create table if not exists raw._ingest_log (
    source varchar, batch_id varchar, started_at timestamp, finished_at timestamp,
    rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
    watermark_before varchar, watermark_after varchar, status varchar, error varchar
);
create table if not exists raw._quarantine (
    source varchar, batch_id varchar, source_file varchar, line_number bigint,
    raw_text varchar, reason varchar, quarantined_at timestamp
);
create table if not exists raw._watermarks (
    source varchar primary key, watermark varchar, updated_at timestamp
);
create table if not exists raw._manifest (
    source varchar, path varchar primary key, size bigint, sha256 varchar,
    batch_id varchar, loaded_at timestamp
);
create table if not exists raw._erasure_requests (
    customer_id bigint primary key, source varchar, reason varchar, requested_at timestamp,
    erased_at timestamp
);
create table if not exists raw._privacy_log (
    logged_at timestamp, action varchar, store varchar, rows_changed bigint
);
create table if not exists raw._schema_changes (
    source varchar, entity varchar, field varchar, change varchar,
    detected_in varchar, batch_id varchar, detected_at timestamp
);
"""


def ensure_raw_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_BOOKKEEPING_DDL)
