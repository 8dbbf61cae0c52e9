"""The pipeline health page: rows landed per day and source, freshness and ingestion lag, ingest batches,
and test results over runs, read from the warehouse's ``raw`` and ``audit`` schemas.

The page reads the raw tables' recent rows only (``WINDOW_DAYS`` of source time before the as-of), so its
cost does not grow with the history: raw tables are appended roughly in time order, so DuckDB's zone maps
on the time column skip the older row groups. Row counts come from the tables' row-group metadata.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb
from markupsafe import Markup

from lifecycle.config import Settings
from lifecycle.docs import quality
from lifecycle.docs.charts import stacked_bars
from lifecycle.docs.layout import render_page
from lifecycle.observability import replication
from lifecycle.observability.history import now
from lifecycle.storage import one_row, quote_ident

#: Each source's raw tables and the column that says when a row happened at the source.
SOURCE_TIME_COLUMNS = {"app": "_changed_at", "events": "event_time", "ads": "date"}
SOURCE_TABLES = {"app": "app_%", "events": "events_clickstream", "ads": "ads_spend"}
#: Days of source time, up to the as-of day, that rows per day and the median ingestion lag are read over.
WINDOW_DAYS = 56


@dataclass
class Health:
    """What the health page shows, read from the warehouse as of one time."""

    as_of: dt.datetime
    #: (source, day, rows) for the days from ``window_start`` on
    rows_per_day: list[tuple[str, dt.date, int]] = field(default_factory=list)
    #: source -> (latest source time, latest _ingested_at, median lag in seconds over the window, rows)
    freshness: dict[str, tuple[dt.datetime | None, dt.datetime | None, float | None, int]] = field(
        default_factory=dict
    )
    #: newest ingest batches: source, batch_id, started_at, seconds, read, loaded, quarantined, status, error
    batches: list[tuple[Any, ...]] = field(default_factory=list)
    #: (day, source, loaded, quarantined) from the ingest log
    ingest_per_day: list[tuple[dt.date, str, int, int]] = field(default_factory=list)
    quality: list[quality.Result] = field(default_factory=list)
    #: the app source's replication slot at its last read (PostgreSQL shop only)
    replication_slot: replication.SlotReading | None = None

    @property
    def window_start(self) -> dt.date:
        """The first day of source time read for rows per day and the median lag (``WINDOW_DAYS``)."""
        return self.as_of.date() - dt.timedelta(days=WINDOW_DAYS - 1)


def _raw_tables(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, str]]:
    """The source's raw tables, each with the type of its source-time column."""
    column = SOURCE_TIME_COLUMNS[source]
    rows = con.execute(
        "select distinct t.table_name, c.data_type from duckdb_tables() as t join duckdb_columns() as c"
        " on t.database_oid = c.database_oid and t.schema_name = c.schema_name"
        " and t.table_name = c.table_name"
        " where t.schema_name = 'raw' and t.table_name like ? and c.column_name = ?"
        " order by t.table_name",
        [SOURCE_TABLES[source], column],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _since(column: str, data_type: str, start: dt.datetime) -> str:
    """A condition ``column >= start`` on the column itself, so the scan can skip row groups by their
    min/max statistics (a condition on a cast of the column would read every row group)."""
    if data_type == "DATE":
        return f"{quote_ident(column)} >= date '{start.date().isoformat()}'"
    if data_type == "TIMESTAMP":
        return f"{quote_ident(column)} >= timestamp '{start.isoformat(sep=' ')}'"
    return f"cast({quote_ident(column)} as timestamp) >= timestamp '{start.isoformat(sep=' ')}'"


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    (count,) = one_row(
        con, "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, name]
    )
    return bool(count)


def read_health(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.datetime,
    *,
    slot_limit: int = Settings.slot_retained_wal_limit,
) -> Health:
    """Rows per day, freshness and lag per source, the newest ingest batches, the replication slot's
    newest reading (judged against ``slot_limit`` bytes of retained WAL) and the quality history."""
    health = Health(as_of=as_of, quality=quality.read_results(con))
    window_start = dt.datetime.combine(health.window_start, dt.time())
    has_log = _has_table(con, "raw", "_ingest_log")
    for source, column in SOURCE_TIME_COLUMNS.items():
        tables = _raw_tables(con, source)
        if not tables:
            continue
        recent = _source_rows(column, tables, window_start)
        health.rows_per_day += [
            (source, day, n)
            for day, n in con.execute(
                f"select cast(source_at as date) as day, count(*) from ({recent}) group by day order by day"
            ).fetchall()
        ]
        latest, lag = one_row(
            con, f"select max(source_at), median(epoch(_ingested_at) - epoch(source_at)) from ({recent})"
        )
        if latest is None:  # nothing in the window: a source silent for longer than it
            (latest,) = one_row(con, f"select max(source_at) from ({_source_rows(column, tables)})")
        health.freshness[source] = (
            latest,
            _latest_ingested(con, source, tables, has_log),
            lag,
            _count(con, tables),
        )
    if has_log:
        health.batches = con.execute(
            "select source, batch_id, started_at, epoch(finished_at) - epoch(started_at), rows_read,"
            " rows_loaded, rows_quarantined, status, error"
            " from raw._ingest_log order by started_at desc limit 30"
        ).fetchall()
        health.ingest_per_day = con.execute(
            "select cast(started_at as date) as day, source, sum(rows_loaded), sum(rows_quarantined)"
            " from raw._ingest_log group by all order by day, source"
        ).fetchall()
    health.replication_slot = replication.read_slot(con, slot_limit)
    return health


def _source_rows(column: str, tables: list[tuple[str, str]], since: dt.datetime | None = None) -> str:
    """The union of the source's raw rows (from ``since`` on) as ``source_at``, ``_ingested_at``."""
    return " union all ".join(
        f"select cast({quote_ident(column)} as timestamp) as source_at, _ingested_at"
        f" from raw.{quote_ident(t)}" + (f" where {_since(column, data_type, since)}" if since else "")
        for t, data_type in tables
    )


def _latest_ingested(
    con: duckdb.DuckDBPyConnection, source: str, tables: list[tuple[str, str]], has_log: bool
) -> dt.datetime | None:
    """The newest ``_ingested_at`` of the source's raw rows.

    Read from the rows landed since the source's newest batch started (``raw._ingest_log``): a lower
    bound on the value itself does not change the maximum of what passes it, and landing times only grow
    (``ingest.landing.landing_time``), so the older row groups are skipped. All rows when none pass it.
    """
    union = " union all ".join(f"select _ingested_at from raw.{quote_ident(t)}" for t, _ in tables)
    if has_log:
        (started,) = one_row(
            con,
            "select max(started_at) from raw._ingest_log where source = ? and coalesce(rows_loaded, 0) > 0",
            [source],
        )
        if started is not None:
            bounded = " union all ".join(
                f"select _ingested_at from raw.{quote_ident(t)}"
                f" where _ingested_at >= timestamp '{started.isoformat(sep=' ')}'"
                for t, _ in tables
            )
            (latest,) = one_row(con, f"select max(_ingested_at) from ({bounded})")
            if latest is not None:
                return latest  # type: ignore[no-any-return]
    (latest,) = one_row(con, f"select max(_ingested_at) from ({union})")
    return latest  # type: ignore[no-any-return]


def _count(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]]) -> int:
    """The source's raw rows, all time: a count with no column to read is answered from the row groups'
    metadata."""
    return sum(int(one_row(con, f"select count(*) from raw.{quote_ident(t)}")[0]) for t, _ in tables)


