"""Clickstream files: gzipped NDJSON landed into ``raw.events_clickstream`` with an explicit schema.

Python only decompresses (so a corrupt file fails alone, by name); splitting into numbered lines, parsing,
typing and validation run vectorised inside DuckDB, which parses each line a fixed, small number of times
whatever the number of declared fields (see ``_judge_lines``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.errors import LifecycleError
from lifecycle.ingest.files import SourceFile, new_files, record_loaded
from lifecycle.ingest.landing import (
    FUTURE_PREFIX,
    Batch,
    chunk_rows,
    ensure_raw_table,
    existing_columns,
    future_reason,
    invalid_value_sql,
    json_struct_type,
    json_types_sql,
    landing_time,
    latest_allowed,
    log_failure,
    transaction,
    type_mismatch_sql,
    typed_fields,
    utc_now,
    value_sql,
)
from lifecycle.ingest.schemas import EVENT_FIELDS, EVENT_REQUIRED, EVENT_TIME
from lifecycle.storage import quote_literal

SOURCE = "events"
RAW_TABLE = "events_clickstream"
#: Decompressed bytes landed per transaction at most. No Python object per line is kept, so memory is a
#: few times the chunk (the text, DuckDB's lines, the landing): ingest peaks near 1.1 GB at scale 10.
CHUNK_BYTES = 256 << 20
#: Lines landed per transaction at most (LIFECYCLE_INGEST_CHUNK_ROWS overrides it): a few of DuckDB's row
#: groups (122,880 rows), the unit it reads in parallel; a chunk of about one row group is judged by one
#: thread, and its commit rewrites a partly filled row group (200k-line chunks: 0.3 s more per commit).
CHUNK_LINES = 5 * 122_880
#: Threads decompressing files (zlib releases the GIL), and how many files they read ahead.
READ_THREADS = 2
READ_AHEAD = 4
#: A field that fails to parse in more than this share of a file's values was retyped upstream.
RETYPED_SHARE = 0.5
#: What Python's ``bytes.strip()`` removes: a line of only these is blank, skipped but still counted.
_BLANK_LINE = r"[ \t\n\r\x0b\x0c]*"


def read_text(file: SourceFile) -> str:
    """The decompressed text of a file; a truncated or corrupt gzip raises.

    Invalid UTF-8 is replaced (U+FFFD), so such a line is judged like any other instead of failing the file.
    """
    try:
        data = gzip.decompress(file.path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise LifecycleError(
            f"events: cannot read {file.relative}: {exc}; the file is left unloaded and retried next run"
        ) from exc
    return data.decode("utf-8", errors="replace")


def load_events(
    con: duckdb.DuckDBPyConnection, events_dir: Path, *, as_of: dt.datetime | None
) -> tuple[list[Batch], list[str]]:
    """Land every new file that has arrived by ``as_of``; returns the batches and per-file errors.

    With an ``as_of``, a line whose event time lies after it (beyond the clock-skew tolerance) is
    quarantined with a reason starting ``future:``.
    """
    ensure_raw_table(con, RAW_TABLE, {**EVENT_FIELDS, "_line_number": "BIGINT"})
    if not events_dir.exists():
        return [], []
    batches: list[Batch] = []
    errors: list[str] = []
    for chunk in read_chunks(new_files(con, events_dir, "**/*.json.gz", SOURCE, as_of)):
        if isinstance(chunk, LifecycleError):
            errors.append(str(chunk))
            log_failure(con, SOURCE, str(chunk), as_of)
            continue
        batches.append(_land(con, *chunk, as_of))
    return batches, errors


def read_chunks(files: list[SourceFile]) -> Iterator[tuple[list[SourceFile], list[str]] | LifecycleError]:
    """The files and their texts in order, in chunks of at most ``CHUNK_BYTES`` decompressed bytes or
    ``chunk_rows(CHUNK_LINES)`` lines (the last file may go over); a file that cannot be read comes alone,
    as its error. The next files are decompressed while the caller lands a chunk."""
    chunk: list[SourceFile] = []
    texts: list[str] = []
    size = lines = 0
    max_lines = chunk_rows(CHUNK_LINES)
    for file, text in _read_ahead(files):
        if isinstance(text, LifecycleError):
            yield text
            continue
        chunk.append(file)
        texts.append(text)
        size += len(text)
        lines += text.count("\n")
        if size >= CHUNK_BYTES or lines >= max_lines:
            yield chunk, texts
            chunk, texts, size, lines = [], [], 0, 0
    if chunk:
        yield chunk, texts


def _read_ahead(files: list[SourceFile]) -> Iterator[tuple[SourceFile, str | LifecycleError]]:
    """Each file with its text or its read error, in order; the next files are read meanwhile.

    ``zlib`` releases the GIL, so the reading threads decompress while the caller or DuckDB works.
    """

    def read(file: SourceFile) -> str | LifecycleError:
        try:
            return read_text(file)
        except LifecycleError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        ahead: deque[tuple[SourceFile, Future[str | LifecycleError]]] = deque()
        for file in files:
            ahead.append((file, pool.submit(read, file)))
            if len(ahead) > READ_AHEAD:
                done, text = ahead.popleft()
                yield done, text.result()
        while ahead:
            done, text = ahead.popleft()
            yield done, text.result()


def _land(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], texts: list[str], as_of: dt.datetime | None
) -> Batch:
    """Land a chunk of files in one transaction; empties ``texts``, the files' texts."""
    batch = Batch(SOURCE, watermark_before=files[0].relative, watermark_after=files[-1].relative, as_of=as_of)
    try:
        # The temp tables are this connection's own scratch space, so they are filled outside the
        # transaction: DuckDB scans a table created inside an open transaction with a single thread.
        split_lines(con, files, texts)
        _judge_lines(con, as_of)
        # Everything that lands in raw (rows, quarantine, drift, manifest, log) commits together.
        with transaction(con):
            _land_judged(con, batch)
            record_loaded(con, SOURCE, files, batch.batch_id)
            batch.log(con, "success")
    finally:
        con.execute("drop table if exists _lines; drop table if exists _judged")
    return batch


