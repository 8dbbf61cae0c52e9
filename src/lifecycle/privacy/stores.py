"""Every place under the data directory that can hold a copy of a person's data, in one list.

Each store is a set of files and the way its format is redacted: a DuckDB database is copied once into a
fresh file, each table's rows redacted on the way (``storage.rewrite_database``), and swapped in with one
rename (an analyst session keeps the file it opened; the old file is only read, so no removed value reaches
a block of the new one, free or used); Parquet and CSV files are rewritten the same way; any other
file (the docs site, run reports, JSON records, logs) has the identifiers replaced in its bytes. The
warehouse itself is redacted in place by the stage (it is the one file the pipeline writes) and then
rewritten (``storage.rewrite_database``). The Parquet lake, a copy of raw batch by batch, is written again
from redacted raw by the stage for the batches raw names (``raw_batches_to_redact``).

A new copy of the data gets its own entry here — the Parquet lake is one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.ingest.lake import raw_tables
from lifecycle.privacy.redaction import (
    Erasure,
    erased_rows_sql,
    redact_bytes,
    redact_catalog,
    redacted_rows,
    table_columns,
)
from lifecycle.storage import connect, one_row, quote_ident, quote_literal, rewrite_database, write_atomic


@dataclass(frozen=True)
class Store:
    name: str
    #: Globs relative to the data directory.
    patterns: tuple[str, ...]
    #: "duckdb", "parquet", "csv" or "text".
    kind: str


#: The privacy stage writes the lake's batches again from redacted raw (``raw_batches_to_redact``) rather
#: than reading every file; ``redact_store`` on it reads them all.
LAKE = Store("Parquet lake", ("lake/**/*.parquet",), "parquet")
STORES: tuple[Store, ...] = (
    # Every publication folder on disk: the stage first removes those that are no longer current
    # (publish.remove_superseded), so with a current publication this is the current one alone.
    Store("published databases", ("publications/*/analytics.duckdb",), "duckdb"),
    Store("Parquet exports", ("publications/*/exports/**/*.parquet",), "parquet"),
    Store("CSV exports (CRM)", ("publications/*/exports/**/*.csv",), "csv"),
    LAKE,
    Store("pull-request database", ("ci/*.duckdb",), "duckdb"),
    Store("docs site", ("site/**/*",), "text"),
    Store("pipeline records", ("state/**/*", "lineage/**/*", "ci/**/*"), "text"),
)

#: Never rewritten here: the simulated source systems (the shop's own database and files, outside the
#: platform), benchmark worlds (other data directories), DuckDB's spill files, the salt and the lock.
EXCLUDED = ("sources", "bench", "tmp", "dagster")
PRIVATE_FILES = ("state/pii_salt", "state/lock")
#: Formats the text rule must not touch (binary, or handled by their own store).
BINARY_SUFFIXES = {".duckdb", ".wal", ".parquet", ".gz", ".png", ".jpg", ".sqlite", ".db", ".pyc"}


def files(settings: Settings, store: Store) -> Iterator[Path]:
    root = settings.data_dir
    seen: set[Path] = set()
    for pattern in store.patterns:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root)
            # A file reached twice (``publications/current`` links to a publication folder) is redacted once.
            if path.resolve() in seen or path.is_symlink() or not path.is_file():
                continue
            if relative.parts[0] in EXCLUDED or str(relative) in PRIVATE_FILES:
                continue
            if relative.parts[0] == "publications" and relative.parts[1].startswith("."):
                continue  # an unfinished publication, removed by the next publish
            if store.kind == "text" and (path.suffix in BINARY_SUFFIXES or path.suffix == ".csv"):
                continue
            seen.add(path.resolve())
            yield path


def redact_store(settings: Settings, store: Store, erasure: Erasure) -> int:
    """Apply the erasure to every file of ``store``; rows (or text files) changed."""
    if store.kind in ("parquet", "csv"):
        with connect(settings=settings) as con:  # one in-memory database loads each file in turn
            return sum(_table_file(con, path, erasure) for path in files(settings, store))
    redact = {"duckdb": _duckdb_file, "text": _text_file}[store.kind]
    return sum(redact(settings, path, erasure) for path in files(settings, store))


def raw_batches_to_redact(con: duckdb.DuckDBPyConnection, erasure: Erasure) -> dict[str, list[str]]:
    """Per raw table, the ``_batch_id`` of every batch with rows the erasure changes (``con``: the
    warehouse, before the erasure is applied to raw): one scan of raw, after which only those batches
    are redacted in raw and written again to the lake (``ingest.lake.rewrite_batches``), where reading
    every batch of raw and every file of the lake on every run would cost as much as the history held."""
    batches = {}
    (catalog,) = one_row(con, "select current_database()")
    for table in raw_tables(con):
        columns = table_columns(con, catalog, "raw", table)
        found = erased_rows_sql(columns, erasure)
        if found is None or "_batch_id" not in columns:
            continue
        relation = f"raw.{quote_ident(table)}"
        rows = con.execute(f"select distinct _batch_id from {relation} where {found} order by 1").fetchall()
        if rows:
            batches[table] = [batch for (batch,) in rows]
    return batches


def _duckdb_file(settings: Settings, path: Path, erasure: Erasure) -> int:
    """Rewrite a database with the erasure applied to its rows; rows changed. A file whose rows need no
    change is rewritten too: a publication started from its predecessor keeps the values of the marts it
    replaced in free blocks, which can hold the person (``publish``)."""
    changed = 0

    def redacted(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> str:
        nonlocal changed
        query, rows = redacted_rows(con, catalog, schema, table, erasure)
        changed += rows
        return query

    rewrite_database(path, settings=settings, rows=redacted)
    return changed


def _table_file(con: duckdb.DuckDBPyConnection, path: Path, erasure: Erasure) -> int:
    csv = path.suffix == ".csv"
    reader = (
        f"read_csv({quote_literal(path)}, header = true, all_varchar = true)"
        if csv
        else (f"read_parquet({quote_literal(path)})")
    )
    if not _holds_erased_rows(con, reader, erasure):
        return 0  # a file is only loaded when it holds something to redact
    con.execute(f"create or replace table main.file_rows as select * from {reader}")
    try:
        rows = sum(redact_catalog(con, "memory", erasure, only_schema="main").values())
        if rows:
            tmp = path.with_name(f".{path.name}.redacted")
            options = "format csv, header true" if csv else "format parquet"
            con.execute(f"copy main.file_rows to {quote_literal(tmp)} ({options})")
            os.replace(tmp, path)
    finally:
        con.execute("drop table main.file_rows")
    return rows


def _holds_erased_rows(con: duckdb.DuckDBPyConnection, reader: str, erasure: Erasure) -> bool:
    """Whether a file has a row the erasure changes (one scan of a few columns, so that a file is only
    loaded and rewritten when it holds something to redact)."""
    described = con.execute(f"select * from {reader} limit 0").description
    found = erased_rows_sql({d[0]: str(d[1]) for d in described}, erasure)
    if found is None:
        return False
    row = con.execute(f"select count(*) from {reader} where {found}").fetchone()
    return bool(row and row[0])


def _text_file(settings: Settings, path: Path, erasure: Erasure) -> int:
    data = path.read_bytes()
    redacted = redact_bytes(data, erasure.identifiers)
    if redacted == data:
        return 0
    write_atomic(path, redacted, mode=stat.S_IMODE(path.stat().st_mode))
    return 1
