"""Clickstream files: gzipped NDJSON landed into ``raw.events_clickstream`` with an explicit schema.

Python only decompresses and splits lines (so every line keeps its number for the quarantine); parsing,
typing and validation run vectorised inside DuckDB with ``json_transform`` against the declared schema.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.errors import LifecycleError
from lifecycle.ingest.files import SourceFile, new_files, record_loaded
from lifecycle.ingest.landing import (
    Batch,
    chunk_rows,
    ensure_raw_table,
    existing_columns,
    json_struct_type,
    log_failure,
    sql_literal,
    transaction,
    type_mismatch_sql,
    utc_now,
)
from lifecycle.ingest.schemas import EVENT_FIELDS, EVENT_REQUIRED

SOURCE = "events"
RAW_TABLE = "events_clickstream"
#: Decompressed bytes landed per transaction.
CHUNK_BYTES = 256 << 20
#: A field that fails to parse in more than this share of a file's values was retyped upstream.
RETYPED_SHARE = 0.5


def read_lines(file: SourceFile) -> list[tuple[str, int, str]]:
    """(file, line number, text) for every non-empty line; a truncated or corrupt gzip raises."""
    try:
        data = gzip.decompress(file.path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise LifecycleError(
            f"events: cannot read {file.relative}: {exc}; the file is left unloaded and retried next run"
        ) from exc
    lines = data.split(b"\n")
    return [
        (file.relative, number, line.decode("utf-8", errors="replace"))
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


def load_events(
    con: duckdb.DuckDBPyConnection, events_dir: Path, *, as_of: dt.datetime | None
) -> tuple[list[Batch], list[str]]:
    """Land every new file that has arrived by ``as_of``; returns the batches and per-file errors."""
    ensure_raw_table(con, RAW_TABLE, {**EVENT_FIELDS, "_line_number": "BIGINT"})
    if not events_dir.exists():
        return [], []
    files = new_files(con, events_dir, "**/*.json.gz", SOURCE, as_of)
    batches: list[Batch] = []
    errors: list[str] = []
    chunk: list[tuple[SourceFile, list[tuple[str, int, str]]]] = []
    size = 0
    max_lines = chunk_rows(10_000_000)
    for file in files:
        try:
            lines = read_lines(file)
        except LifecycleError as exc:
            errors.append(str(exc))
            log_failure(con, SOURCE, str(exc))
            continue
        chunk.append((file, lines))
        size += sum(len(text) for _, _, text in lines)
        if size >= CHUNK_BYTES or sum(len(lines) for _, lines in chunk) >= max_lines:
            batches.append(_land(con, chunk))
            chunk, size = [], 0
    if chunk:
        batches.append(_land(con, chunk))
    return batches, errors


def _land(
    con: duckdb.DuckDBPyConnection, chunk: list[tuple[SourceFile, list[tuple[str, int, str]]]]
) -> Batch:
    batch = Batch(SOURCE, watermark_before=chunk[0][0].relative, watermark_after=chunk[-1][0].relative)
    frame = pd.DataFrame(
        [row for _, lines in chunk for row in lines], columns=["source_file", "line_number", "line"]
    )
    con.register("_lines", frame)
    try:
        with transaction(con):
            _land_lines(con, batch)
            for file, _ in chunk:
                record_loaded(con, SOURCE, file, batch.batch_id)
            batch.log(con, "success")
    finally:
        con.unregister("_lines")
    return batch


def _land_lines(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    struct = sql_literal(json_struct_type(EVENT_FIELDS))
    con.execute(
        """
        create or replace temp table _parsed as
        select
            source_file,
            line_number,
            line,
            coalesce(case when json_valid(line) then json_type(line) = 'OBJECT' end, false) as is_object
        from _lines
        """
    )
    # JSON functions raise on malformed text, and a filter's terms may be evaluated in any order, so
    # everything below that looks inside a line reads only the rows already known to be objects.
    con.execute(
        f"""
        create or replace temp table _objects as
        select source_file, line_number, line, json_transform(line, {struct}) as parsed
        from _parsed
        where is_object
        """
    )
    _check_drift(con, batch)
    mismatch = type_mismatch_sql("line", "parsed", EVENT_FIELDS)
    missing = " ".join(
        f"when parsed.\"{name}\" is null then 'missing required field {name}'" for name in EVENT_REQUIRED
    )
    con.execute(
        f"""
        create or replace temp table _judged as
        select *,
            case
                when ({mismatch}) is not null
                    then 'field ' || ({mismatch}) || ' does not parse as its declared type'
                {missing}
            end as reason
        from _objects
        union all
        select source_file, line_number, line, null, 'malformed JSON'
        from _parsed
        where not is_object
        """
    )
    now = utc_now()
    con.execute(
        f"""
        insert into raw._quarantine
        select {sql_literal(SOURCE)}, ?, source_file, line_number, line, reason, ?
        from _judged where reason is not null
        """,
        [batch.batch_id, now],
    )
    extra = [c for c in existing_columns(con, RAW_TABLE) if c not in EVENT_FIELDS and not c.startswith("_")]
    columns = [*EVENT_FIELDS, *extra]
    values = [f'parsed."{c}"' for c in EVENT_FIELDS] + [
        f"json_extract_string(line, {sql_literal('$.' + c)})" for c in extra
    ]
    con.execute(
        f"""
        insert into raw.{RAW_TABLE} ({", ".join(f'"{c}"' for c in columns)},
            _line_number, _batch_id, _ingested_at, _source_file)
        select {", ".join(values)}, line_number, ?, ?, source_file
        from _judged where reason is null
        """,
        [batch.batch_id, now],
    )
    read, quarantined = con.execute(
        "select count(*), count(*) filter (where reason is not null) from _judged"
    ).fetchone()  # type: ignore[misc]
    batch.rows_read += read
    batch.rows_quarantined += quarantined
    batch.rows_loaded += read - quarantined


def _check_drift(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Record and add new fields; fail on a required field that vanished or a field that was retyped."""
    keys = con.execute(
        """
        select source_file, key, count(*) as n
        from (select source_file, unnest(json_keys(line)) as key from _objects)
        group by all
        """
    ).fetchall()
    objects = dict(con.execute("select source_file, count(*) from _objects group by all").fetchall())
    present: dict[str, set[str]] = {}
    for source_file, key, _ in keys:
        present.setdefault(source_file, set()).add(key)
    for source_file, count in objects.items():
        gone = [f for f in EVENT_REQUIRED if f not in present.get(source_file, set())]
        if gone and count > 0:
            raise LifecycleError(
                f"events: required field {gone[0]!r} is missing from every line of {source_file}: "
                "a removed field is a breaking schema change; fix the producer or the declared schema "
                "in src/lifecycle/ingest/schemas.py"
            )
    for name in EVENT_FIELDS:
        path = sql_literal("$." + name)
        row = con.execute(
            f"""
            select source_file, count(*) as bad, any_value(json_extract(line, {path}))::varchar as sample
            from _objects
            where json_type(line, {path}) not in ('NULL') and parsed."{name}" is null
            group by source_file
            having count(*) > {RETYPED_SHARE} * (
                select count(*) from _objects as o
                where o.source_file = _objects.source_file and json_type(o.line, {path}) not in ('NULL')
            )
            limit 1
            """
        ).fetchone()
        if row:
            raise LifecycleError(
                f"events: field {name!r} in {row[0]} no longer parses as {EVENT_FIELDS[name]} "
                f"({row[1]} values, e.g. {row[2]}): a retyped field is a breaking schema change"
            )
    known = set(existing_columns(con, RAW_TABLE))
    new_keys = sorted({k for _, k, _ in keys} - set(EVENT_FIELDS) - known)
    for key in new_keys:
        con.execute(f'alter table raw.{RAW_TABLE} add column "{key}" varchar')
        first_file = next(f for f, k, _ in keys if k == key)
        con.execute(
            "insert into raw._schema_changes values (?, ?, ?, 'added', ?, ?, ?)",
            [SOURCE, RAW_TABLE, key, first_file, batch.batch_id, utc_now()],
        )
