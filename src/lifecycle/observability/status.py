"""``lifecycle status``: the last run, each source's freshness against its SLA, the shop database's
replication slot (PostgreSQL shop only) and the open incidents, for a person at a terminal or a cron job /
monitoring probe (non-zero exit when a source breaches its SLA or the slot retains more WAL than its limit).

Only reads: it takes no lock and opens the warehouse read-only, so it can run beside a pipeline run (and
says so if that run is writing the warehouse at the moment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.observability.history import SCHEMA, now
from lifecycle.observability.monitoring import SourceFreshness, read_freshness
from lifecycle.observability.replication import RUNBOOK, SlotReading, read_slot
from lifecycle.quality.suites import DbtProject
from lifecycle.storage import connect_warehouse

#: Exit status of ``lifecycle status`` when a source is older than its freshness SLA (``error_after``) or
#: the replication slot retains more WAL than ``LIFECYCLE_SLOT_RETAINED_WAL_LIMIT``.
SLA_BREACHED = 3


class StatusUnavailable(LifecycleError):
    """The warehouse cannot be read now (missing, or a run holds it for writing)."""


@dataclass(frozen=True)
class Status:
    as_of: dt.datetime
    last_run: tuple[str, str, str, dt.datetime | None, dt.datetime | None] | None
    stages: list[tuple[str, str, float]] = field(default_factory=list)
    freshness: list[SourceFreshness] = field(default_factory=list)
    incidents: list[tuple[str, str, str, dt.datetime | None, int, str]] = field(default_factory=list)
    #: the shop database's replication slot as ingestion last read it; None: not a PostgreSQL shop, or
    #: not read yet (``slot_expected`` says which)
    slot: SlotReading | None = None
    slot_expected: bool = False
    #: the wall clock the slot's ages are measured on (its readings are stamped with it, not the as-of)
    clock: dt.datetime | None = None

    @property
    def breached(self) -> list[SourceFreshness]:
        return [f for f in self.freshness if f.status == "error"]

    @property
    def breaches(self) -> list[str]:
        """What makes status exit non-zero: each source past its SLA, and a slot over its WAL limit."""
        found = [f.source for f in self.breached]
        if self.slot is not None and self.slot.behind:
            found.append(f"replication slot {self.slot.slot} (retained WAL over its limit)")
        return found

    def _slot_lines(self) -> list[str]:
        if self.slot is None:
            return ["", "replication slot: not read by ingestion yet"] if self.slot_expected else []
        # A reading older than the shop's freshness warning means ingestion has not read the slot since.
        app = next((f for f in self.freshness if f.source == "app"), None)
        stale_after = app.warn_after if app is not None else None
        lines = [
            "",
            "replication slot (as ingestion last read it; status does not connect to PostgreSQL):",
            f"  {self.slot.describe(self.clock or self.as_of, stale_after)}",
        ]
        if self.slot.behind:
            lines.append(f"    runbook: {RUNBOOK.replace('<slot>', self.slot.slot)}")
        return lines

    def to_text(self) -> str:
        lines = [f"status as of {self.as_of:%Y-%m-%d %H:%M:%S} UTC", "", "last run:"]
        if self.last_run is None:
            lines.append("  none recorded yet")
        else:
            run_id, trigger, status, started, finished = self.last_run
            lines.append(f"  {run_id} ({trigger}) {status}, {started} → {finished}")
            lines += [f"    {name:<10} {result:<7} {seconds:7.1f} s" for name, result, seconds in self.stages]
        lines += ["", "freshness (newest data against the source's SLA):"]
        lines += [f"  {f.describe()}" for f in self.freshness]
        lines += self._slot_lines()
        lines += ["", f"open incidents: {len(self.incidents)}"]
        for incident_id, title, owner, opened, failing, runbook in self.incidents:
            lines.append(
                f"  {incident_id} {title} → owner {owner}, open since {opened}, {failing} failing run(s)"
            )
            if runbook:
                lines.append(f"    runbook: {runbook}")
        if self.breaches:
            lines += ["", "SLA BREACHED: " + ", ".join(self.breaches)]
        return "\n".join(lines)

    @property
    def exit_code(self) -> int:
        return SLA_BREACHED if self.breaches else 0


def read_status(settings: Settings, as_of: dt.datetime) -> Status:
    if not settings.warehouse_path.exists():
        raise StatusUnavailable(f"no warehouse at {settings.warehouse_path}: nothing has run yet")
    try:
        with connect_warehouse(settings, read_only=True) as con:
            return _read(con, settings, as_of)
    except duckdb.IOException as error:
        raise StatusUnavailable(
            f"cannot read {settings.warehouse_path} now ({error}); a run is writing it: try again shortly"
        ) from error


def _read(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.datetime) -> Status:
    freshness = read_freshness(con, DbtProject(settings.project_dir), as_of)
    slot = read_slot(con, settings.slot_retained_wal_limit)
    expected = settings.app_database_url is not None
    has_history = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = 'runs'", [SCHEMA]
    ).fetchone()
    if not has_history or not has_history[0]:
        return Status(as_of, None, freshness=freshness, slot=slot, slot_expected=expected, clock=now())
    last = con.execute(
        f"select run_id, trigger, status, started_at, finished_at from {SCHEMA}.runs"
        " order by started_at desc limit 1"
    ).fetchone()
    stages = (
        con.execute(
            f"select stage, status, seconds from {SCHEMA}.stages where run_id = ? order by started_at",
            [last[0]],
        ).fetchall()
        if last
        else []
    )
    incidents = con.execute(
        f"select incident_id, title, owner, opened_at, failing_runs, runbook from {SCHEMA}.incidents"
        " where status = 'open' order by opened_at"
    ).fetchall()
    return Status(
        as_of,
        (str(last[0]), str(last[1]), str(last[2]), last[3], last[4]) if last else None,
        [(str(s), str(r), float(t)) for s, r, t in stages],
        freshness,
        [(str(i), str(t), str(o), a, int(f), str(r or "")) for i, t, o, a, f, r in incidents],
        slot=slot,
        slot_expected=expected,
        clock=now(),
    )