def split_lines(con: duckdb.DuckDBPyConnection, files: list[SourceFile], texts: list[str]) -> None:
    """``_lines``: (file, line number, text) of every non-blank line, numbered as in its file.

    Empties ``texts``: once DuckDB holds the lines, the Python copy of the chunk is let go. (A line that
    starts with ``{`` is not blank: the cheap test spares most lines the regular expression.)
    """
    frame = pd.DataFrame({"source_file": [file.relative for file in files], "text": texts})
    texts.clear()
    con.register("_texts", frame)
    try:
        con.execute(
            f"""
            create or replace temp table _lines as
            select source_file, line_number, line
            from (
                select source_file, unnest(range(1, len(lines) + 1)) as line_number, unnest(lines) as line
                from (select source_file, string_split(text, chr(10)) as lines from _texts)
            )
            where starts_with(line, '{{') or not regexp_full_match(line, {quote_literal(_BLANK_LINE)})
            """
        )
    finally:
        con.unregister("_texts")


def _judge_lines(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None) -> None:
    """``_judged``: the lines of ``_lines`` that need a look: a quarantine reason or an undeclared key.

    Each line is parsed a fixed number of times whatever the number of fields (``json_valid``, one
    ``json_type`` with the paths of all declared fields, ``json_transform``, ``json_keys``), and only the few
    lines that need a look are kept: the others are parsed once more as they land, which is cheaper than
    keeping them.
    """
    names = list(EVENT_FIELDS)
    position = {name: index for index, name in enumerate(names, start=1)}
    typed = typed_fields(EVENT_FIELDS)
    # A field of an any-value type (VARCHAR, JSON) transforms to NULL exactly when its key is absent or its
    # value is JSON null, which its JSON type tells without transforming it: only the typed fields (whose
    # values may fail to parse) are transformed here.
    absent = {
        name: f'parsed."{name}" is null'
        if name in typed
        else f"coalesce(types[{position[name]}], 'NULL') = 'NULL'"
        for name in EVENT_REQUIRED
    }
    missing = " ".join(f"when {absent[name]} then 'missing required field {name}'" for name in EVENT_REQUIRED)
    future = ""
    if as_of is not None:
        # The event time is required and typed, so it is parsed here and present on every line judged.
        limit = f"timestamp '{latest_allowed(as_of).isoformat(sep=' ')}'"
        event_time = value_sql("parsed", EVENT_TIME, EVENT_FIELDS[EVENT_TIME])
        future = f"when {event_time} > {limit} then {quote_literal(future_reason(EVENT_TIME, as_of))}"
    struct = quote_literal(json_struct_type({name: EVENT_FIELDS[name] for name in typed})) if typed else None
    parsed = f"json_transform(line, {struct})" if struct else "null"
    declared = "[" + ", ".join(quote_literal(name) for name in names) + "]"
    # JSON functions raise on malformed text, so every one that looks inside a line sits in a CASE branch
    # (evaluated only for the rows its condition selects): json_valid first, then only objects. Not in an
    # AND: DuckDB may evaluate the terms of a conjunction in any order.
    # The JSON type of a declared path is non-null exactly when its key is there, so a line whose keys are
    # no more than its declared keys (``types`` also holds the root's type, hence the - 1) has none other;
    # the others (undeclared or repeated keys) are looked at key by key.
    con.execute(
        f"""
        create or replace temp table _judged as
        select line_id, source_file, line_number, is_object, reason, new_keys
        from (
            select *,
                case
                    when not is_object then 'malformed JSON'
                    when mismatch is not null
                        then 'field ' || mismatch || ' does not parse as its declared type'
                    {missing}
                    {future}
                end as reason
            from (
                select *,
                    {type_mismatch_sql("types", "parsed", {n: EVENT_FIELDS[n] for n in typed}, "line", names)}
                        as mismatch,
                    case when is_object then
                        case when len(json_keys(line)) > list_count(types) - 1
                            then list_filter(json_keys(line), k -> not list_contains({declared}, k))
                        end
                    end as new_keys
                from (
                    select *, case when is_object then {parsed} end as parsed
                    from (
                        select *, coalesce(types[{len(names) + 1}] = 'OBJECT', false) as is_object
                        from (
                            select rowid as line_id, source_file, line_number, line,
                                case when json_valid(line)
                                    then {json_types_sql("line", names, with_root=True)}
                                end as types
                            from _lines
                        )
                    )
                )
            )
        )
        where reason is not null or new_keys is not null
        """
    )


