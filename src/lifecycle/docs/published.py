"""The published marts under the names dbt compiles: an in-memory DuckDB database that attaches the published
``analytics.duckdb`` read-only and offers each published model under its warehouse name
(``"warehouse"."marts"."fct_x"``) as a view over the published table.

SQL that dbt or MetricFlow generated for the warehouse then runs as generated against the published copy:
it never opens the warehouse (whose one writer may be a running pipeline), and anything unpublished fails
with its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.storage import connect, quote_ident, quote_literal


def manifest_nodes(manifest_path: Path) -> list[dict[str, Any]]:
    """The nodes of dbt's ``manifest.json`` (empty when there is none yet)."""
    if not manifest_path.exists():
        return []
    return list(json.loads(manifest_path.read_text())["nodes"].values())


def open_published(nodes: list[dict[str, Any]], analytics_path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection where every published model is a view under its warehouse name."""
    con = connect()
    try:
        con.execute(f"attach {quote_literal(analytics_path)} as published (read_only)")
        published = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables()"
                " where database_name = 'published' and schema_name = 'main'"
            ).fetchall()
        }
        models = [
            n
            for n in nodes
            if n["resource_type"] in ("model", "snapshot", "seed")
            and (n.get("alias") or n["name"]) in published
        ]
        for database in sorted({m["database"] for m in models}):
            con.execute(f"attach ':memory:' as {quote_ident(database)}")
        for database, schema in sorted({(m["database"], m["schema"]) for m in models}):
            con.execute(f"create schema if not exists {quote_ident(database)}.{quote_ident(schema)}")
        for m in models:
            table = m.get("alias") or m["name"]
            con.execute(
                f"create view {quote_ident(m['database'])}.{quote_ident(m['schema'])}.{quote_ident(table)} as"
                f" select * from published.main.{quote_ident(table)}"
            )
    except BaseException:
        con.close()
        raise
    return con