def _slot_row(health: Health) -> tuple[object, ...] | None:
    slot = health.replication_slot
    if slot is None:
        return None
    # On the wall clock, like the readings' stamps (see observability.replication).
    clock = now()
    return (
        slot.slot,
        slot.state,
        slot.confirmed_lsn,
        f"{slot.confirmed_at:%Y-%m-%d %H:%M:%S} ({replication.duration(clock - slot.confirmed_at)} ago)",
        replication.mib(slot.lag_bytes),
        replication.mib(slot.retained_bytes),
        replication.mib(slot.limit_bytes),
        f"{slot.checked_at:%Y-%m-%d %H:%M:%S} ({replication.duration(clock - slot.checked_at)} ago)",
    )


def _duration(seconds: float | None) -> str:
    """A duration as a person would say it: 45 s, 12 min, 3.5 h, 2.0 days."""
    return "—" if seconds is None else replication.duration(dt.timedelta(seconds=seconds))


#: How many days up to the as-of date the rows-per-day chart shows.
CHART_DAYS = 30


def _rows_chart(health: Health) -> tuple[Markup, dict[str, object]]:
    """Rows per day and source over the last ``CHART_DAYS`` days, and what falls outside the chart."""
    last = health.as_of.date()
    first = min([day for _, day, _ in health.rows_per_day] + [last])
    first = max(first, last - dt.timedelta(days=CHART_DAYS - 1))
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    per_source: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for source, day, n in health.rows_per_day:
        per_source[source][day] = n
    chart = stacked_bars(
        f"Rows landed in raw per day, by when they happened at the source (last {len(days)} days)",
        [d.isoformat() for d in days],
        {s: [per_source[s].get(d, 0) for d in days] for s in per_source},
    )
    outside = {
        "first": first,
        "earlier": sum(n for _, day, n in health.rows_per_day if day < first),
        "later": sum(n for _, day, n in health.rows_per_day if day > last),
    }
    return chart, outside


