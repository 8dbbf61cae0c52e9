"""Application database on PostgreSQL: log-based CDC from a logical replication slot into ``raw.app_<table>``.

The slot (output plugin wal2json, format 2) is read with ``pg_logical_slot_peek_changes``, which leaves
its position where it was; the position is moved past a transaction (``pg_replication_slot_advance``)
only after that transaction's rows committed in DuckDB. A crash between the two makes the next run read
those transactions again, and the landing's anti-join on ``_change_id`` drops the repeats.

Change ids are ``commit LSN << 16 | position in the transaction``: unique, in commit order, and the same
on every re-read. A transaction's time is the simulated clock its first message carries (see
``generate.pg_writer``), or the commit time for changes made by other clients. With an as-of, the
stream is landed up to its last transaction stamped by then (within the clock-skew tolerance); later
ones wait, unconfirmed, for a later run.

A missing slot (first run against a database without one, or a dropped slot) is created with an exported
snapshot: every current row lands as a ``snapshot`` change at the slot's start, and the stream continues
from there, so nothing is lost or landed twice. ``--full-refresh`` does the same on purpose.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.ingest import app
from lifecycle.ingest.landing import (
    Batch,
    ensure_raw_table,
    latest_allowed,
    read_watermark,
    utc_now,
    write_watermark,
)
from lifecycle.ingest.schemas import APP_TABLES

SOURCE = app.SOURCE
#: ``raw._watermarks`` row of the snapshot protocol: ``pending`` before a slot is created for a snapshot,
#: ``pending <LSN>`` once it exists, ``ok`` when the snapshot landed.
SNAPSHOT_STATE = "app_snapshot"
ID_SHIFT = 16
#: Transactions are read whole; this many output rows per read bounds memory on a long backlog.
CHUNK_ROWS = 200_000
#: Output rows a look at the slot without landing (the orchestrator's sensor) decodes, about: enough to see
#: past a few transactions without row changes, small enough to look every minute on any backlog.
PEEK_ROWS = 1_000
CLOCK_PREFIX = "lifecycle.sim_clock"
WRITER_TABLE = "public._lifecycle_writer"
PLUGIN_OPTIONS = [
    "format-version", "2",
    "include-timestamp", "true",
    "include-types", "false",
    "filter-tables", WRITER_TABLE,
]  # fmt: skip
OPS = {"I": "insert", "U": "update", "D": "delete"}


@dataclass
class Transaction:
    """One committed transaction of the stream: its commit LSN, its time and its row changes."""

    commit_lsn: int
    stamp: str | None = None
    #: (table, op, row key, row JSON) in the order they were made
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SlotHealth:
    slot: str
    exists: bool
    active: bool = False
    confirmed_lsn: str | None = None
    #: WAL written since the slot's confirmed position: what the next run has to read
    lag_bytes: int = 0
    #: WAL the server keeps for the slot (from its restart position): what a stalled reader costs in disk
    retained_bytes: int = 0


def lsn_int(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def change_id(commit_lsn: int, ordinal: int) -> int:
    if ordinal >= 1 << ID_SHIFT:
        raise LifecycleError(
            f"app: a transaction committed at {lsn_text(commit_lsn)} holds more than {1 << ID_SHIFT:,} "
            "row changes; change ids cannot number them"
        )
    return (commit_lsn << ID_SHIFT) | ordinal


def parse_stream(rows: Iterable[tuple[str, str]]) -> list[Transaction]:
    """wal2json (format 2) output rows ``(lsn, data)`` as whole transactions, in commit order."""
    done: list[Transaction] = []
    current: Transaction | None = None
    for lsn, data in rows:
        record = json.loads(data)
        action = record["action"]
        if action == "B":
            current = Transaction(commit_lsn=0, stamp=None)
            current.stamp = record.get("timestamp")
            continue
        if current is None:
            raise LifecycleError(f"app: replication slot output at {lsn} starts inside a transaction")
        if action == "C":
            current.commit_lsn = lsn_int(lsn)
            done.append(current)
            current = None
        elif action == "M":
            if record.get("prefix") == CLOCK_PREFIX and record.get("transactional"):
                current.stamp = record["content"]
        elif action in OPS:
            values = record["identity"] if action == "D" else record["columns"]
            row = {column["name"]: column["value"] for column in values}
            table = (
                record["table"] if record["schema"] == "public" else f"{record['schema']}.{record['table']}"
            )
            key = str(values[0]["value"]) if values else ""
            current.changes.append((table, OPS[action], key, json.dumps(row)))
        elif action == "T":
            raise LifecycleError(
                f"app: table {record['schema']}.{record['table']} was truncated (at {lsn}); CDC cannot "
                "tell which rows went: run `lifecycle ingest --full-refresh`"
            )
    return done


def stamp_time(stamp: str | None) -> dt.datetime | None:
    """A transaction's time as naive UTC (None: unreadable, judged by the landing like any bad stamp)."""
    if stamp is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def made_by(transactions: list[Transaction], as_of: dt.datetime | None) -> int:
    """How many leading transactions to land: up to the last one with changes stamped by the as-of.

    Transactions without row changes just after it come along, so the slot moves past them.
    """
    if as_of is None:
        return len(transactions)
    limit = latest_allowed(as_of)
    end = 0
    for i, txn in enumerate(transactions):
        moment = stamp_time(txn.stamp)
        if txn.changes and moment is not None and moment <= limit:
            end = i + 1
    while end < len(transactions) and not transactions[end].changes:
        end += 1
    return end


