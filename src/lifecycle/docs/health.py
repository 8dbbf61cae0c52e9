"""The pipeline health page: rows landed per day and source, freshness and ingestion lag, ingest batches,
and test results over runs, read from the warehouse's ``raw`` and ``audit`` schemas."""

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
from lifecycle.storage import one_row

#: Each source's raw tables and the column that says when a row happened at the source.
SOURCE_TIME_COLUMNS = {"app": "_changed_at", "events": "event_time", "ads": "date"}
SOURCE_TABLES = {"app": "app_%", "events": "events_clickstream", "ads": "ads_spend"}


@dataclass
class Health:
    """What the health page shows, read from the warehouse as of one time."""

    as_of: dt.datetime
    #: (source, day, rows)
    rows_per_day: list[tuple[str, dt.date, int]] = field(default_factory=list)
    #: source -> (latest source time, latest _ingested_at, median lag in seconds, rows)
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


def _raw_tables(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    column = SOURCE_TIME_COLUMNS[source]
    rows = con.execute(
        "select distinct t.table_name from duckdb_tables() as t join duckdb_columns() as c"
        " on t.database_oid = c.database_oid and t.schema_name = c.schema_name"
        " and t.table_name = c.table_name"
        " where t.schema_name = 'raw' and t.table_name like ? and c.column_name = ?"
        " order by t.table_name",
        [SOURCE_TABLES[source], column],
    ).fetchall()
    return [r[0] for r in rows]


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
    for source, column in SOURCE_TIME_COLUMNS.items():
        tables = _raw_tables(con, source)
        if not tables:
            continue
        rows = " union all ".join(
            f'select cast("{column}" as timestamp) as source_at, _ingested_at from raw."{t}"' for t in tables
        )
        health.rows_per_day += [
            (source, day, n)
            for day, n in con.execute(
                f"select cast(source_at as date) as day, count(*) from ({rows})"
                " where source_at is not null group by day order by day"
            ).fetchall()
        ]
        latest, ingested, lag, count = one_row(
            con,
            f"select max(source_at), max(_ingested_at),"
            f" median(epoch(_ingested_at) - epoch(source_at)), count(*) from ({rows})",
        )
        health.freshness[source] = (latest, ingested, lag, count)
    if _has_table(con, "raw", "_ingest_log"):
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
        quality_chart=quality.history_chart(health.quality),
    )