def _land_judged(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Check drift, then land ``_lines``: the judged lines into the quarantine, the others into raw."""
    _check_drift(con, batch)
    now = landing_time(con, RAW_TABLE)
    con.execute(
        f"""
        insert into raw._quarantine
        select {quote_literal(SOURCE)}, ?, j.source_file, j.line_number, l.line, j.reason, ?
        from _judged as j
        join _lines as l on l.rowid = j.line_id
        where j.reason is not null
        """,
        [batch.batch_id, now],
    )
    struct = quote_literal(json_struct_type(EVENT_FIELDS))
    extra = [c for c in existing_columns(con, RAW_TABLE) if c not in EVENT_FIELDS and not c.startswith("_")]
    columns = [*EVENT_FIELDS, *extra]
    values = [value_sql("parsed", c, t) for c, t in EVENT_FIELDS.items()] + [
        f"json_extract_string(line, {quote_literal('$.' + c)})" for c in extra
    ]
    # Every line without a reason is a JSON object, so it is safe to parse here.
    con.execute(
        f"""
        insert into raw.{RAW_TABLE} ({", ".join(f'"{c}"' for c in columns)},
            _line_number, _batch_id, _ingested_at, _source_file)
        select {", ".join(values)}, line_number, ?, ?, source_file
        from (
            select source_file, line_number, line, json_transform(line, {struct}) as parsed
            from _lines
            anti join (select line_id from _judged where reason is not null) as q on _lines.rowid = q.line_id
        )
        """,
        [batch.batch_id, now],
    )
    read, quarantined = con.execute(
        "select (select count(*) from _lines), (select count(*) from _judged where reason is not null)"
    ).fetchone()  # type: ignore[misc]
    batch.rows_read += read
    batch.rows_quarantined += quarantined
    batch.rows_loaded += read - quarantined


def _check_drift(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Record and add new fields; fail on a required field that vanished or a field that was retyped."""
    # A file whose object lines all passed has every required key in every line and no value that failed
    # to parse: only files with a quarantined object line can have a removed or retyped field.
    suspects = [
        row[0]
        for row in con.execute(
            "select distinct source_file from _judged where is_object and reason is not null"
            f" and not starts_with(reason, {quote_literal(FUTURE_PREFIX)}) order by 1"
        ).fetchall()
    ]
    if suspects:
        _check_removed_or_retyped(con, suspects)
    known = set(existing_columns(con, RAW_TABLE))
    first_seen = con.execute(
        """
        select key, min(source_file)
        from (select source_file, unnest(new_keys) as key from _judged where new_keys is not null)
        group by key
        """
    ).fetchall()
    columns = {column.lower(): column for column in known}
    for key, first_file in sorted(first_seen):
        if key in known:
            continue
        # DuckDB's column names are case-insensitive and never empty: such a key cannot get a column.
        if not key.strip() or key.lower() in columns:
            clash = (
                f"differs only by case from column {columns[key.lower()]!r}" if key.strip() else "is blank"
            )
            raise LifecycleError(
                f"events: the undeclared key {key!r} in {first_file} {clash}, so it cannot be landed as a"
                " column of its own: rename it at the producer or declare it in"
                " src/lifecycle/ingest/schemas.py"
            )
        con.execute(f'alter table raw.{RAW_TABLE} add column "{key}" varchar')
        con.execute(
            "insert into raw._schema_changes values (?, ?, ?, 'added', ?, ?, ?)",
            [SOURCE, RAW_TABLE, key, first_file, batch.batch_id, utc_now()],
        )


def _check_removed_or_retyped(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """Fail on a required key missing from every line of a file, or a field retyped in a file.

    One grouped query over the object lines of ``files`` gives which required keys occur in each file and,
    per declared field, how many values it has and how many of them did not parse.
    """
    struct = quote_literal(json_struct_type(EVENT_FIELDS))
    has_key = ", ".join(f"bool_or(list_contains(keys, {quote_literal(name)}))" for name in EVENT_REQUIRED)
    per_field = ", ".join(
        f"count(*) filter (where types[{i}] <> 'NULL'),"
        f" count(*) filter (where {invalid_value_sql(f'types[{i}]', 'parsed', name, type_, 'line')})"
        for i, (name, type_) in enumerate(EVENT_FIELDS.items(), start=1)
    )
    stats = con.execute(
        f"""
        select source_file, [{has_key}], [{per_field}]
        from (
            select source_file,
                {_if_object("json_keys(line)")} as keys,
                {_if_object(json_types_sql("line", list(EVENT_FIELDS)))} as types,
                {_if_object(f"json_transform(line, {struct})")} as parsed
            from _lines
            where source_file in (select unnest(?::varchar[]))
        )
        where keys is not null
        group by source_file
        order by source_file
        """,
        [files],
    ).fetchall()
    for source_file, present, _ in stats:
        gone = [name for name, there in zip(EVENT_REQUIRED, present, strict=True) if not there]
        if gone:
            raise LifecycleError(
                f"events: required field {gone[0]!r} is missing from every line of {source_file}: "
                "a removed field is a breaking schema change; fix the producer or the declared schema "
                "in src/lifecycle/ingest/schemas.py"
            )
    for index, name in enumerate(EVENT_FIELDS):
        for source_file, _, counts in stats:
            values, bad = counts[2 * index], counts[2 * index + 1]
            if bad > RETYPED_SHARE * values:
                path = quote_literal("$." + name)
                parsed, type_ = f"json_transform(line, {struct})", EVENT_FIELDS[name]
                failed = invalid_value_sql(f"json_type(line, {path})", parsed, name, type_, "line")
                (sample,) = con.execute(
                    f"""
                    select json_extract(line, {path})::varchar
                    from _lines
                    where source_file = ? and {_if_object(failed)}
                    order by line_number
                    limit 1
                    """,
                    [source_file],
                ).fetchone()  # type: ignore[misc]
                raise LifecycleError(
                    f"events: field {name!r} in {source_file} no longer parses as {EVENT_FIELDS[name]} "
                    f"({bad} values, e.g. {sample}): a retyped field is a breaking schema change"
                )


def _if_object(expression: str) -> str:
    """``expression`` over ``line`` where the line is a JSON object, else NULL; never raises on bad JSON."""
    return f"case when json_valid(line) then case when json_type(line) = 'OBJECT' then {expression} end end"