def change_frame(transactions: list[Transaction]) -> pd.DataFrame:
    """The landing's change rows: ``change_id, table_name, op, row_key, changed_at, row_json``."""
    rows = [
        (change_id(txn.commit_lsn, i), table, op, key, txn.stamp, row_json)
        for txn in transactions
        for i, (table, op, key, row_json) in enumerate(txn.changes)
    ]
    return pd.DataFrame(rows, columns=["change_id", "table_name", "op", "row_key", "changed_at", "row_json"])


def failpoint(name: str) -> None:
    """Crash-test hook: ``LIFECYCLE_FAILPOINT=<name>`` kills the process here with SIGKILL (tests only)."""
    if os.environ.get("LIFECYCLE_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# I/O: the slot and the warehouse


def _connect(url: str, **options: Any) -> Any:
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, **options)
    except psycopg.Error as exc:
        raise LifecycleError(f"app: cannot connect to LIFECYCLE_APP_DATABASE_URL: {exc}") from exc


def slot_health(pg: Any, slot: str) -> SlotHealth:
    row = pg.execute(
        "select database = current_database(), database, active, confirmed_flush_lsn::text,"
        " coalesce(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::bigint,"
        " coalesce(pg_current_wal_lsn() - restart_lsn, 0)::bigint"
        " from pg_replication_slots where slot_name = %s",
        [slot],
    ).fetchone()
    if row is None:
        return SlotHealth(slot, exists=False)
    if not row[0]:
        raise LifecycleError(
            f"app: replication slot {slot!r} belongs to database {row[1]!r}, not this one (slots are "
            "named per server): set LIFECYCLE_REPLICATION_SLOT to a name of its own"
        )
    return SlotHealth(slot, True, bool(row[2]), row[3], int(row[4]), int(row[5]))


def load_app_postgres(
    con: duckdb.DuckDBPyConnection,
    url: str,
    *,
    slot: str,
    as_of: dt.datetime | None = None,
    full_refresh: bool = False,
) -> tuple[list[Batch], SlotHealth]:
    """Land the slot's new changes (a snapshot when it is missing, or ``full_refresh``); its health after."""
    import psycopg

    for table, columns in APP_TABLES.items():
        ensure_raw_table(con, f"app_{table}", {**app.CDC_COLUMNS, **columns})
    try:
        with _connect(url) as pg:
            if full_refresh or _needs_snapshot(con, pg, slot):
                batches = [_snapshot(con, pg, url, slot, as_of)]
            else:
                batches = _incremental(con, pg, slot, as_of)
            return batches, slot_health(pg, slot)
    except psycopg.Error as exc:
        raise LifecycleError(f"app: reading replication slot {slot!r} failed: {exc}") from exc


