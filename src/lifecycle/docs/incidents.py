"""The incidents page: open and recent incidents from the run history (``observability.incidents``), each with
its owner, rule, sample, runbook and timeline, plus the last runs and their stages. Alerts link here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from lifecycle.docs.layout import render_page
from lifecycle.observability.history import SCHEMA

#: Resolved incidents shown besides the open ones.
RECENT = 30
#: Runs shown in the run list.
RUNS = 10


@dataclass(frozen=True)
class Incident:
    incident_id: str
    title: str
    owner: str
    severity: str
    status: str
    opened_at: dt.datetime | None
    resolved_at: dt.datetime | None
    failing_runs: int
    rule: str
    sample: str
    runbook: str
    timeline: list[tuple[dt.datetime, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Incidents:
    incidents: list[Incident] = field(default_factory=list)
    runs: list[tuple[object, ...]] = field(default_factory=list)

    @property
    def open(self) -> list[Incident]:
        return [i for i in self.incidents if i.status == "open"]

    @property
    def recent(self) -> list[Incident]:
        return [i for i in self.incidents if i.status != "open"]


def read_incidents(con: duckdb.DuckDBPyConnection) -> Incidents:
    """Open incidents and the most recent resolved ones, newest first (empty before the first run)."""
    found = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = 'incidents'", [SCHEMA]
    ).fetchone()
    if not found or not found[0]:
        return Incidents()
    rows = con.execute(
        f"select incident_id, title, owner, severity, status, opened_at, resolved_at, failing_runs, rule,"
        f" sample, runbook from {SCHEMA}.incidents where status in ('open', 'resolved')"
        " order by status = 'open' desc, opened_at desc limit ?",
        [RECENT],
    ).fetchall()
    events = con.execute(
        f"select incident_id, happened_at, run_id, event, detail from {SCHEMA}.incident_events"
        " order by happened_at"
    ).fetchall()
    timeline: dict[str, list[tuple[dt.datetime, str, str, str]]] = {}
    for incident_id, at, run_id, event, detail in events:
        timeline.setdefault(str(incident_id), []).append((at, str(run_id), str(event), str(detail or "")))
    runs = con.execute(
        f"select r.run_id, r.trigger, r.as_of, r.started_at, r.finished_at, r.status,"
        " string_agg(s.stage || ' ' || s.status || ' ' || round(s.seconds, 1) || ' s', ' · '"
        " order by s.started_at)"
        f" from {SCHEMA}.runs as r left join {SCHEMA}.stages as s on r.run_id = s.run_id"
        " group by all order by r.started_at desc limit ?",
        [RUNS],
    ).fetchall()
    return Incidents(
        [
            Incident(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                r[5],
                r[6],
                int(r[7] or 0),
                str(r[8] or ""),
                str(r[9] or ""),
                str(r[10] or ""),
                timeline.get(str(r[0]), []),
            )
            for r in rows
        ],
        [tuple(r) for r in runs],
    )


def render(state: Incidents) -> str:
    return render_page("incidents.html", "Incidents", state=state)