def _ingest_chart(health: Health) -> Markup:
    """Rows loaded and quarantined per ingest day and source (series with nothing in them left out)."""
    ingest_days = sorted({d for d, *_ in health.ingest_per_day})
    loaded: dict[tuple[dt.date, str], tuple[int, int]] = {
        (d, s): (int(lo or 0), int(q or 0)) for d, s, lo, q in health.ingest_per_day
    }
    sources = sorted({s for _, s, *_ in health.ingest_per_day})
    series = {f"{s} loaded": [loaded.get((d, s), (0, 0))[0] for d in ingest_days] for s in sources}
    series |= {f"{s} quarantined": [loaded.get((d, s), (0, 0))[1] for d in ingest_days] for s in sources}
    return stacked_bars(
        "Rows loaded and quarantined per ingest day (raw._ingest_log)",
        [d.isoformat() for d in ingest_days],
        {k: v for k, v in series.items() if any(v)},
    )


def _freshness_rows(health: Health) -> list[tuple[object, ...]]:
    return [
        (
            source,
            latest,
            _duration((health.as_of - latest).total_seconds()) if latest else "—",
            ingested,
            _duration(lag),
            count,
        )
        for source, (latest, ingested, lag, count) in health.freshness.items()
    ]


def render(health: Health) -> str:
    """The pipeline health page."""
    rows_chart, outside = _rows_chart(health)
    batch_rows = [
        (s, b, started, round(secs or 0, 2), read, loaded, quarantined, status, err)
        for s, b, started, secs, read, loaded, quarantined, status, err in health.batches
    ]
    return render_page(
        "health.html",
        "Pipeline health",
        as_of=health.as_of.isoformat(sep=" ", timespec="seconds"),
        rows_chart=rows_chart,
        outside=outside,
        freshness_rows=_freshness_rows(health),
        slot_row=_slot_row(health),
        ingest_chart=_ingest_chart(health),
        batch_rows=batch_rows,
        failed=sum(1 for b in health.batches if b[7] != "success"),
        window_days=WINDOW_DAYS,
        window_start=health.window_start,
        quality_chart=quality.history_chart(health.quality),
    )
