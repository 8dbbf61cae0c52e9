"""Check results into the run history, and incidents out of them: one incident per failing check, not one
alert per run.

A check that fails opens an incident once it has failed on ``open_after_failed_runs`` consecutive runs
(``alerts.yml``) and sends one message to its owner; later failing runs only lengthen its timeline; the
first run that passes the check again resolves it and sends one "resolved" message. A run that does not
judge the check (an earlier gate stopped it) leaves its incident as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from lifecycle.config import Settings
from lifecycle.observability import alerts
from lifecycle.observability.history import SCHEMA, insert, now, writer
from lifecycle.quality.report import ExpectationOutcome

#: Who answers for a check whose table has no declared owner (the dbt project's own default owner).
DEFAULT_OWNER = "data-platform"


@dataclass(frozen=True)
class CheckState:
    """One check as one run judged it: who owns it, and whether it failed, with a sample of what failed."""

    check_id: str
    title: str
    owner: str
    severity: str
    failed: bool
    sample: str
    runbook: str
    rule: str
    suite: str = ""
    layer: str = ""
    table: str = ""
    dimension: str = ""


def check_id(outcome: ExpectationOutcome) -> str:
    """A check's identity across runs: its suite, kind and column, and its rule (labels of some checks
    carry the day they judge, which must not make every day's failure a new check)."""
    column = f"({outcome.column})" if outcome.column else ""
    rule = hashlib.sha1(outcome.rule.encode()).hexdigest()[:8]
    return f"{outcome.suite}:{outcome.expectation}{column}#{rule}"


def states_of(
    settings: Settings, outcomes: Sequence[ExpectationOutcome], samples: dict[str, str] | None = None
) -> list[CheckState]:
    """Quality outcomes as check states; a check without an owner gets its table's (``meta.owner``, else
    its folder's) and ``samples`` (by expectation name) replace the observed value as the sample."""
    from lifecycle.quality.suites import DbtProject

    project = DbtProject(settings.project_dir)
    owners: dict[tuple[str, str], str] = {}
    states = []
    for o in outcomes:
        if o.success is None:
            continue
        owner = o.owner
        if not owner:
            key = (o.layer, o.table)
            if key not in owners:
                owners[key] = project.owner(o.layer, o.table) or DEFAULT_OWNER
            owner = owners[key]
        states.append(
            CheckState(
                check_id=check_id(o),
                title=f"{o.suite}: {o.label}",
                owner=owner,
                severity=o.severity,
                failed=o.success is False,
                sample=(samples or {}).get(o.expectation) or o.observed,
                runbook=o.runbook,
                rule=o.rule,
                suite=o.suite,
                layer=o.layer,
                table=o.table,
                dimension=o.dimension,
            )
        )
    return states


def observe_checks(
    settings: Settings,
    run_id: str,
    gate: str,
    states: Sequence[CheckState],
    *,
    checked_at: dt.datetime | None = None,
) -> list[alerts.Alert]:
    """Record one gate's check results of one run, update the incidents, and send their alerts."""
    routing = alerts.config(settings)
    checked_at = checked_at or now()
    with writer(settings) as con:
        con.begin()
        con.execute(f"delete from {SCHEMA}.check_results where run_id = ? and gate = ?", [run_id, gate])
        insert(con, "check_results", [_result_row(run_id, gate, s, checked_at) for s in states])
        sent = _update_incidents(con, settings, routing, run_id, states)
        con.commit()
    alerts.send(settings, sent, routing)
    return sent


def _result_row(run_id: str, gate: str, state: CheckState, checked_at: dt.datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "gate": gate,
        "check_id": state.check_id,
        "suite": state.suite,
        "layer": state.layer,
        "table_name": state.table,
        "dimension": state.dimension,
        "severity": state.severity,
        "check_name": state.title,
        "owner": state.owner,
        "runbook": state.runbook,
        "observed": state.sample[:2000],
        "threshold": state.rule,
        "verdict": "failed" if state.failed else "passed",
        "checked_at": checked_at,
    }


