"""The Parquet lake: every landed raw batch also written as one Parquet file, for engines other than DuckDB.

Layout: ``<lake>/raw/<table>/<batch_id>.parquet``, one file per ``_batch_id``; the file name is the batch,
so the lake knows which batches it holds without a catalogue. The warehouse's ``raw`` schema stays the
system of record: after each ingestion the batches the lake lacks are exported, so a crash between the two
only delays a batch to the next run. A file is written under a hidden temporary name and renamed into its
table folder, so a reader sees a whole batch or none of it (Spark skips names starting with ``.`` or
``_``; DuckDB's glob does not, so a temporary is never a match of ``<table>/*.parquet``). The same layout
under ``s3://bucket/lake/raw/`` serves a cluster (docs/scale-out.md).

Retention reaches the lake too: when raw has lost rows of an old batch, its file is rewritten under the
same name with the rows raw kept, or removed when none are left (``sync_batches``, run by the privacy stage).
Erasure likewise: the batches an erasure changed in raw are written again from raw (``rewrite_batches``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from lifecycle.errors import LifecycleError
from lifecycle.storage import quote_ident, quote_literal

#: Suffix of a batch's file in its table folder.
SUFFIX = ".parquet"
#: Bookkeeping tables that dbt reads as sources but that are not appended by batches (the erasure log is
#: updated in place): the lake holds each as one file, ``snapshot.parquet``, replaced whole on every export.
SNAPSHOT_TABLES = ("_erasure_requests",)
SNAPSHOT_FILE = "snapshot" + SUFFIX


def raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The landed raw tables (bookkeeping tables such as ``_ingest_log`` start with ``_``)."""
    rows = con.execute(
        "select table_name from information_schema.tables"
        " where table_schema = 'raw' and table_type = 'BASE TABLE' and table_name not like '\\_%' escape '\\'"
        " order by table_name"
    ).fetchall()
    return [row[0] for row in rows]


def lake_batches(table_dir: Path) -> set[str]:
    """The batch ids a table folder of the lake holds (whole files only: temporaries are hidden)."""
    if not table_dir.is_dir():
        return set()
    return {p.name.removesuffix(SUFFIX) for p in table_dir.glob(f"*{SUFFIX}") if not p.name.startswith(".")}


