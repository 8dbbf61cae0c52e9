"""Application database: log-based CDC from the trigger-fed ``change_log`` into ``raw.app_<table>``.

Each run re-reads an overlap window below the watermark (changes whose transaction committed late get a
lower ``change_id`` than ones already read) and anti-joins on ``_change_id``, so re-reading adds nothing.
The watermark is written in the same DuckDB transaction as the rows it covers.

With an as-of, the log is read up to its last change stamped by then (``changed_at``, within the
clock-skew tolerance): the changes after it had not been made yet at the as-of, so they wait for a later
run, as a file waits until it is complete. A change stamped later but logged before that last one was
made before the as-of by a clock that runs ahead: it is quarantined with a ``future:`` reason.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.errors import LifecycleError
from lifecycle.ingest.landing import (
    Batch,
    chunk_rows,
    ensure_raw_table,
    existing_columns,
    future_reason,
    json_struct_type,
    json_types_sql,
    latest_allowed,
    read_watermark,
    text_timestamp_sql,
    transaction,
    type_mismatch_sql,
    typed_fields,
    utc_now,
    value_sql,
    write_watermark,
)
from lifecycle.ingest.schemas import APP_TABLES, LINEAGE_COLUMNS
from lifecycle.storage import quote_literal

SOURCE = "app"
#: How many change ids below the watermark are re-read each run.
OVERLAP_CHANGES = 1_000
#: Changes landed per transaction; bounds memory on a first load of a large history.
CHUNK_CHANGES = 200_000
CDC_COLUMNS = {"_change_id": "BIGINT", "_op": "VARCHAR", "_changed_at": "TIMESTAMP"}
BOOKKEEPING_COLUMNS = set(CDC_COLUMNS) | set(LINEAGE_COLUMNS)


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise LifecycleError(f"application database not found: {path} (run `lifecycle generate` first)")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def load_app(
    con: duckdb.DuckDBPyConnection,
    sqlite_path: Path,
    *,
    as_of: dt.datetime | None = None,
    full_refresh: bool = False,
) -> list[Batch]:
    """Land new changes (or, with ``full_refresh``, a consistent snapshot) of the application database."""
    for table, columns in APP_TABLES.items():
        ensure_raw_table(con, f"app_{table}", {**CDC_COLUMNS, **columns})
    src = _connect_sqlite(sqlite_path)
    try:
        if full_refresh:
            return [_snapshot(con, src, sqlite_path, as_of)]
        return _incremental(con, src, sqlite_path, as_of)
    except sqlite3.Error as exc:
        raise LifecycleError(f"app: reading {sqlite_path} failed: {exc}") from exc
    finally:
        src.close()


def _incremental(
    con: duckdb.DuckDBPyConnection, src: sqlite3.Connection, path: Path, as_of: dt.datetime | None
) -> list[Batch]:
    batches = []
    chunk = chunk_rows(CHUNK_CHANGES)
    end = _made_by(src, as_of, int(read_watermark(con, SOURCE) or 0))
    while True:
        watermark = int(read_watermark(con, SOURCE) or 0)
        low = max(0, watermark - OVERLAP_CHANGES)
        high = watermark + chunk if end is None else min(watermark + chunk, max(end, watermark))
        rows = src.execute(
            "select change_id, table_name, op, row_key, changed_at, row_json from change_log"
            " where change_id > ? and change_id <= ? order by change_id",
            [low, high],
        ).fetchall()
        new_high = max((r[0] for r in rows), default=watermark)
        batch = Batch(
            SOURCE,
            watermark_before=str(watermark),
            watermark_after=str(max(new_high, watermark)),
            as_of=as_of,
        )
        changes = pd.DataFrame(
            rows, columns=["change_id", "table_name", "op", "row_key", "changed_at", "row_json"]
        )
        _land_changes(con, changes, batch, path, low)
        batches.append(batch)
        if new_high <= watermark or new_high < watermark + chunk:
            return batches


def _made_by(src: sqlite3.Connection, as_of: dt.datetime | None, watermark: int) -> int | None:
    """The last change id of the log stamped by the as-of (within the tolerance); None: no as-of.

    SQLite's ``julianday`` reads the timestamps (with or without a ``Z`` or ``+HH:MM`` offset); a stamp it
    cannot read does not end the log, and is judged with its change when a later one is read.
    """
    if as_of is None:
        return None
    (end,) = src.execute(
        "select max(change_id) from change_log where change_id > ? and julianday(changed_at) <= julianday(?)",
        [watermark, latest_allowed(as_of).isoformat(sep=" ", timespec="milliseconds")],
    ).fetchone()
    return watermark if end is None else int(end)


def _land_changes(
    con: duckdb.DuckDBPyConnection,
    changes: pd.DataFrame,
    batch: Batch,
    path: Path,
    low: int,
    *,
    source_file: str | None = None,
) -> None:
    """Land change rows (``change_id, table_name, op, row_key, changed_at, row_json``) in one transaction.

    Rows with a change id above ``low`` already in raw (or quarantined) are dropped, so a re-read adds
    nothing; ``source_file`` names where they were read (default: the SQLite change log).
    """
    source_file = source_file or f"{path.name}#change_log"
    con.register("_changes", changes)
    try:
        with transaction(con):
            unknown = set(changes["table_name"].unique()) - set(APP_TABLES)
            for table, columns in APP_TABLES.items():
                _land_table(con, table, columns, batch, source_file, low)
            if unknown:
                _quarantine_unknown_tables(con, batch, source_file, low)
            if batch.watermark_after is not None:
                write_watermark(con, SOURCE, batch.watermark_after)
            batch.log(con, "success")
    finally:
        con.unregister("_changes")


def _land_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, str],
    batch: Batch,
    source_file: str,
    low: int,
) -> None:
    raw_table = f"app_{table}"
    # Only changes not landed yet: the overlap window is re-read on purpose.
    con.execute(
        f"""
        create or replace temp table _fresh as
        select c.*
        from _changes as c
        where c.table_name = {quote_literal(table)}
            and c.change_id not in (select _change_id from raw.{raw_table} where _change_id > {low})
            and c.change_id not in (
                select line_number from raw._quarantine
                where source = {quote_literal(SOURCE)} and line_number > {low}
            )
        """
    )
    (read,) = con.execute("select count(*) from _fresh").fetchone()  # type: ignore[misc]
    if read == 0:
        return
    _apply_drift(con, raw_table, columns, batch, source_file)
    # One parse for the values (json_transform), one for the JSON types of the typed fields.
    checked = typed_fields(columns)
    mismatch = type_mismatch_sql("types", "parsed", {c: columns[c] for c in checked}, "row_json")
    future = ""
    if batch.as_of is not None:
        limit = f"timestamp '{latest_allowed(batch.as_of).isoformat(sep=' ')}'"
        future = (
            f"when changed_at_utc > {limit} then {quote_literal(future_reason('changed_at', batch.as_of))}"
        )
    con.execute(
        f"""
        create or replace temp table _parsed as
        select change_id, op, changed_at_utc, row_json, parsed,
            case
                when mismatch is not null then 'field ' || mismatch || ' does not parse as its declared type'
                when changed_at_utc is null then 'field changed_at does not parse as its declared type'
                {future}
            end as reason
        from (
            select *, {mismatch} as mismatch
            from (
                select
                    change_id, op, row_json,
                    {text_timestamp_sql("changed_at")} as changed_at_utc,
                    json_transform(row_json, {quote_literal(json_struct_type(columns))}) as parsed,
                    {json_types_sql("row_json", checked)} as types
                from _fresh
                where json_valid(row_json)
            )
        )
        """
    )
    con.execute(
        f"""
        insert into raw._quarantine
        select {quote_literal(SOURCE)}, {quote_literal(batch.batch_id)}, {quote_literal(source_file)},
            change_id, row_json, reason, ?
        from (
            select change_id, row_json, 'invalid JSON in change_log.row_json' as reason
            from _fresh where not json_valid(row_json)
            union all
            select change_id, row_json, reason
            from _parsed where reason is not null
        )
        """,
        [utc_now()],
    )
    extra = [c for c in existing_columns(con, raw_table) if c not in columns and c not in BOOKKEEPING_COLUMNS]
    select_cols = ", ".join(value_sql("parsed", c, t) for c, t in columns.items())
    extra_cols = "".join(f", json_extract_string(row_json, {quote_literal('$.' + c)})" for c in extra)
    target_cols = ", ".join(
        ['"_change_id"', '"_op"', '"_changed_at"', *(f'"{c}"' for c in [*columns, *extra])]
    )
    loaded = con.execute(
        f"""
        insert into raw.{raw_table} ({target_cols}, _batch_id, _ingested_at, _source_file)
        select change_id, op, changed_at_utc, {select_cols}{extra_cols},
            ?, ?, ?
        from _parsed
        where reason is null
        """,
        [batch.batch_id, utc_now(), source_file],
    ).fetchone()[0]  # type: ignore[index]
    batch.rows_read += read
    batch.rows_loaded += loaded
    batch.rows_quarantined += read - loaded


def _apply_drift(
    con: duckdb.DuckDBPyConnection, raw_table: str, columns: dict[str, str], batch: Batch, source_file: str
) -> None:
    """New fields land as new VARCHAR columns and are recorded; a declared field that vanished fails."""
    keys = {
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(row_json)) from _fresh where json_valid(row_json)"
        ).fetchall()
    }
    missing = [c for c in columns if c not in keys]
    if keys and missing:
        raise LifecycleError(
            f"app: field(s) {', '.join(missing)} of table {raw_table.removeprefix('app_')} are missing from "
            f"{source_file}; a removed field is a breaking schema change (update ingest/schemas.py)"
        )
    known = set(existing_columns(con, raw_table))
    for key in sorted(keys - set(columns) - known):
        con.execute(f'alter table raw.{raw_table} add column "{key}" varchar')
        con.execute(
            "insert into raw._schema_changes values (?, ?, ?, 'added', ?, ?, ?)",
            [SOURCE, raw_table, key, source_file, batch.batch_id, utc_now()],
        )


def _quarantine_unknown_tables(
    con: duckdb.DuckDBPyConnection, batch: Batch, source_file: str, low: int
) -> None:
    known = ", ".join(quote_literal(t) for t in APP_TABLES)
    quarantined = con.execute(
        f"""
        insert into raw._quarantine
        select {quote_literal(SOURCE)}, ?, ?, change_id, row_json,
            'table ' || table_name || ' is not declared in ingest/schemas.py', ?
        from _changes
        where table_name not in ({known})
            and change_id not in (
                select line_number from raw._quarantine
                where source = {quote_literal(SOURCE)} and line_number > {low}
            )
        """,
        [batch.batch_id, source_file, utc_now()],
    ).fetchone()[0]  # type: ignore[index]
    batch.rows_read += quarantined
    batch.rows_quarantined += quarantined


def _snapshot(
    con: duckdb.DuckDBPyConnection, src: sqlite3.Connection, path: Path, as_of: dt.datetime | None
) -> Batch:
    """Recovery: land every current row as a 'snapshot' change at the log position it is consistent with.

    The tables show every change made so far, so a log holding changes after the as-of (beyond the
    tolerance) refuses the snapshot: it would land the future under one change id.
    """
    watermark = read_watermark(con, SOURCE)
    src.execute("begin")  # one read transaction: the tables and the log position agree
    try:
        position, newest = src.execute(
            "select coalesce(max(change_id), 0), max(changed_at) from change_log"
        ).fetchone()
        if as_of is not None and newest is not None:
            (ahead,) = con.execute(  # type: ignore[misc]
                f"select {text_timestamp_sql('?')} > ?", [newest, latest_allowed(as_of)]
            ).fetchone()
            if ahead:
                raise LifecycleError(
                    f"app: {path} holds changes up to {newest}, after the as-of {as_of:%Y-%m-%d %H:%M:%S}:"
                    " a snapshot would land them all; rerun the full refresh with an as-of at or after it"
                )
        frames = []
        for table, columns in APP_TABLES.items():
            key = next(iter(columns))
            pairs = ", ".join(f"'{c}', {c}" for c in columns)
            rows = src.execute(
                f"select '{table}', 'snapshot', {key}, ?, json_object({pairs}) from {table}", [newest]
            ).fetchall()
            frames.extend(rows)
    finally:
        src.execute("rollback")
    changes = pd.DataFrame(frames, columns=["table_name", "op", "row_key", "changed_at", "row_json"])
    changes.insert(0, "change_id", position)
    batch = Batch(SOURCE, watermark_before=watermark, watermark_after=str(position), as_of=as_of)
    # Snapshot rows share one change id, so the overlap anti-join must not drop them: low = position.
    _land_changes(con, changes, batch, path, low=int(position))
    return batch
