"""Monitoring on the run history: a watch, not a gate. Each ``validate`` measures row counts of raw tables and
marts, each source's freshness against its SLA, and per mart its volume, freshness, the null share and
distinct count of its key columns, and the newest complete day's total and median of its main measures.
A figure outside its expected band — mean ± sensitivity × σ of earlier runs (the current streak of
anomalies left out), of the same weekday once there are enough of them (weekly seasonality) — on
``anomalous_runs`` consecutive runs opens an incident.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

import duckdb

from lifecycle.config import Settings
from lifecycle.observability import alerts
from lifecycle.observability.history import SCHEMA, insert, now, writer
from lifecycle.observability.incidents import DEFAULT_OWNER, CheckState, observe_checks
from lifecycle.quality.suites import DbtProject, hours
from lifecycle.storage import quote_ident

#: Each source's newest-data instant, as its timeliness suite judges it (expectations/raw/*.py): the
#: change log's newest change, the newest event, the end of the ad platform's newest day.
SOURCE_CLOCKS: dict[str, tuple[str, str]] = {
    "app": ("app_orders", "max(_changed_at)"),
    "events": ("events_clickstream", "max(event_time)"),
    "ads": ("ads_spend", "max(cast(date as timestamp)) + interval 1 day"),
}
#: A band is never narrower than this share of the mean: a figure that never moved (σ = 0) must not alarm
#: on its first small change (the same floor as the control limits of quality/spc.py).
MIN_RELATIVE_SIGMA = 0.05
#: Main measures judged per mart (its first numeric columns that are not keys).
MAX_MEASURES = 4


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    raw_table: str
    newest_at: dt.datetime | None
    age: dt.timedelta | None
    warn_after: dt.timedelta | None
    error_after: dt.timedelta | None

    @property
    def status(self) -> str:
        """``error`` beyond error_after (or no data at all), ``warn`` beyond warn_after, else ``ok``."""
        if self.age is None:
            return "error"
        if self.error_after is not None and self.age > self.error_after:
            return "error"
        if self.warn_after is not None and self.age > self.warn_after:
            return "warn"
        return "ok"

    def describe(self) -> str:
        limits = ", ".join(
            f"{name} {hours(limit)}"
            for name, limit in (("warn", self.warn_after), ("error", self.error_after))
            if limit is not None
        )
        age = "no data" if self.age is None else f"{self.age / dt.timedelta(hours=1):.1f} h old"
        return f"{self.source:<7} {self.status:<5} newest {self.newest_at} ({age}; SLA {limits})"


def read_freshness(
    con: duckdb.DuckDBPyConnection, project: DbtProject, as_of: dt.datetime
) -> list[SourceFreshness]:
    """Each source's age at ``as_of`` against the freshness limits its dbt source declares."""
    readings = []
    for source, (table, newest) in SOURCE_CLOCKS.items():
        limits = project.freshness(table)
        exists = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = ?", [table]
        ).fetchone()
        value = (
            con.execute(f"select {newest} from raw.{quote_ident(table)}").fetchone()
            if exists and exists[0]
            else None
        )
        newest_at = value[0] if value else None
        if isinstance(newest_at, dt.datetime) and newest_at.tzinfo is not None:
            newest_at = newest_at.astimezone(dt.UTC).replace(tzinfo=None)
        age = as_of - newest_at if isinstance(newest_at, dt.datetime) else None
        readings.append(SourceFreshness(source, table, newest_at, age, limits.warn_after, limits.error_after))
    return readings


def watch(settings: Settings, run_id: str, as_of: dt.datetime) -> list[CheckState]:
    """Measure, record and judge this run's figures; the anomalies' incidents are opened or resolved."""
    project = DbtProject(settings.project_dir)
    config = alerts.config(settings).monitoring
    measured = now()
    with writer(settings) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('raw', 'marts')"
            " and not starts_with(table_name, '_') order by all"
        ).fetchall()
        counts = []
        for schema, table in tables:
            row = con.execute(f"select count(*) from {schema}.{quote_ident(table)}").fetchone()
            counts.append((str(schema), str(table), int(row[0]) if row else 0))
        freshness = read_freshness(con, project, as_of)
        con.execute(f"delete from {SCHEMA}.row_counts where run_id = ?", [run_id])
        insert(
            con,
            "row_counts",
            [
                {"run_id": run_id, "measured_at": measured, "layer": s, "table_name": t, "row_count": n}
                for s, t, n in counts
            ],
        )
        con.execute(f"delete from {SCHEMA}.freshness where run_id = ?", [run_id])
        insert(con, "freshness", [_freshness_row(run_id, as_of, f) for f in freshness])
        figures = [
            (mart, metric, value)
            for _, mart, _ in [c for c in counts if c[0] == "marts"]
            for metric, value in mart_figures(con, mart, as_of)
        ]
        con.execute(f"delete from {SCHEMA}.metrics where run_id = ?", [run_id])
        states = []
        rows = []
        for mart, metric, value in figures:
            history = con.execute(
                f"select as_of, value, is_anomalous from {SCHEMA}.metrics"
                " where mart = ? and metric = ? and value is not null order by as_of desc limit ?",
                [mart, metric, config.training_runs],
            ).fetchall()
            # The streak under judgement does not train its own band (it would widen it until the streak
            # hides itself); older anomalies do, so a lasting change of level becomes the new normal.
            streak = config.anomalous_runs - 1
            training = [r for i, r in enumerate(history) if not (i < streak and r[2])]
            band = expected_band(
                [(r[0], float(r[1])) for r in training],
                as_of,
                config.sensitivity,
                config.min_training_runs,
                weekly=config.seasonality == "day_of_week",
            )
            anomalous = band is not None and value is not None and not band[0] <= value <= band[1]
            rows.append(
                {
                    "run_id": run_id,
                    "as_of": as_of,
                    "mart": mart,
                    "metric": metric,
                    "value": value,
                    "lower_bound": band[0] if band else None,
                    "upper_bound": band[1] if band else None,
                    "is_anomalous": anomalous if band else None,
                    "training_runs": len(training),
                }
            )
            if band is None or value is None:
                continue
            earlier = [bool(r[2]) for r in history[: config.anomalous_runs - 1]]
            failed = anomalous and len(earlier) == config.anomalous_runs - 1 and all(earlier)
            states.append(
                CheckState(
                    check_id=f"monitor:marts.{mart}.{metric}",
                    title=f"monitor marts.{mart}: {metric}",
                    owner=project.owner("marts", mart) or DEFAULT_OWNER,
                    severity="monitor",
                    failed=failed,
                    sample=f"{metric} = {value:.4g}, expected {band[0]:.4g} … {band[1]:.4g} "
                    f"(run {run_id}, as of {as_of:%Y-%m-%d %H:%M})",
                    runbook=f"compare marts.{mart} with its sources for the days around {as_of:%Y-%m-%d}: a "
                    "real change in the business is closed by the next runs widening the band; a load or "
                    "model problem is fixed at its source and rerun.",
                    rule=f"{metric} of marts.{mart} stays within mean ± {config.sensitivity:g}σ of "
                    "earlier runs"
                    f"{' of the same weekday' if config.seasonality == 'day_of_week' else ''}",
                    suite=f"monitor.marts.{mart}",
                    layer="marts",
                    table=mart,
                    dimension="monitoring",
                )
            )
        insert(con, "metrics", rows)
    observe_checks(settings, run_id, "monitor", states)
    return states