def _needs_snapshot(con: duckdb.DuckDBPyConnection, pg: Any, slot: str) -> bool:
    """The slot is missing, or a snapshot through it was started and has not landed."""
    if not slot_health(pg, slot).exists:
        return True
    state = read_watermark(con, SNAPSHOT_STATE) or "ok"
    if state == "ok":
        return False
    if state.startswith("pending "):
        landed = int(read_watermark(con, SOURCE) or 0)
        if landed >= change_id(lsn_int(state.removeprefix("pending ")), 0):
            write_watermark(con, SNAPSHOT_STATE, "ok")
            return False
    return True


def _incremental(
    con: duckdb.DuckDBPyConnection, pg: Any, slot: str, as_of: dt.datetime | None
) -> list[Batch]:
    batches: list[Batch] = []
    while True:
        rows = _peek(pg, slot, CHUNK_ROWS)
        transactions = parse_stream(rows)
        take = made_by(transactions, as_of)
        if take == 0:
            return batches
        landing = transactions[:take]
        frame = change_frame(landing)
        last = landing[-1].commit_lsn
        before = read_watermark(con, SOURCE)
        high = max(int(frame["change_id"].max()) if len(frame) else 0, int(before or 0))
        batch = Batch(SOURCE, watermark_before=before, watermark_after=str(high), as_of=as_of)
        low = int(frame["change_id"].min()) - 1 if len(frame) else high
        source_file = f"slot {slot} to {lsn_text(last)}"
        app._land_changes(con, frame, batch, Path(slot), low, source_file=source_file)
        failpoint("app-slot-before-confirm")
        pg.execute("select pg_replication_slot_advance(%s, %s::pg_lsn)", [slot, lsn_text(last)])
        batches.append(batch)
        if take < len(transactions) or len(rows) < CHUNK_ROWS:
            return batches


def _peek(pg: Any, slot: str, rows: int) -> list[tuple[str, str]]:
    """The slot's next whole transactions, about ``rows`` output rows of them, leaving its position."""
    return list(
        pg.execute(
            "select lsn::text, data from pg_logical_slot_peek_changes(%s, null, %s, "
            + ", ".join("%s" for _ in PLUGIN_OPTIONS)
            + ")",
            [slot, rows, *PLUGIN_OPTIONS],
        ).fetchall()
    )


def pending_changes(
    url: str, slot: str, as_of: dt.datetime | None, *, rows: int = PEEK_ROWS
) -> tuple[int, int] | None:
    """What the next ingest would land from the slot, looked at without moving it: the row changes made by
    ``as_of`` among its first ``rows`` output rows (a lower bound on a longer backlog) and the newest
    one's change id (0 when there are none); None when the slot is missing (the next ingest snapshots)."""
    import psycopg

    try:
        with _connect(url) as pg:
            if not slot_health(pg, slot).exists:
                return None
            transactions = parse_stream(_peek(pg, slot, rows))
    except psycopg.Error as exc:
        raise LifecycleError(f"app: looking at replication slot {slot!r} failed: {exc}") from exc
    landing = [txn for txn in transactions[: made_by(transactions, as_of)] if txn.changes]
    if not landing:
        return 0, 0
    return sum(len(txn.changes) for txn in landing), change_id(
        landing[-1].commit_lsn, len(landing[-1].changes) - 1
    )


