"""The shop database's replication slot as ingestion last read it (``raw._replication_slot``, PostgreSQL
shop only): its lag for ``lifecycle status`` and the health page, and the watch that opens an incident when
the slot holds back more WAL than ``LIFECYCLE_SLOT_RETAINED_WAL_LIMIT``.

Everything here reads the warehouse, never PostgreSQL: status answers while the server is down, and the
reading's age says how stale it is. Ages are on the wall clock, not a run's as-of: ingestion stamps its
readings with the wall clock, and a server keeps WAL in real time whatever day a replay simulates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from lifecycle.config import Settings
from lifecycle.observability.alerts import Alert
from lifecycle.observability.incidents import DEFAULT_OWNER, CheckState, observe_checks
from lifecycle.storage import connect_warehouse

#: Where ingestion keeps one reading of the slot per read (``ingest.postgres.record_health``).
TABLE = "_replication_slot"
#: The gate name of the slot's check in ``observability.check_results``.
GATE = "replication slot"
MIB = 2**20


@dataclass(frozen=True)
class SlotReading:
    """The newest reading of the slot, judged against the configured limit."""

    slot: str
    #: when ingestion last read the slot
    checked_at: dt.datetime
    exists: bool
    confirmed_lsn: str | None
    #: WAL written since the confirmed position (what the next ingest reads), at the reading
    lag_bytes: int
    #: WAL the server keeps for the slot, at the reading
    retained_bytes: int
    #: the first reading at the current confirmed position: when ingestion confirmed it there
    confirmed_at: dt.datetime
    limit_bytes: int

    @property
    def behind(self) -> bool:
        """The slot holds back more WAL than the limit: the source server's disk fills until it moves."""
        return self.retained_bytes > self.limit_bytes

    @property
    def state(self) -> str:
        return "missing" if not self.exists else "over the limit" if self.behind else "ok"

    def describe(self, at: dt.datetime, stale_after: dt.timedelta | None = None) -> str:
        """One line for a terminal: the slot, its WAL, and how old the position and the reading are."""
        read_age = at - self.checked_at
        stale = (
            f" STALE: not read for over {duration(stale_after)}, ingestion may have stopped"
            if stale_after is not None and read_age > stale_after
            else ""
        )
        return (
            f"{self.slot} {self.state}: retains {mib(self.retained_bytes)} of WAL "
            f"(limit {mib(self.limit_bytes)}), {mib(self.lag_bytes)} behind; position {self.confirmed_lsn} "
            f"confirmed {duration(at - self.confirmed_at)} ago; read {duration(read_age)} ago "
            f"({self.checked_at:%Y-%m-%d %H:%M:%S}){stale}"
        )


def mib(size: int) -> str:
    return f"{size / MIB:,.1f} MiB"


def duration(delta: dt.timedelta) -> str:
    """A duration as a person would say it: 45 s, 12 min, 3.5 h, 2.0 days."""
    seconds = delta.total_seconds()
    if seconds < 0:
        return "-" + duration(-delta)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def read_slot(con: duckdb.DuckDBPyConnection, limit_bytes: int) -> SlotReading | None:
    """The newest reading of the slot ingestion reads; None when it never read one (a SQLite shop)."""
    (found,) = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = ?", [TABLE]
    ).fetchone() or (0,)
    if not found:
        return None
    row = con.execute(
        f"""
        with newest as (
            select * from raw.{TABLE} order by checked_at desc limit 1
        ),
        moved as (
            -- the last reading of this slot at another position (or none)
            select max(r.checked_at) as moved_at
            from raw.{TABLE} as r join newest as n on r.slot = n.slot
            where r.confirmed_lsn is distinct from n.confirmed_lsn
        )
        select
            n.slot, n.checked_at, n.slot_exists, n.confirmed_lsn, n.lag_bytes, n.retained_bytes,
            (select min(r.checked_at) from raw.{TABLE} as r, moved
             where r.slot = n.slot and r.checked_at > coalesce(moved.moved_at, '-infinity'::timestamp))
        from newest as n
        """
    ).fetchone()
    if row is None:
        return None
    slot, checked_at, exists, confirmed, lag, retained, confirmed_at = row
    return SlotReading(
        slot=str(slot),
        checked_at=checked_at,
        exists=bool(exists),
        confirmed_lsn=confirmed,
        lag_bytes=int(lag or 0),
        retained_bytes=int(retained or 0),
        confirmed_at=confirmed_at or checked_at,
        limit_bytes=limit_bytes,
    )


RUNBOOK = (
    "The server keeps every WAL segment the slot has not confirmed, so its disk fills until the slot moves. "
    "Look at `lifecycle status` (when the position was last confirmed) and raw._ingest_log where "
    "source = 'app'. (1) Ingestion stopped or fails (no recent batch, or failed ones): fix what the error "
    "names and run `lifecycle ingest` (or `lifecycle run`); the slot moves as soon as a batch commits. "
    "(2) Ingestion runs but lands nothing new: an as-of far behind the server's clock holds the newer "
    "transactions back; run with a current as-of. (3) The slot is abandoned (this warehouse is retired, or "
    "the backlog is too large to read): drop it in PostgreSQL with "
    "`select pg_drop_replication_slot('<slot>')` and run `lifecycle ingest --full-refresh`, which "
    "recreates it and lands a consistent snapshot, so no row is lost or landed twice. Raise "
    "LIFECYCLE_SLOT_RETAINED_WAL_LIMIT only if the server's disk has room for the larger backlog."
)


def slot_check(reading: SlotReading, owner: str) -> CheckState:
    """The slot's retained WAL as a check of the pipeline's own: failed while it is over the limit."""
    return CheckState(
        check_id=f"replication_slot:{reading.slot}:retained_wal",
        title=f"replication slot {reading.slot}: retained WAL",
        owner=owner,
        # A watch, not a gate (the landed data are right, only late): routed like the marts' monitors.
        severity="monitor",
        failed=reading.behind,
        sample=(
            f"retains {mib(reading.retained_bytes)} of WAL, {mib(reading.lag_bytes)} behind the server; "
            f"position {reading.confirmed_lsn} confirmed at {reading.confirmed_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(read {reading.checked_at:%Y-%m-%d %H:%M:%S} UTC)"
        ),
        runbook=RUNBOOK.replace("<slot>", reading.slot),
        rule=(
            f"The replication slot {reading.slot} retains at most {mib(reading.limit_bytes)} of WAL "
            "(LIFECYCLE_SLOT_RETAINED_WAL_LIMIT)"
        ),
        suite="raw.app.replication_slot",
        layer="raw",
        table=TABLE,
        dimension="timeliness",
    )


def watch_slot(settings: Settings, run_id: str) -> list[Alert]:
    """Judge the newest slot reading for ``run_id``, opening or resolving its incident; nothing for a
    SQLite shop (a reading left from an earlier PostgreSQL setup is no longer the source's)."""
    if not settings.app_database_url:
        return []
    from lifecycle.quality.suites import DbtProject

    with connect_warehouse(settings) as con:
        reading = read_slot(con, settings.slot_retained_wal_limit)
    if reading is None:
        return []
    owner = DbtProject(settings.project_dir).owner("raw", "app_orders") or DEFAULT_OWNER
    return observe_checks(settings, run_id, GATE, [slot_check(reading, owner)])