def _alertable(routing: alerts.AlertConfig, state: CheckState) -> bool:
    if state.severity == "monitor":
        return routing.monitors
    return state.severity in routing.alert_severities


def _update_incidents(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    routing: alerts.AlertConfig,
    run_id: str,
    states: Sequence[CheckState],
) -> list[alerts.Alert]:
    sent = []
    at = now()
    for state in states:
        if not _alertable(routing, state):
            continue
        row = con.execute(
            f"select incident_id, status, failing_runs, last_failed_run from {SCHEMA}.incidents"
            " where check_id = ? and status in ('pending', 'open')",
            [state.check_id],
        ).fetchone()
        if state.failed:
            if row is not None and row[3] == run_id:  # judged twice in one run (raw suites): once counts
                continue
            if row is None:
                incident_id = f"INC-{at:%Y%m%d%H%M%S}-{hashlib.sha1(state.check_id.encode()).hexdigest()[:6]}"
                insert(
                    con,
                    "incidents",
                    [
                        {
                            "incident_id": incident_id,
                            "check_id": state.check_id,
                            "title": state.title,
                            "owner": state.owner,
                            "severity": state.severity,
                            "status": "pending",
                            "opened_run": run_id,
                            "last_failed_run": run_id,
                            "failing_runs": 1,
                            "sample": state.sample[:2000],
                            "runbook": state.runbook,
                            "rule": state.rule,
                        }
                    ],
                )
                failing, status = 1, "pending"
            else:
                incident_id, status, failing = str(row[0]), str(row[1]), int(row[2]) + 1
                con.execute(
                    f"update {SCHEMA}.incidents set failing_runs = ?, last_failed_run = ?, sample = ?"
                    " where incident_id = ?",
                    [failing, run_id, state.sample[:2000], incident_id],
                )
            if status == "pending" and failing >= routing.open_after_failed_runs:
                con.execute(
                    f"update {SCHEMA}.incidents set status = 'open', opened_at = ?, opened_run = ?"
                    " where incident_id = ?",
                    [at, run_id, incident_id],
                )
                _event(con, incident_id, run_id, "opened", state.sample, at)
                sent.append(_alert("opened", incident_id, state, settings, run_id, at, failing))
            else:
                _event(con, incident_id, run_id, "failing", state.sample, at)
        elif row is not None:
            incident_id, status, failing = str(row[0]), str(row[1]), int(row[2])
            resolved = "resolved" if status == "open" else "cleared"
            con.execute(
                f"update {SCHEMA}.incidents set status = ?, resolved_at = ?, resolved_run = ?"
                " where incident_id = ?",
                [resolved, at, run_id, incident_id],
            )
            _event(con, incident_id, run_id, resolved, "the check passed", at)
            if status == "open":
                sent.append(_alert("resolved", incident_id, state, settings, run_id, at, failing))
    return sent


def _event(
    con: duckdb.DuckDBPyConnection, incident_id: str, run_id: str, event: str, detail: str, at: dt.datetime
) -> None:
    insert(
        con,
        "incident_events",
        [
            {
                "incident_id": incident_id,
                "happened_at": at,
                "run_id": run_id,
                "event": event,
                "detail": detail[:2000],
            }
        ],
    )


def incident_link(settings: Settings, incident_id: str) -> str:
    """The incident's entry on the docs site's incidents page (served, or the local file)."""
    base = settings.site_url.rstrip("/") if settings.site_url else settings.site_dir.as_uri()
    return f"{base}/incidents.html#{incident_id}"


def _alert(
    kind: alerts.Kind,
    incident_id: str,
    state: CheckState,
    settings: Settings,
    run_id: str,
    at: dt.datetime,
    failing: int,
) -> alerts.Alert:
    return alerts.Alert(
        kind=kind,
        incident_id=incident_id,
        check=state.title,
        owner=state.owner,
        severity=state.severity,
        rule=state.rule,
        sample=state.sample[:1000],
        runbook=state.runbook,
        link=incident_link(settings, incident_id),
        run_id=run_id,
        at=at.isoformat(timespec="seconds"),
        failing_runs=failing,
    )