def _freshness_row(run_id: str, as_of: dt.datetime, f: SourceFreshness) -> dict[str, object]:
    def h(delta: dt.timedelta | None) -> float | None:
        return None if delta is None else delta / dt.timedelta(hours=1)

    return {
        "run_id": run_id,
        "as_of": as_of,
        "source": f.source,
        "raw_table": f.raw_table,
        "newest_at": f.newest_at,
        "age_hours": h(f.age),
        "warn_after_hours": h(f.warn_after),
        "error_after_hours": h(f.error_after),
        "status": f.status,
    }


def expected_band(
    history: list[tuple[dt.datetime, float]],
    as_of: dt.datetime,
    sensitivity: float,
    min_training: int,
    *,
    weekly: bool,
) -> tuple[float, float] | None:
    """The band a new value is expected in, from earlier (as-of, value) pairs; None with too few of them.

    Weekly seasonality: only the same weekday's values train the band once there are ``min_training`` of
    them, so a quiet Sunday is judged against Sundays.
    """
    values = [v for _, v in history]
    if weekly:
        same_day = [v for when, v in history if when.weekday() == as_of.weekday()]
        if len(same_day) >= min_training:
            values = same_day
    if len(values) < min_training:
        return None
    mean = statistics.fmean(values)
    sigma = max(statistics.pstdev(values), MIN_RELATIVE_SIGMA * abs(mean))
    return mean - sensitivity * sigma, mean + sensitivity * sigma


def mart_figures(
    con: duckdb.DuckDBPyConnection, mart: str, as_of: dt.datetime
) -> list[tuple[str, float | None]]:
    """A mart's watched figures: volume, freshness, keys' null share and distinct count, measures' newest
    complete day (total and median)."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = 'marts' and table_name = ?"
        " order by column_index",
        [mart],
    ).fetchall()
    relation = f"marts.{quote_ident(mart)}"
    keys = [str(c) for c, _ in columns if str(c).endswith("_id")]
    clocks = [str(c) for c, t in columns if str(t) in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE")]
    numeric = ("INTEGER", "BIGINT", "DOUBLE", "FLOAT", "HUGEINT", "SMALLINT")
    measures = [
        str(c)
        for c, t in columns
        if (str(t) in numeric or str(t).startswith("DECIMAL")) and not str(c).endswith("_id")
    ][:MAX_MEASURES]
    parts = ["count(*)"]
    for key in keys:
        parts += [
            f"avg(case when {quote_ident(key)} is null then 1.0 else 0.0 end)",
            f"count(distinct {quote_ident(key)})",
        ]
    clock = clocks[0] if clocks else None
    if clock:
        parts.append(f"max(cast({quote_ident(clock)} as timestamp))")
    row = con.execute(f"select {', '.join(parts)} from {relation}").fetchone() or ()
    figures: list[tuple[str, float | None]] = [("row_count", float(row[0]))]
    for i, key in enumerate(keys):
        figures += [
            (f"null_share:{key}", _number(row[1 + 2 * i])),
            (f"distinct:{key}", _number(row[2 + 2 * i])),
        ]
    if clock:
        newest = row[-1]
        figures.append(
            (
                "freshness_hours",
                (as_of - newest) / dt.timedelta(hours=1) if isinstance(newest, dt.datetime) else None,
            )
        )
        day = as_of.date() - dt.timedelta(days=1)
        if measures:
            daily = [f"sum({quote_ident(m)}), median({quote_ident(m)})" for m in measures]
            values = (
                con.execute(
                    f"select {', '.join(daily)} from {relation} where cast({quote_ident(clock)} as date) = ?",
                    [day],
                ).fetchone()
                or ()
            )
            for i, measure in enumerate(measures):
                figures += [
                    (f"daily_total:{measure}", _number(values[2 * i]) if values else None),
                    (f"daily_median:{measure}", _number(values[2 * i + 1]) if values else None),
                ]
    return figures


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number
