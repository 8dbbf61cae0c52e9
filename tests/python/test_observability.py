"""Incidents and alerts (one per incident, a resolved message after a pass, routed to the owner's webhook and
always to the outbox), alerts.yml checking, and the monitors' expected band with weekly seasonality."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.ingest.postgres import SlotHealth, record_health
from lifecycle.observability import alerts
from lifecycle.observability.alerts import load_config, read_outbox
from lifecycle.observability.monitoring import SourceFreshness, expected_band, watch
from lifecycle.observability.replication import TABLE, SlotReading, read_slot, watch_slot
from lifecycle.observability.status import SLA_BREACHED, Status
from lifecycle.quality.gates import _decide
from lifecycle.quality.report import ExpectationOutcome, ValidationReport
from lifecycle.storage import connect_warehouse

AS_OF = dt.datetime(2026, 3, 4, 6, 0)


class Receiver:
    """A Slack-compatible webhook on 127.0.0.1 that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/data"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def outcome(passed: bool, observed: str) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite="marts.fct_orders.accuracy",
        table="fct_orders",
        layer="marts",
        dimension="accuracy",
        severity="critical",
        expectation="expect_column_values_to_be_between",
        column="order_total",
        description=None,
        rule="An order's total is between 0 and 10,000",
        status="passed" if passed else "failed",
        observed=observed,
        owner="finance",
        runbook="look at the order's lines in fct_order_items; fix the source and rerun",
    )


def judge(settings: Settings, run_id: str, *, passed: bool) -> None:
    """One run of the validate gate on a check (the gate's own decision path: verdict, history, alerts)."""
    connect_warehouse(settings).close()  # a warehouse with nothing built yet: the gate judges its fingerprint
    report = ValidationReport(
        as_of=AS_OF,
        checked_at=AS_OF,
        outcomes=(outcome(passed, "0 unexpected" if passed else "3 of 120 orders above, e.g. 12400.00"),),
    )
    if passed:
        _decide(settings, "validate", report, run_id, AS_OF, judges_marts=True)
    else:
        with pytest.raises(GateFailed):
            _decide(settings, "validate", report, run_id, AS_OF, judges_marts=True)


