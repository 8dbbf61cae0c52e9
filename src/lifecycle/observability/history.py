"""Run history in the warehouse's ``observability`` schema: one row per run, stage, dbt node result, check
result, row count, freshness reading and publication, in the shape of dbt_artifacts' tables.

The schema is written from Python only, never by dbt, so a full refresh of the models leaves it alone. Each
writer opens a short read-write connection between stages (DuckDB has one writer per file; the stages have
closed theirs by then).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.storage import connect_warehouse

SCHEMA = "observability"

#: Every table of the schema with its columns. Append-only except ``runs`` and ``incidents``, which hold
#: one current row per run and per incident.
TABLES: dict[str, str] = {
    "runs": "run_id varchar, trigger varchar, as_of timestamp, started_at timestamp, "
    "finished_at timestamp, status varchar",
    "stages": "run_id varchar, stage varchar, started_at timestamp, finished_at timestamp, "
    "seconds double, status varchar, detail varchar",
    "node_results": "run_id varchar, invocation_id varchar, unique_id varchar, resource_type varchar, "
    "name varchar, status varchar, execution_seconds double, rows_affected bigint, failures bigint, "
    "message varchar, recorded_at timestamp",
    "check_results": "run_id varchar, gate varchar, check_id varchar, suite varchar, layer varchar, "
    "table_name varchar, dimension varchar, severity varchar, check_name varchar, owner varchar, "
    "runbook varchar, observed varchar, threshold varchar, verdict varchar, checked_at timestamp",
    "row_counts": "run_id varchar, measured_at timestamp, layer varchar, table_name varchar, "
    "row_count bigint",
    "freshness": "run_id varchar, as_of timestamp, source varchar, raw_table varchar, newest_at timestamp, "
    "age_hours double, warn_after_hours double, error_after_hours double, status varchar",
    "publications": "publication_id varchar, run_id varchar, published_at timestamp, as_of timestamp, "
    "tables_json varchar, total_rows bigint",
    "metrics": "run_id varchar, as_of timestamp, mart varchar, metric varchar, value double, "
    "lower_bound double, upper_bound double, is_anomalous boolean, training_runs integer",
    "incidents": "incident_id varchar, check_id varchar, title varchar, owner varchar, severity varchar, "
    "status varchar, opened_at timestamp, opened_run varchar, last_failed_run varchar, failing_runs integer, "
    "resolved_at timestamp, resolved_run varchar, sample varchar, runbook varchar, rule varchar",
    "incident_events": "incident_id varchar, happened_at timestamp, run_id varchar, event varchar, "
    "detail varchar",
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in TABLES.items():
        con.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")


@contextmanager
def writer(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the schema in place; a failure names the warehouse and the schema."""
    try:
        with connect_warehouse(settings) as con:
            ensure_schema(con)
            yield con
    except duckdb.Error as error:
        raise LifecycleError(
            f"could not record run history in {settings.warehouse_path} (schema {SCHEMA}): {error}"
        ) from error


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (dicts keyed by column name) to ``observability.<table>``."""
    if not rows:
        return
    columns = [c.split()[0] for c in TABLES[table].split(", ")]
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into {SCHEMA}.{table} ({', '.join(columns)}) values ({placeholders})",
        [[row.get(c) for c in columns] for row in rows],
    )


def record_stage(
    settings: Settings,
    run_id: str,
    stage: str,
    *,
    trigger: str,
    as_of: dt.datetime | None,
    started_at: dt.datetime,
    status: str,
    detail: str = "",
) -> None:
    """One stage's outcome, and its run's row brought up to date (a failed stage fails the run)."""
    finished = now()
    with writer(settings) as con:
        insert(
            con,
            "stages",
            [
                {
                    "run_id": run_id,
                    "stage": stage,
                    "started_at": started_at,
                    "finished_at": finished,
                    "seconds": (finished - started_at).total_seconds(),
                    "status": status,
                    "detail": detail[:2000],
                }
            ],
        )
        previous = con.execute(
            f"select started_at, status, as_of from {SCHEMA}.runs where run_id = ?", [run_id]
        ).fetchone()
        run_status = "failed" if status == "failed" or (previous and previous[1] == "failed") else "running"
        con.execute(f"delete from {SCHEMA}.runs where run_id = ?", [run_id])
        insert(
            con,
            "runs",
            [
                {
                    "run_id": run_id,
                    "trigger": trigger,
                    "as_of": as_of or (previous[2] if previous else None),
                    "started_at": previous[0] if previous else started_at,
                    "finished_at": finished,
                    "status": run_status,
                }
            ],
        )


def finish_run(settings: Settings, run_id: str) -> None:
    """Mark a run whose every stage passed as succeeded."""
    with writer(settings) as con:
        con.execute(
            f"update {SCHEMA}.runs set status = 'succeeded', finished_at = ? "
            "where run_id = ? and status <> 'failed'",
            [now(), run_id],
        )


def record_dbt_nodes(settings: Settings, run_id: str, run_results: dict[str, Any]) -> int:
    """Every node of a dbt command (``run_results.json``): status, duration, rows affected, failures."""
    invocation = str(run_results.get("metadata", {}).get("invocation_id", ""))
    recorded = now()
    rows = []
    for node in run_results.get("results", []):
        unique_id = str(node.get("unique_id", ""))
        adapter = node.get("adapter_response") or {}
        rows.append(
            {
                "run_id": run_id,
                "invocation_id": invocation,
                "unique_id": unique_id,
                "resource_type": unique_id.split(".")[0],
                "name": unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id,
                "status": str(node.get("status", "")),
                "execution_seconds": float(node.get("execution_time") or 0.0),
                "rows_affected": adapter.get("rows_affected"),
                "failures": node.get("failures"),
                "message": str(node.get("message") or "")[:2000],
                "recorded_at": recorded,
            }
        )
    with writer(settings) as con:
        con.execute(
            f"delete from {SCHEMA}.node_results where run_id = ? and invocation_id = ?", [run_id, invocation]
        )
        insert(con, "node_results", rows)
    return len(rows)


def record_publication(
    settings: Settings,
    *,
    publication_id: str,
    run_id: str,
    published_at: dt.datetime,
    as_of: str | None,
    tables: dict[str, int],
) -> None:
    with writer(settings) as con:
        insert(
            con,
            "publications",
            [
                {
                    "publication_id": publication_id,
                    "run_id": run_id,
                    "published_at": published_at,
                    "as_of": dt.datetime.fromisoformat(as_of) if as_of else None,
                    "tables_json": json.dumps(tables, sort_keys=True),
                    "total_rows": sum(tables.values()),
                }
            ],
        )
