"""Every place under the data directory that can hold a copy of a person's data, in one list.

Each store is a set of files and the way its format is redacted: a DuckDB database is copied once into a
fresh file, each table's rows redacted on the way (``storage.rewrite_database``), and swapped in with one
rename (an analyst session keeps the file it opened; the old file is only read, so no removed value reaches
a block of the new one, free or used); Parquet and CSV files are rewritten the same way; any other
file (the docs site, run reports, JSON records, logs) has the identifiers replaced in its bytes. The
warehouse itself is redacted in place by the stage (it is the one file the pipeline writes) and then
rewritten (``storage.rewrite_database``).

A new copy of the data gets its own entry here — the Parquet lake is one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.privacy.redaction import (
    Erasure,
    identifiers_found_sql,
    redact_bytes,
    redact_catalog,
    redacted_rows,
)
from lifecycle.storage import connect, quote_ident, quote_literal, rewrite_database


@dataclass(frozen=True)
class Store:
    name: str
    #: Globs relative to the data directory.
    patterns: tuple[str, ...]
    #: "duckdb", "parquet", "csv" or "text".
    kind: str


STORES: tuple[Store, ...] = (
    # Every publication folder, the previous one too: an analyst may still read it.
    Store("published databases", ("publications/*/analytics.duckdb",), "duckdb"),
    Store("Parquet exports", ("publications/*/exports/**/*.parquet",), "parquet"),
    Store("CSV exports (CRM)", ("publications/*/exports/**/*.csv",), "csv"),
    Store("Parquet lake", ("lake/**/*.parquet",), "parquet"),
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
    redact = {"duckdb": _duckdb_file, "parquet": _table_file, "csv": _table_file, "text": _text_file}[
        store.kind
    ]
    return sum(redact(settings, path, erasure) for path in files(settings, store))


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


def _table_file(settings: Settings, path: Path, erasure: Erasure) -> int:
    csv = path.suffix == ".csv"
    reader = (
        f"read_csv({quote_literal(path)}, header = true, all_varchar = true)"
        if csv
        else (f"read_parquet({quote_literal(path)})")
    )
    with connect(settings=settings) as con:
        if not _holds_erased_rows(con, reader, erasure):
            return 0  # a file is only loaded when it holds something to redact
        con.execute(f"create table main.file_rows as select * from {reader}")
        rows = sum(redact_catalog(con, "memory", erasure).values())
        if rows:
            tmp = path.with_name(f".{path.name}.redacted")
            options = "format csv, header true" if csv else "format parquet"
            con.execute(f"copy main.file_rows to {quote_literal(tmp)} ({options})")
            os.replace(tmp, path)
    return rows


def _holds_erased_rows(con: duckdb.DuckDBPyConnection, reader: str, erasure: Erasure) -> bool:
    """Whether a file has rows of an erased customer with a personal column still set, or text holding an
    identifier being erased now (one scan of a few columns, so the lake's files can be checked on every
    run without loading them)."""
    described = con.execute(f"select * from {reader} limit 0").description
    names = [d[0] for d in described]
    text = [quote_ident(d[0]) for d in described if str(d[1]) == "VARCHAR"]
    found = identifiers_found_sql(erasure, text)
    if found:
        row = con.execute(f"select count(*) from {reader} where {found}").fetchone()
        if row and row[0]:
            return True
    personal = [quote_ident(c) for c in names if c in erasure.personal_columns and c != "customer_id"]
    if "customer_id" in names and personal:
        row = con.execute(
            f"select count(*) from {reader} where try_cast(customer_id as bigint) in ({erasure.ids_sql})"
            f" and ({' or '.join(f'{c} is not null' for c in personal)})"
        ).fetchone()
        if row and row[0]:
            return True
    if "raw_text" in names:
        keys = ", ".join(quote_literal(k) for k in sorted(erasure.personal_columns - {"customer_id"}))
        row = con.execute(
            f"select count(*) from {reader} where json_valid(raw_text) and"
            f" try_cast(json_extract_string(raw_text, '$.customer_id') as bigint) in ({erasure.ids_sql})"
            f" and list_has_any(json_keys(raw_text), [{keys}])"
        ).fetchone()
        return bool(row and row[0])
    return False


def _text_file(settings: Settings, path: Path, erasure: Erasure) -> int:
    data = path.read_bytes()
    redacted = redact_bytes(data, erasure.identifiers)
    if redacted == data:
        return 0
    tmp = path.with_name(f".{path.name}.redacted")
    tmp.write_bytes(redacted)
    os.chmod(tmp, path.stat().st_mode)
    os.replace(tmp, path)
    return 1