def project_with(tmp_path: Path, alerts_yml: str) -> Path:
    """A copy of the project's YAML (owners, freshness) with its own alerts.yml."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "models", project / "models")
    shutil.copy(PROJECT_DIR / "dbt_project.yml", project / "dbt_project.yml")
    (project / "alerts.yml").write_text(alerts_yml)
    return project


def test_a_gate_failing_on_two_runs_alerts_once_and_a_pass_resolves_it(tmp_path: Path, receiver: Receiver):
    settings = Settings(data_dir=tmp_path / "data", alert_webhook_url=receiver.url)
    judge(settings, "run-1", passed=False)
    judge(settings, "run-2", passed=False)
    assert [b["blocks"][0]["text"]["text"] for b in receiver.bodies] == [
        "Failing: marts.fct_orders.accuracy: expect_column_values_to_be_between(order_total)"
    ]
    message = receiver.bodies[0]["text"]
    for part in ("owner finance", "12400.00", "fct_order_items", "incidents.html#INC-", "run-1"):
        assert part in message
    judge(settings, "run-3", passed=True)
    judge(settings, "run-4", passed=True)
    assert len(receiver.bodies) == 2
    assert receiver.bodies[1]["text"].startswith(":white_check_mark: RESOLVED")

    outbox = read_outbox(settings)
    assert [(a["kind"], a["run_id"]) for a in outbox] == [("opened", "run-1"), ("resolved", "run-3")]
    assert [a["text"] if "text" in a else alerts.Alert(**_fields(a)).text() for a in outbox] == [
        b["text"] for b in receiver.bodies
    ]
    assert all(a["channels"] == {"webhook": "delivered: HTTP 200"} for a in outbox)
    assert outbox[1]["failing_runs"] == 2
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        timeline = con.execute("select run_id, event from observability.incident_events order by happened_at")
        assert timeline.fetchall() == [
            ("run-1", "opened"),
            ("run-2", "failing"),
            ("run-3", "resolved"),
        ]
        verdicts = con.execute("select run_id, verdict from observability.check_results order by run_id")
        assert verdicts.fetchall() == [
            ("run-1", "failed"),
            ("run-2", "failed"),
            ("run-3", "passed"),
            ("run-4", "passed"),
        ]


def _fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("channels", "logged_at")}


def test_an_incident_opens_after_the_configured_number_of_failing_runs(tmp_path: Path, receiver: Receiver):
    project = project_with(tmp_path, "open_after_failed_runs: 3\nowners:\n  finance: [webhook]\n")
    settings = Settings(data_dir=tmp_path / "data", project_dir=project, alert_webhook_url=receiver.url)
    judge(settings, "run-1", passed=False)
    judge(settings, "run-2", passed=False)
    judge(settings, "run-3", passed=True)  # not three in a row: starts again, nothing was sent
    assert receiver.bodies == []
    for run in ("run-4", "run-5", "run-6", "run-7"):
        judge(settings, run, passed=False)
    assert [a["run_id"] for a in read_outbox(settings)] == ["run-6"]
    assert len(receiver.bodies) == 1


def test_an_owner_without_a_webhook_still_gets_the_outbox(tmp_path: Path, receiver: Receiver):
    project = project_with(tmp_path, "owners:\n  finance: []\n")
    settings = Settings(data_dir=tmp_path / "data", project_dir=project, alert_webhook_url=receiver.url)
    judge(settings, "run-1", passed=False)
    assert receiver.bodies == []
    assert [(a["kind"], a["owner"], a["channels"]) for a in read_outbox(settings)] == [
        ("opened", "finance", {})
    ]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("owners:\n  finance: [pager]\n", "owners.finance"),
        ("open_after_failed_runs: 0\n", "open_after_failed_runs"),
        ("monitoring:\n  sensitivity: 3\n  windows: 4\n", "monitoring"),
        ("chanels: []\n", "chanels"),
    ],
)
def test_a_bad_alerts_yml_names_the_file_and_field(tmp_path: Path, text: str, named: str):
    path = tmp_path / "alerts.yml"
    path.write_text(text)
    with pytest.raises(LifecycleError, match=named) as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_the_repositorys_alerts_yml_routes_every_declared_owner():
    config = load_config(PROJECT_DIR / "alerts.yml")
    owners = set()
    for path in (PROJECT_DIR / "models").rglob("*.yml"):
        owners |= {
            line.split("owner:")[1].strip() for line in path.read_text().splitlines() if "owner: " in line
        }
    assert owners and owners <= set(config.owners)


def test_weekly_seasonality_judges_a_weekday_against_the_same_weekday():
    # Four weeks of a figure that is 100 on weekdays and 40 on Sundays.
    start = dt.datetime(2026, 2, 1, 6)  # a Sunday
    history = [(start + dt.timedelta(days=d), 40.0 if d % 7 == 0 else 100.0) for d in range(28)]
    sunday = start + dt.timedelta(days=28)
    seasonal = expected_band(history, sunday, 3, 4, weekly=True)
    flat = expected_band(history, sunday, 3, 4, weekly=False)
    assert seasonal is not None and flat is not None
    assert seasonal[0] <= 40 <= seasonal[1]  # an ordinary Sunday
    assert not seasonal[0] <= 100 <= seasonal[1]  # a weekday's figure on a Sunday is an anomaly
    assert flat[0] <= 40 <= flat[1]  # without seasonality the band must stretch over both
    monday = sunday + dt.timedelta(days=1)
    band = expected_band(history, monday, 3, 4, weekly=True)
    assert band is not None and not band[0] <= 40 <= band[1]
    # Too little history: no band, so nothing is judged.
    assert expected_band(history[:3], sunday, 3, 4, weekly=True) is None
    # A figure that never moved still gets a band (σ floor), so a tiny change is no anomaly.
    still = [(start + dt.timedelta(days=d), 50.0) for d in range(10)]
    band = expected_band(still, sunday, 3, 7, weekly=True)
    assert band is not None and band[0] < 49.0 and band[1] > 51.0


@pytest.mark.heavy
def test_a_mart_leaving_its_band_for_two_runs_opens_one_incident(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")

    def day(n: int, orders: int) -> str:
        as_of = AS_OF + dt.timedelta(days=n)
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("create schema if not exists marts")
            con.execute(
                "create or replace table marts.fct_tiny as select i as order_id,"
                " cast(? as date) - 1 as date_day, 10.0 as amount from range(?) as t(i)",
                [as_of.date(), orders],
            )
        watch(settings, f"run-{n}", as_of)
        return f"run-{n}"

    settings.data_dir.mkdir(parents=True)
    for n in range(8):
        day(n, 100 + n % 3)
    assert read_outbox(settings) == []
    day(8, 20)  # volume collapses: out of band once, not yet an incident
    assert read_outbox(settings) == []
    day(9, 20)
    opened = read_outbox(settings)
    volume = [a for a in opened if a["check"] == "monitor marts.fct_tiny: row_count"]
    assert [(a["kind"], a["run_id"]) for a in volume] == [("opened", "run-9")]
    assert "row_count = 20" in volume[0]["sample"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        judged = con.execute(
            "select run_id, is_anomalous from observability.metrics where mart = 'fct_tiny'"
            " and metric = 'row_count' order by as_of"
        ).fetchall()
    assert [flag for _, flag in judged] == [None] * 7 + [False, True, True]


# --------------------------------------------------------------------------------------------------
# the PostgreSQL shop's replication slot, from what ingestion recorded (no server needed)

MIB = 2**20


def record_slot(settings: Settings, *readings: tuple[str, int]) -> None:
    """Slot readings as ingestion records them: (confirmed position, retained WAL in MiB), oldest first."""
    with connect_warehouse(settings) as con:
        con.execute("create schema if not exists raw")
        for lsn, retained in readings:
            record_health(con, SlotHealth(SLOT, True, False, lsn, retained * MIB // 2, retained * MIB), 2**30)


SLOT = "lifecycle_app"


def test_the_slot_reading_says_when_its_position_was_confirmed(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    record_slot(settings, ("0/100", 1), ("0/200", 2), ("0/200", 3))
    with connect_warehouse(settings, read_only=True) as con:
        times = [
            r[0] for r in con.execute(f"select checked_at from raw.{TABLE} order by checked_at").fetchall()
        ]
        reading = read_slot(con, limit_bytes=2 * MIB)
    assert reading is not None
    assert (reading.confirmed_lsn, reading.retained_bytes, reading.lag_bytes) == (
        "0/200",
        3 * MIB,
        3 * MIB // 2,
    )
    # the position moved to 0/200 at the second reading and stayed there
    assert (reading.confirmed_at, reading.checked_at) == (times[1], times[2])
    assert reading.behind and reading.state == "over the limit"
    assert not dataclasses.replace(reading, limit_bytes=3 * MIB).behind  # at the limit is not over it
    with duckdb.connect() as con:
        assert read_slot(con, 2**30) is None  # a SQLite shop: nothing recorded


def _status(slot: SlotReading | None, *, fresh: bool = True) -> Status:
    age = dt.timedelta(hours=1 if fresh else 40)
    app = SourceFreshness(
        "app", "app_orders", AS_OF - age, age, dt.timedelta(hours=13), dt.timedelta(hours=26)
    )
    return Status(AS_OF, None, freshness=[app], slot=slot, slot_expected=slot is not None, clock=AS_OF)


def _reading(retained_mib: int, limit_mib: int, read_hours_ago: float = 1) -> SlotReading:
    read = AS_OF - dt.timedelta(hours=read_hours_ago)
    return SlotReading(
        slot=SLOT,
        checked_at=read,
        exists=True,
        confirmed_lsn="0/5000000",
        lag_bytes=MIB,
        retained_bytes=retained_mib * MIB,
        confirmed_at=read - dt.timedelta(hours=2),
        limit_bytes=limit_mib * MIB,
    )


def test_status_shows_the_slot_and_exits_non_zero_only_when_it_retains_too_much_wal():
    within = _status(_reading(retained_mib=10, limit_mib=1024))
    assert within.exit_code == 0
    text = within.to_text()
    assert "lifecycle_app ok: retains 10.0 MiB of WAL (limit 1,024.0 MiB), 1.0 MiB behind" in text
    assert "confirmed 3.0 h ago; read 60 min ago" in text
    assert "STALE" not in text and "SLA BREACHED" not in text

    behind = _status(_reading(retained_mib=2048, limit_mib=1024))
    assert behind.exit_code == SLA_BREACHED
    text = behind.to_text()
    assert "lifecycle_app over the limit: retains 2,048.0 MiB" in text
    assert "SLA BREACHED: replication slot lifecycle_app (retained WAL over its limit)" in text
    assert "--full-refresh" in text  # the runbook

    # one exit mechanism: a late source and a slot over its limit are both breaches
    both = _status(_reading(retained_mib=2048, limit_mib=1024), fresh=False)
    assert both.breaches == ["app", "replication slot lifecycle_app (retained WAL over its limit)"]
    assert both.exit_code == SLA_BREACHED


def test_status_says_when_the_slot_reading_is_stale_and_shows_nothing_for_a_sqlite_shop():
    stale = _status(_reading(retained_mib=10, limit_mib=1024, read_hours_ago=20)).to_text()
    assert "STALE: not read for over 13.0 h" in stale
    assert _status(None).exit_code == 0
    assert "replication slot" not in _status(None).to_text()
    waiting = dataclasses.replace(_status(None), slot_expected=True)
    assert "replication slot: not read by ingestion yet" in waiting.to_text()


def test_a_slot_over_its_wal_limit_alerts_its_owner_with_a_runbook_and_resolves(
    tmp_path: Path, receiver: Receiver
):
    settings = Settings(
        data_dir=tmp_path / "data",
        alert_webhook_url=receiver.url,
        app_database_url="postgresql://127.0.0.1:1/never-connected",
        slot_retained_wal_limit=64 * MIB,
    )
    record_slot(settings, ("0/100", 10))
    assert watch_slot(settings, "run-1") == []
    record_slot(settings, ("0/100", 100))
    [opened] = watch_slot(settings, "run-2")
    assert (opened.kind, opened.owner, opened.check) == (
        "opened",
        "data-platform",
        "replication slot lifecycle_app: retained WAL",
    )
    assert "retains 100.0 MiB of WAL" in opened.sample and "0/100" in opened.sample
    assert "pg_drop_replication_slot('lifecycle_app')" in opened.runbook
    assert "lifecycle ingest --full-refresh" in opened.runbook
    assert "64.0 MiB" in opened.rule
    assert watch_slot(settings, "run-3") == []  # still behind: the incident stays open, no new message
    record_slot(settings, ("0/900", 1))
    [resolved] = watch_slot(settings, "run-4")
    assert resolved.kind == "resolved"
    assert [(a["kind"], a["owner"], a["run_id"]) for a in read_outbox(settings)] == [
        ("opened", "data-platform", "run-2"),
        ("resolved", "data-platform", "run-4"),
    ]
    assert [b["blocks"][0]["text"]["text"] for b in receiver.bodies] == [
        "Failing: replication slot lifecycle_app: retained WAL",
        "Resolved: replication slot lifecycle_app: retained WAL",
    ]
    assert "Runbook: The server keeps every WAL segment" in receiver.bodies[0]["text"]


def test_a_sqlite_shop_has_no_slot_watch_even_with_an_old_reading(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", slot_retained_wal_limit=MIB)
    record_slot(settings, ("0/100", 100))  # left from when the shop ran on PostgreSQL
    assert watch_slot(settings, "run-1") == []
    assert read_outbox(settings) == []
