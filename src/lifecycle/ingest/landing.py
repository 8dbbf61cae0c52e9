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

    def __post_init__(self) -> None:
        if not self.batch_id:
            stamp = self.started_at.strftime("%Y%m%dT%H%M%S")
            self.batch_id = f"{self.source}-{stamp}-{uuid.uuid4().hex[:8]}"

    def log(self, con: duckdb.DuckDBPyConnection, status: str, error: str | None = None) -> None:
        con.execute(
            "insert into raw._ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ],
        )


def log_failure(con: duckdb.DuckDBPyConnection, source: str, error: str) -> None:
    """Record a load that failed (nothing of it landed) as its own ``raw._ingest_log`` row."""
    with transaction(con):
        Batch(source).log(con, "failed", error)


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


def json_struct_type(columns: dict[str, str]) -> str:
    """The DuckDB ``json_transform`` structure for a declared schema."""
    return json.dumps(columns)


#: Types that ``json_transform`` makes from any non-null JSON value (a value of another JSON type becomes its
#: JSON text), so a field of such a type can never lose a value silently and needs no type check.
ANY_VALUE_TYPES = frozenset({"VARCHAR", "JSON"})


def typed_fields(columns: dict[str, str]) -> list[str]:
    """The declared fields whose JSON value may fail to parse as their type (all but ANY_VALUE_TYPES)."""
    return [name for name, type_ in columns.items() if type_.strip().upper() not in ANY_VALUE_TYPES]


def json_types_sql(json_col: str, fields: Sequence[str], *, with_root: bool = False) -> str:
    """SQL for the ``json_type`` of each of ``fields``, parsing the JSON text once.

    A list in the order of ``fields`` (1-based in SQL): the field's JSON type, ``'NULL'`` for a JSON null,
    SQL NULL for an absent key; ``with_root`` appends the type of the whole value. One ``json_type`` call
    with a list of paths replaces one call (and one parse of the whole text) per field. The paths are JSON
    pointers (``/field``, the same lookup as ``$.field``), which DuckDB resolves faster.
    """
    paths = ["/" + name.replace("~", "~0").replace("/", "~1") for name in fields]
    if with_root:
        paths.append("")
    if not paths:
        return "null::varchar[]"
    return f"json_type({json_col}, [{', '.join(quote_literal(path) for path in paths)}])"


def type_mismatch_sql(
    types_col: str, parsed_col: str, fields: Sequence[str], looked_up: Sequence[str] | None = None
) -> str:
    """SQL for the first of ``fields`` whose JSON value is present but did not parse as its type.

    ``json_transform`` turns a value of the wrong type into NULL silently; comparing against the JSON type
    of the raw value (``types_col``: ``json_types_sql`` over ``looked_up``, by default ``fields``) finds
    those rows so they are quarantined instead of loaded with a hole. Pass ``typed_fields(columns)``: the
    other fields cannot fail. (The cheap NULL test comes first: most values parse.)
    """
    if not fields:
        return "null::varchar"
    position = {name: index for index, name in enumerate(looked_up or fields, start=1)}
    cases = " ".join(
        f"when {parsed_col}.\"{name}\" is null and {types_col}[{position[name]}] <> 'NULL'"
        f" then {quote_literal(name)}"
        for name in fields
    )
    return f"case {cases} else null end"