def _snapshot(
    con: duckdb.DuckDBPyConnection, pg: Any, url: str, slot: str, as_of: dt.datetime | None
) -> Batch:
    """(Re)create the slot with an exported snapshot and land every current row at the slot's start."""
    import psycopg

    write_watermark(con, SNAPSHOT_STATE, "pending")
    if slot_health(pg, slot).exists:
        pg.execute("select pg_drop_replication_slot(%s)", [slot])
    with _connect(url, replication="database") as replication:
        # Replication commands need the simple query protocol: libpq's PQexec.
        result = replication.pgconn.exec_(
            f'CREATE_REPLICATION_SLOT "{slot}" LOGICAL wal2json EXPORT_SNAPSHOT'.encode()
        )
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            message = (result.error_message or b"").decode(errors="replace").strip()
            raise LifecycleError(f"app: creating replication slot {slot!r} failed: {message}")
        start = lsn_int(result.get_value(0, 1).decode())
        snapshot_name = result.get_value(0, 2).decode()
        write_watermark(con, SNAPSHOT_STATE, f"pending {lsn_text(start)}")
        rows, newest = _read_snapshot(url, snapshot_name)
    if as_of is not None and newest is not None and newest > latest_allowed(as_of):
        raise LifecycleError(
            f"app: the PostgreSQL shop holds changes up to {newest}, after the as-of "
            f"{as_of:%Y-%m-%d %H:%M:%S}: a snapshot would land them all; rerun with an as-of at or after it"
        )
    stamp = f"{newest or as_of or utc_now():%Y-%m-%d %H:%M:%S}"
    frame = pd.DataFrame(
        [(change_id(start, 0), table, "snapshot", key, stamp, row_json) for table, key, row_json in rows],
        columns=["change_id", "table_name", "op", "row_key", "changed_at", "row_json"],
    )
    batch = Batch(
        SOURCE,
        watermark_before=read_watermark(con, SOURCE),
        watermark_after=str(change_id(start, 0)),
        as_of=as_of,
    )
    # Snapshot rows share one change id, so the overlap anti-join must not drop them: low = their id.
    app._land_changes(
        con, frame, batch, Path(slot), change_id(start, 0), source_file=f"snapshot of slot {slot}"
    )
    write_watermark(con, SNAPSHOT_STATE, "ok")
    return batch


def _read_snapshot(url: str, snapshot_name: str) -> tuple[list[tuple[str, str, str]], dt.datetime | None]:
    """Every row of the declared tables as of the exported snapshot, and the newest timestamp in them."""
    import psycopg
    from psycopg import sql

    rows: list[tuple[str, str, str]] = []
    newest: dt.datetime | None = None
    with psycopg.connect(url) as snap:
        snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap.read_only = True
        snap.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_name)))
        for table in APP_TABLES:
            cursor = snap.execute(sql.SQL("select * from {}").format(sql.Identifier(table)))
            names = [column.name for column in cursor.description or []]
            for values in cursor:
                row = {name: _json_value(value) for name, value in zip(names, values, strict=True)}
                rows.append((table, str(row[names[0]]), json.dumps(row)))
                for value in values:
                    if isinstance(value, dt.datetime) and (newest is None or value > newest):
                        newest = value
    return rows, newest


def _json_value(value: Any) -> Any:
    """A column value as the change stream prints it (timestamps ``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""
    if isinstance(value, dt.datetime | dt.date):
        return str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


HEALTH_DDL = """
create table if not exists raw._replication_slot (
    checked_at timestamp, slot varchar, slot_exists boolean, confirmed_lsn varchar,
    lag_bytes bigint, retained_bytes bigint, retained_limit_bytes bigint
)
"""


def record_health(con: duckdb.DuckDBPyConnection, health: SlotHealth, limit: int) -> str | None:
    """Keep the slot's lag for the health page and status; a warning when it holds more WAL than ``limit``."""
    con.execute(HEALTH_DDL)
    con.execute(
        "insert into raw._replication_slot values (?, ?, ?, ?, ?, ?, ?)",
        [utc_now(), health.slot, health.exists, health.confirmed_lsn, health.lag_bytes,
         health.retained_bytes, limit],
    )  # fmt: skip
    if health.retained_bytes <= limit:
        return None
    return (
        f"app: replication slot {health.slot!r} retains {health.retained_bytes / 2**20:,.0f} MiB of WAL "
        f"(limit {limit / 2**20:,.0f} MiB, LIFECYCLE_SLOT_RETAINED_WAL_LIMIT): the server keeps WAL until "
        "the slot moves; ingest more often, or drop the slot (the next run re-snapshots)"
    )


def load_from_slot(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    as_of: dt.datetime | None,
    full_refresh: bool,
    progress: Callable[[str], None],
) -> list[Batch]:
    """The app source when ``LIFECYCLE_APP_DATABASE_URL`` is set: the slot's changes, and its health."""
    assert settings.app_database_url is not None
    batches, health = load_app_postgres(
        con, settings.app_database_url, slot=settings.replication_slot, as_of=as_of, full_refresh=full_refresh
    )
    warning = record_health(con, health, settings.slot_retained_wal_limit)
    progress(f"app: slot {health.slot} at {health.confirmed_lsn}, {health.lag_bytes:,} bytes behind")
    if warning:
        progress(f"WARNING {warning}")
    return batches
