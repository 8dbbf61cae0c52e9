"""When the lifecycle runs on its own: every morning at 06:00 UTC, when new source data has arrived, and
what happens when a run fails.

Both triggers request today's partition, whose as-of is the moment its run starts (``partitions``): the
06:00 run publishes all of yesterday and the night. The sensor compares the sources with what the
warehouse has landed using ingestion's own rules (``ingest.files.new_files``: a file counts once it is
complete — its hour or day is over — and not landed with the same size; the application counts when its
change log has ids beyond the landed watermark, or, on PostgreSQL, when its replication slot holds row
changes made by now, looked at without moving the slot), so it asks for a run when ingestion would find
something to land; one run per new state of the sources (the run key is its fingerprint).
"""

# No `from __future__ import annotations`: Dagster reads the annotations of the functions it decorates
# (contexts, resources) as types.

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dagster import (
    DagsterEvent,
    DagsterRun,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    schedule,
    sensor,
)

from lifecycle.config import Settings
from lifecycle.orchestration.partitions import run_partition
from lifecycle.orchestration.resources import LifecycleResource
from lifecycle.storage import connect, connect_warehouse, ensure_raw_bookkeeping

#: The failure line goes to this logger (the daemon's output) until run alerts exist.
logger = logging.getLogger("lifecycle.orchestration")

#: Source files ingestion reads: (folder under sources/, glob, source name in raw._manifest).
SOURCE_FILES = (("events", "**/*.json.gz", "events"), ("ads", "*.csv", "ads"))


@dataclass(frozen=True)
class Arrivals:
    """What ingestion would land now: complete source files not landed yet, and new application changes."""

    files: tuple[str, ...]
    #: new application changes (on PostgreSQL at least this many: the slot is looked at, not read whole)
    changes: int
    #: the newest of them (its change id): part of the fingerprint
    newest_change: int
    #: the PostgreSQL shop's replication slot is missing: the next ingest lands a snapshot
    snapshot: bool = False
    #: why the application database could not be looked at (the files still count)
    problem: str | None = None

    def __bool__(self) -> bool:
        return bool(self.files) or self.changes > 0 or self.snapshot

    @property
    def fingerprint(self) -> str:
        """Identifies this state of the sources: one run is requested per state."""
        state = [self.files, self.newest_change, self.snapshot]
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]

    def describe(self) -> str:
        parts = []
        if self.files:
            parts.append(f"{len(self.files)} new file(s), e.g. {self.files[0]}")
        if self.changes:
            parts.append(f"{self.changes} new application change(s)")
        if self.snapshot:
            parts.append("the replication slot is missing: a snapshot of the application database")
        return "; ".join(parts) or "nothing new"


def pending_arrivals(settings: Settings, now: dt.datetime) -> Arrivals:
    """Compare the sources with the warehouse's bookkeeping (read-only; DuckDB's lock error if a run is
    writing it)."""
    from lifecycle.ingest.files import new_files
    from lifecycle.ingest.landing import read_watermark

    sources = settings.sources_dir
    if not sources.exists():
        return Arrivals((), 0, 0)
    with _bookkeeping(settings) as con:
        files = tuple(
            file.relative
            for folder, pattern, source in SOURCE_FILES
            if (sources / folder).exists()
            for file in new_files(con, sources / folder, pattern, source, now)
        )
        if settings.app_database_url:
            # Looked at while the warehouse is open: a run's ingest holds it for writing while it reads
            # the slot, and a slot serves one reader at a time, so the look never gets in its way.
            return _slot_arrivals(settings, files, now)
        landed = int(read_watermark(con, "app") or 0)
    newest = _newest_change(sources / "app.sqlite")
    return Arrivals(files, max(0, newest - landed), newest)


def _slot_arrivals(settings: Settings, files: tuple[str, ...], now: dt.datetime) -> Arrivals:
    from lifecycle.errors import LifecycleError
    from lifecycle.ingest.postgres import pending_changes

    assert settings.app_database_url is not None
    try:
        pending = pending_changes(settings.app_database_url, settings.replication_slot, now)
    except LifecycleError as error:
        return Arrivals(files, 0, 0, problem=str(error))
    if pending is None:
        return Arrivals(files, 0, 0, snapshot=True)
    return Arrivals(files, *pending)


@contextmanager
def _bookkeeping(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse's raw bookkeeping tables, or empty ones when nothing has been landed yet."""
    if settings.warehouse_path.exists():
        with connect_warehouse(settings, read_only=True) as con:
            found = con.execute(
                "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = '_manifest'"
            ).fetchone()
            if found and found[0]:
                yield con
                return
    with connect(settings=settings) as con:
        ensure_raw_bookkeeping(con)
        yield con


def _newest_change(path: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        row = con.execute("select max(change_id) from change_log").fetchone()
    except sqlite3.Error:
        return 0  # no application database (yet)
    finally:
        con.close()
    return int(row[0]) if row and row[0] is not None else 0


def failure_line(run: DagsterRun, steps: Sequence[DagsterEvent]) -> str:
    """One line saying which run of which day failed where, why, and what that means for the publication."""
    partition = run_partition(run.tags) or "no single day"
    failed = [event.step_key or "?" for event in steps]
    where = "; ".join(_step_error(event) for event in steps) or "the run failed before any step"
    published = (
        "the publication is new, the docs site is not"
        if failed == ["docs_site"]
        else "the last good publication stays current"
    )
    return (
        f"lifecycle run FAILED: day {partition}, run {run.run_id[:8]} ({run.job_name}): {where}; {published}"
    )


def _step_error(event: DagsterEvent) -> str:
    data = event.step_failure_data
    message = data.error.message if data is not None and data.error is not None else "no message"
    text = " ".join(message.replace("dagster._core.errors.", "").split())
    return f"{event.step_key}: {text[:300]}"


def automation(job_name: str) -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    """The 06:00 UTC schedule and the arrival sensor, both running job ``job_name``; the run-failure
    sensor."""

    @schedule(
        name="daily_at_six_utc",
        job_name=job_name,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Today's partition at 06:00 UTC: publishes all of yesterday and the night.",
    )
    def daily_at_six_utc(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = tick.astimezone(dt.UTC).date().isoformat()
        return RunRequest(run_key=day, partition_key=day, tags={"lifecycle/trigger": "schedule"})

    @sensor(
        name="new_source_data",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Runs today's partition when new source files or application changes have arrived.",
    )
    def new_source_data(
        context: SensorEvaluationContext, lifecycle: LifecycleResource
    ) -> RunRequest | SkipReason:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        try:
            arrivals = pending_arrivals(lifecycle.settings(), now)
        except duckdb.IOException:
            return SkipReason("a run is writing the warehouse; looking again at the next tick")
        if arrivals.problem:
            context.log.warning(f"application changes not looked at: {arrivals.problem}")
        if not arrivals:
            return SkipReason(
                "no new source files or application changes"
                + (f" (application database not looked at: {arrivals.problem})" if arrivals.problem else "")
            )
        context.log.info(f"new source data: {arrivals.describe()}")
        return RunRequest(
            run_key=arrivals.fingerprint,
            partition_key=now.date().isoformat(),
            tags={"lifecycle/trigger": "new source data"},
        )

    @run_failure_sensor(
        name="report_run_failure",
        default_status=DefaultSensorStatus.RUNNING,
        description="One clear line per failed run (the hand-over point for alerting).",
    )
    def report_run_failure(context: RunFailureSensorContext) -> None:
        line = failure_line(context.dagster_run, context.get_step_failure_events())
        logger.error(line)
        context.log.error(line)

    return [daily_at_six_utc], [new_source_data, report_run_failure]
