"""Shared landing mechanics: batches, raw tables, and typed JSON parsing inside DuckDB.

Every loader lands one batch per transaction: the rows, their quarantine, the watermark or manifest entry
and the ``raw._ingest_log`` row commit together, so a crash (even ``kill -9``) leaves either all or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from lifecycle.ingest.schemas import LINEAGE_COLUMNS
from lifecycle.storage import quote_ident, quote_literal


def chunk_rows(default: int) -> int:
    """Rows landed per transaction; LIFECYCLE_INGEST_CHUNK_ROWS overrides it (crash tests use tiny ones)."""
    return int(os.environ.get("LIFECYCLE_INGEST_CHUNK_ROWS", default))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def landing_time(con: duckdb.DuckDBPyConnection, table: str) -> dt.datetime:
    """The ``_ingested_at`` of a new batch of ``raw.<table>``: now, but later than any row already there.

    Incremental models select the rows landed after the newest one they hold (macro
    ``landed_since_last_build``), so landing times must only grow: if the clock stepped back between two
    runs, a batch stamped earlier than its predecessor would be skipped by them.
    """
    (newest,) = con.execute(f"select max(_ingested_at) from raw.{table}").fetchone()  # type: ignore[misc]
    now = utc_now()
    return now if newest is None or now > newest else newest + dt.timedelta(microseconds=1)


@dataclass
class Batch:
    """One unit of landing: what was read, loaded and quarantined, for ``raw._ingest_log``."""

    source: str
    batch_id: str = field(default_factory=lambda: "")
    started_at: dt.datetime = field(default_factory=utc_now)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    watermark_before: str | None = None
    watermark_after: str | None = None
    #: The run's as-of: the "now" its records' event times were judged against (None: not judged).
    as_of: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.batch_id:
            stamp = self.started_at.strftime("%Y%m%dT%H%M%S")
            self.batch_id = f"{self.source}-{stamp}-{uuid.uuid4().hex[:8]}"

    def log(self, con: duckdb.DuckDBPyConnection, status: str, error: str | None = None) -> None:
        con.execute(
            "insert into raw._ingest_log (source, batch_id, started_at, finished_at, rows_read, rows_loaded,"
            " rows_quarantined, watermark_before, watermark_after, status, error, as_of)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.source,
                self.batch_id,
                self.started_at,
                utc_now(),
                self.rows_read,
                self.rows_loaded,
                self.rows_quarantined,
                self.watermark_before,
                self.watermark_after,
                status,
                error,
                self.as_of,
            ],
        )


def ensure_ingest_log(con: duckdb.DuckDBPyConnection) -> None:
    """Give ``raw._ingest_log`` the ``as_of`` of each batch (warehouses made before it had none).

    Lateness in the run's own clock is ``as_of`` minus a record's event time (joined on ``_batch_id``):
    ``_ingested_at`` is the wall clock, which says nothing about a replayed or simulated period.
    """
    con.execute("alter table raw._ingest_log add column if not exists as_of timestamp")


def log_failure(
    con: duckdb.DuckDBPyConnection, source: str, error: str, as_of: dt.datetime | None = None
) -> None:
    """Record a load that failed (nothing of it landed) as its own ``raw._ingest_log`` row."""
    with transaction(con):
        Batch(source, as_of=as_of).log(con, "failed", error)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def read_watermark(con: duckdb.DuckDBPyConnection, source: str) -> str | None:
    row = con.execute("select watermark from raw._watermarks where source = ?", [source]).fetchone()
    return None if row is None else row[0]


def write_watermark(con: duckdb.DuckDBPyConnection, source: str, value: str) -> None:
    con.execute(
        "insert or replace into raw._watermarks values (?, ?, ?)",
        [source, value, utc_now()],
    )


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """Create ``raw.<table>`` with the declared columns plus lineage columns, if it does not exist."""
    cols = {**columns, **LINEAGE_COLUMNS}
    ddl = ", ".join(f"{quote_ident(name)} {type_}" for name, type_ in cols.items())
    con.execute(f"create table if not exists raw.{table} ({ddl})")


def existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns"
        " where table_schema = 'raw' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


#: Records stamped later than the run's as-of by more than this are quarantined as from the future. Source
#: clocks disagree a little (servers by milliseconds under NTP, phones that stamp app events by seconds to a
#: few minutes), so a record a moment "ahead" is clock skew, not a defect. Five minutes covers that drift,
#: stays far below the hourly cadence of the event files, and is shorter than every real UTC offset (at
#: least 30 minutes), so a producer that stamps local time as UTC east of Greenwich is always caught.
CLOCK_SKEW_TOLERANCE = dt.timedelta(minutes=5)
#: Every quarantine reason of a record stamped after the as-of starts with this (gates filter on it).
FUTURE_PREFIX = "future:"


def latest_allowed(as_of: dt.datetime) -> dt.datetime:
    """The latest event time a record may carry in a run at ``as_of``."""
    return as_of + CLOCK_SKEW_TOLERANCE


def future_reason(field: str, as_of: dt.datetime) -> str:
    """The quarantine reason of a record whose ``field`` lies after ``as_of`` beyond the tolerance."""
    minutes = int(CLOCK_SKEW_TOLERANCE.total_seconds() // 60)
    return (
        f"{FUTURE_PREFIX} {field} after as-of {as_of:%Y-%m-%d %H:%M:%S} (+{minutes} min clock-skew tolerance)"
    )


def parse_type(type_: str) -> str:
    """The type ``json_transform`` parses a declared type as.

    A TIMESTAMP is parsed as TIMESTAMPTZ: DuckDB's TIMESTAMP parser drops a UTC offset (``12:00+02:00``
    would land as 12:00), its TIMESTAMPTZ parser applies it and reads text without one as UTC.
    ``value_sql`` turns the instant back into the declared naive UTC TIMESTAMP.
    """
    return "TIMESTAMPTZ" if _kind(type_) == "timestamp" else type_


def json_struct_type(columns: dict[str, str]) -> str:
    """The DuckDB ``json_transform`` structure for a declared schema (see ``parse_type``)."""
    return json.dumps({name: parse_type(type_) for name, type_ in columns.items()})


def value_sql(parsed_col: str, name: str, type_: str) -> str:
    """SQL for the declared value of field ``name`` of a struct made by ``json_transform``.

    A TIMESTAMP becomes the naive UTC instant through its epoch, never through a cast, which would read
    the instant in the session's time zone.
    """
    value = f"{parsed_col}.{quote_ident(name)}"
    return f"make_timestamp(epoch_us({value}))" if _kind(type_) == "timestamp" else value


def text_timestamp_sql(text: str) -> str:
    """SQL for the naive UTC TIMESTAMP that ISO-8601 ``text`` names (NULL if it names none).

    The same parser as the JSON fields: an offset is applied, text without one is UTC, whatever the
    session's time zone.
    """
    return f"make_timestamp(epoch_us(json_transform(to_json({text}), '\"TIMESTAMPTZ\"')))"


#: Types that ``json_transform`` makes from any non-null JSON value (a value of another JSON type becomes its
#: JSON text), so a field of such a type can never lose a value silently and needs no type check.
ANY_VALUE_TYPES = frozenset({"VARCHAR", "JSON"})
#: JSON types (``json_type``) whose values convert exactly to a declared numeric type.
_INTEGER_JSON = "('NULL', 'BIGINT', 'UBIGINT')"
_NUMBER_JSON = "('NULL', 'BIGINT', 'UBIGINT', 'DOUBLE')"


def _kind(type_: str) -> str:
    type_ = type_.strip().upper()
    if type_ in ANY_VALUE_TYPES:
        return "any"
    if type_ in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return "integer"
    if type_.startswith("DECIMAL") or type_.startswith("NUMERIC"):
        return "decimal"
    if type_ in ("TIMESTAMP", "DATETIME"):
        return "timestamp"
    if type_ == "DATE":
        return "date"
    return "other"


def typed_fields(columns: dict[str, str]) -> list[str]:
    """The declared fields whose JSON value may fail to parse as their type (all but ANY_VALUE_TYPES)."""
    return [name for name, type_ in columns.items() if _kind(type_) != "any"]


def json_types_sql(json_col: str, fields: Sequence[str], *, with_root: bool = False) -> str:
    """SQL for the ``json_type`` of each of ``fields``, parsing the JSON text once.

    A list in the order of ``fields`` (1-based in SQL): the field's JSON type, ``'NULL'`` for a JSON null,
    SQL NULL for an absent key; ``with_root`` appends the type of the whole value. One ``json_type`` call
    with a list of paths replaces one call (and one parse of the whole text) per field. The paths are JSON
    pointers (``/field``, the same lookup as ``$.field``), which DuckDB resolves faster.
    """
    paths = [_pointer(name) for name in fields]
    if with_root:
        paths.append("")
    if not paths:
        return "null::varchar[]"
    return f"json_type({json_col}, [{', '.join(quote_literal(path) for path in paths)}])"


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def invalid_value_sql(json_type: str, parsed_col: str, name: str, type_: str, json_col: str) -> str:
    """SQL that is true when field ``name`` holds a value that does not convert exactly to ``type_``.

    ``json_type`` is the SQL of the field's JSON type (NULL when the key is absent: never invalid).
    ``json_transform`` is lenient: it truncates ``12.7`` and ``"12.7"`` to the integer 12, rounds ``12.345``
    to a DECIMAL(18,2) of 12.35, reads ``true`` as 1, a timestamp as its date. So a value is accepted only
    in a JSON type that converts exactly: integers as JSON integers, decimals as JSON numbers with no more
    digits after the point than the declared scale, timestamps and dates as strings, a date as exactly
    ``YYYY-MM-DD``. Anything that then fails to parse (an impossible date, an overflow) is invalid too.
    """
    kind = _kind(type_)
    parsed = f"{parsed_col}.{quote_ident(name)}"
    if kind == "any":
        return "false"
    if kind == "integer":
        return f"({json_type} not in {_INTEGER_JSON} or ({parsed} is null and {json_type} <> 'NULL'))"
    if kind == "decimal":
        text = f"json_extract_string({json_col}, {quote_literal(_pointer(name))})"
        exact = f"try_cast({text} as decimal(38, 20)) is distinct from {parsed}"
        return (
            f"({json_type} not in {_NUMBER_JSON}"
            f" or ({json_type} <> 'NULL' and ({parsed} is null or {exact})))"
        )
    if kind in ("timestamp", "date"):
        check = f"{parsed} is null"
        if kind == "date":
            text = f"json_extract_string({json_col}, {quote_literal(_pointer(name))})"
            check += f" or cast({parsed} as varchar) <> {text}"
        return f"({json_type} not in ('NULL', 'VARCHAR') or ({json_type} = 'VARCHAR' and ({check})))"
    return f"({parsed} is null and {json_type} <> 'NULL')"


def type_mismatch_sql(
    types_col: str,
    parsed_col: str,
    columns: dict[str, str],
    json_col: str,
    looked_up: Sequence[str] | None = None,
) -> str:
    """SQL for the first of ``columns`` (name -> declared type) whose value does not convert exactly.

    ``types_col`` is ``json_types_sql`` over ``looked_up`` (by default the names of ``columns``), and
    ``json_col`` the JSON text. Pass only the typed fields (``typed_fields``): the others cannot fail.
    """
    if not columns:
        return "null::varchar"
    position = {name: index for index, name in enumerate(looked_up or list(columns), start=1)}
    cases = " ".join(
        f"when {invalid_value_sql(f'{types_col}[{position[name]}]', parsed_col, name, type_, json_col)}"
        f" then {quote_literal(name)}"
        for name, type_ in columns.items()
    )
    return f"case {cases} else null end"