def export_new_batches(con: duckdb.DuckDBPyConnection, lake_dir: Path) -> dict[str, int]:
    """Write each raw batch missing from ``lake_dir/raw/<table>/``; returns batches written per table.

    One scan per table writes every missing batch (partitioned by ``_batch_id`` into a private temporary
    folder), then each file is renamed into place: a rename within one file system is atomic.
    """
    written: dict[str, int] = {}
    raw_dir = lake_dir / "raw"
    # Raw batches hold personal data (the application's row images), as the warehouse does: owner only.
    raw_dir.mkdir(parents=True, exist_ok=True)
    lake_dir.chmod(0o700)
    # Scratch folders of an export that was killed: ingestion holds the data directory's lock, so no
    # other export is writing them.
    for stale in raw_dir.glob(".export-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for table in raw_tables(con):
        table_dir = raw_dir / table
        known = sorted(lake_batches(table_dir))
        relation = f"raw.{quote_ident(table)}"
        known_list = "[" + ", ".join(quote_literal(batch) for batch in known) + "]::varchar[]"
        missing_filter = f"not list_contains({known_list}, _batch_id)"
        (missing,) = con.execute(  # type: ignore[misc]
            f"select count(distinct _batch_id) from {relation} where {missing_filter}"
        ).fetchone()
        if not missing:
            continue
        table_dir.mkdir(parents=True, exist_ok=True)
        scratch = raw_dir / f".export-{table}-{uuid.uuid4().hex[:8]}"
        try:
            con.execute(
                f"copy (select * from {relation} where {missing_filter}) to {quote_literal(str(scratch))}"
                " (format parquet, compression zstd, partition_by (_batch_id), write_partition_columns true,"
                " filename_pattern 'part_{i}')"
            )
            count = 0
            for part_dir in sorted(scratch.glob("_batch_id=*")):
                files = sorted(part_dir.glob(f"*{SUFFIX}"))
                batch = part_dir.name.removeprefix("_batch_id=")
                target = table_dir / f"{batch}{SUFFIX}"
                if len(files) != 1:
                    raise LifecycleError(
                        f"lake export of raw.{table}, batch {batch}: {len(files)} files in {part_dir}"
                    )
                _fsync(files[0])
                os.replace(files[0], target)
                count += 1
            _fsync(table_dir)
            written[table] = count
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    for table in SNAPSHOT_TABLES:
        export_snapshot(con, lake_dir, table)
    return written


def export_snapshot(con: duckdb.DuckDBPyConnection, lake_dir: Path, table: str) -> Path:
    """Replace ``lake_dir/raw/<table>/snapshot.parquet`` with the table's current rows (an empty table too:
    a reader such as Spark cannot infer the schema of a folder without files)."""
    table_dir = lake_dir / "raw" / table
    table_dir.mkdir(parents=True, exist_ok=True)
    target = table_dir / SNAPSHOT_FILE
    scratch = table_dir / f".{SNAPSHOT_FILE}.{uuid.uuid4().hex[:8]}"
    try:
        con.execute(
            f"copy (select * from raw.{quote_ident(table)} order by all) to {quote_literal(str(scratch))}"
            " (format parquet, compression zstd)"
        )
        _fsync(scratch)
        os.replace(scratch, target)
        _fsync(table_dir)
    finally:
        scratch.unlink(missing_ok=True)
    return target


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a renamed batch survives a power loss whole."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Hidden name prefix of a file being rewritten by ``sync_batches``.
SYNC_PREFIX = ".sync-"


def sync_batches(con: duckdb.DuckDBPyConnection, lake_dir: Path, batches: Iterable[str]) -> dict[str, int]:
    """Make the lake's file of each of ``batches`` hold exactly the rows raw still has for that batch;
    returns the rows removed from the lake per table.

    Retention deletes raw rows of old batches; this is how the lake follows. A file whose row count
    differs from raw's is rewritten under its own name (so ``export_new_batches`` still knows the batch)
    or deleted when raw has no row of the batch left (a batch with no rows is never exported again).
    Comparing counts rather than acting on what was just deleted heals a run that stopped between the
    delete in raw and this sync: the next run finds the counts still differ.
    """
    wanted = set(batches)
    removed: dict[str, int] = {}
    raw_dir = lake_dir / "raw"
    if not wanted or not raw_dir.is_dir():
        return removed
    for table in raw_tables(con):
        table_dir = raw_dir / table
        # A rewrite that was killed leaves its temporary: it holds rows retention removed, so it goes.
        for stale in table_dir.glob(f"{SYNC_PREFIX}*"):
            stale.unlink(missing_ok=True)
        held = sorted(lake_batches(table_dir) & wanted)
        if not held:
            continue
        relation = f"raw.{quote_ident(table)}"
        batch_list = "[" + ", ".join(quote_literal(batch) for batch in held) + "]::varchar[]"
        in_raw = dict(
            con.execute(
                f"select _batch_id, count(*) from {relation} where list_contains({batch_list}, _batch_id)"
                " group by _batch_id"
            ).fetchall()
        )
        files = [str(table_dir / f"{batch}{SUFFIX}") for batch in held]
        # The footers' row counts: no data page is read.
        in_lake = {
            Path(name).name.removesuffix(SUFFIX): int(rows)
            for name, rows in con.execute(
                "select file_name, sum(num_rows) from parquet_file_metadata(?) group by file_name", [files]
            ).fetchall()
        }
        for batch in held:
            kept, held_rows = int(in_raw.get(batch, 0)), in_lake[batch]
            if kept == held_rows:
                continue
            target = table_dir / f"{batch}{SUFFIX}"
            if kept:
                _write_batch(con, relation, batch, target)
            else:
                target.unlink()
            removed[table] = removed.get(table, 0) + held_rows - kept
        if table in removed:
            _fsync(table_dir)
    return removed


def rewrite_batches(
    con: duckdb.DuckDBPyConnection, lake_dir: Path, batches: Mapping[str, Iterable[str]]
) -> int:
    """Write the lake's file of each batch again from raw's rows (per table, its batch ids): after an
    erasure has changed those rows in raw, the lake holds what raw holds. A batch raw no longer has is
    removed; one the lake never had is left to ``export_new_batches``. Returns the files written or
    removed."""
    changed = 0
    for table, ids in sorted(batches.items()):
        table_dir = lake_dir / "raw" / table
        held = sorted(lake_batches(table_dir) & set(ids))
        if not held:
            continue
        relation = f"raw.{quote_ident(table)}"
        batch_list = "[" + ", ".join(quote_literal(batch) for batch in held) + "]::varchar[]"
        in_raw = {
            batch
            for (batch,) in con.execute(
                f"select distinct _batch_id from {relation} where list_contains({batch_list}, _batch_id)"
            ).fetchall()
        }
        for batch in held:
            target = table_dir / f"{batch}{SUFFIX}"
            if batch in in_raw:
                _write_batch(con, relation, batch, target)
            else:
                target.unlink()
            changed += 1
        _fsync(table_dir)
    return changed


def _write_batch(con: duckdb.DuckDBPyConnection, relation: str, batch: str, target: Path) -> None:
    """Replace ``target`` with raw's rows of ``batch``: written under a hidden name, then renamed."""
    # Hidden, and not ending in the suffix: a reader's ``*.parquet`` glob (DuckDB's includes hidden
    # names) never picks up a file being written.
    scratch = target.with_name(f"{SYNC_PREFIX}{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        con.execute(
            f"copy (select * from {relation} where _batch_id = {quote_literal(batch)})"
            f" to {quote_literal(str(scratch))} (format parquet, compression zstd)"
        )
        _fsync(scratch)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
