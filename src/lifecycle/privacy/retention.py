"""Retention: raw data, quarantined lines and stored test failures older than ``LIFECYCLE_RETENTION_DAYS``.

A raw row's age is the as-of of the ingestion batch that landed it (``raw._ingest_log.as_of``), so a
replayed period ages as it would have. What the models still read is kept whatever its age, so the marts
do not change: the current row of each key of the application's CDC tables (and the rows of the latest
full-refresh snapshot), every version of a table whose history a model reads (the orders' statuses;
declared in its source YAML as ``meta: {retention: every_version}``), and the latest drop of each ad day
and campaign. The incremental models keep the history they were built from; a full refresh of them after
retention covers the retained period only. The Parquet lake follows raw: the privacy stage rewrites or
removes the old batches' files (``lake.sync_batches``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from lifecycle.config import read_yaml
from lifecycle.storage import quote_ident, quote_literal

#: The audit schema's tables that are history, not one test's stored failures.
AUDIT_HISTORY = {"quality_results"}


def every_version_tables(project_dir: Path) -> set[str]:
    """Raw tables a model reads every version of (``meta: {retention: every_version}`` in the YAML)."""
    tables = set()
    for path in project_dir.glob("models/**/_*__sources.yml"):
        for source in (read_yaml(path) or {}).get("sources") or []:
            for table in source.get("tables") or []:
                meta = (table.get("config") or {}).get("meta") or {}
                if meta.get("retention") == "every_version":
                    tables.add(table.get("identifier", table["name"]))
    return tables


def expire(
    con: duckdb.DuckDBPyConnection,
    cutoff: dt.datetime,
    manifest: Path | None = None,
    *,
    keep_every_version: set[str] | frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Delete what is older than ``cutoff``; rows (or tables) removed per relation.

    ``keep_every_version``: raw tables kept whole (``every_version_tables``)."""
    old = _old_batches_sql(cutoff)
    removed: dict[str, int] = {}
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables()"
            " where schema_name = 'raw' and database_name = current_database() order by 1"
        ).fetchall()
    ]
    for table in tables:
        keep = _still_read(con, table)
        if table == "_quarantine":
            sql = f"delete from raw._quarantine where batch_id in ({old})"
        elif table.startswith("_") or table in keep_every_version:
            continue  # bookkeeping (what landed, watermarks, the erasure log), or history a model reads
        else:
            sql = f"delete from raw.{quote_ident(table)} where _batch_id in ({old})" + (
                f" and rowid not in ({keep})" if keep else ""
            )
        row = con.execute(sql).fetchone()
        if row and row[0]:
            removed[f"raw.{table}"] = int(row[0])
    removed.update(_drop_stale_failures(con, manifest))
    return removed


def old_batches(con: duckdb.DuckDBPyConnection, cutoff: dt.datetime) -> list[str]:
    """The ingestion batches older than ``cutoff``: those whose rows retention deletes."""
    return [r[0] for r in con.execute(_old_batches_sql(cutoff) + " order by 1").fetchall()]


def _old_batches_sql(cutoff: dt.datetime) -> str:
    return (
        "select batch_id from raw._ingest_log"
        f" where coalesce(as_of, started_at) < timestamp {quote_literal(cutoff.isoformat(sep=' '))}"
    )


def _still_read(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """A query of the rowids the models read whatever their age, or None when they read only new rows."""
    from lifecycle.ingest.schemas import APP_TABLES

    relation = f"raw.{quote_ident(table)}"
    if table.startswith("app_") and table.removeprefix("app_") in APP_TABLES:
        key = quote_ident(next(iter(APP_TABLES[table.removeprefix("app_")])))
        return (
            f"select rowid from {relation} qualify row_number() over"
            f" (partition by {key} order by _change_id desc, _ingested_at desc) = 1"
            f" union all select rowid from {relation} where _op = 'snapshot'"
            f" and _change_id = (select max(_change_id) from {relation} where _op = 'snapshot')"
        )
    if table == "ads_spend":
        return (
            f"select rowid from {relation} qualify row_number() over"
            " (partition by date, campaign_id order by _source_file desc, _ingested_at desc) = 1"
        )
    return None


def _drop_stale_failures(con: duckdb.DuckDBPyConnection, manifest: Path | None) -> dict[str, int]:
    """dbt replaces a test's stored failures on every build, so they are never older than the last one; a
    table of a test the project no longer has (renamed or removed) would be kept forever, so it goes."""
    if manifest is None or not manifest.exists():
        return {}
    nodes = json.loads(manifest.read_text()).get("nodes", {}).values()
    written = {
        str(n.get("relation_name") or n.get("alias") or "").split(".")[-1].strip('"')
        for n in nodes
        if n.get("resource_type") == "test"
    }
    stale = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'audit'"
            " and database_name = current_database()"
        ).fetchall()
        if r[0] not in written and r[0] not in AUDIT_HISTORY
    ]
    for table in stale:
        con.execute(f"drop table audit.{quote_ident(table)}")
    return {f"audit.{t}": 1 for t in stale}
