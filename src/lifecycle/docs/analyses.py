"""The analyses page: each dbt analysis (``analyses/*.sql``), compiled by dbt, run read-only against the
published ``analytics.duckdb``, and its result rendered as a table.

dbt compiles ``ref('fct_x')`` to the warehouse's name for the model (``"warehouse"."marts"."fct_x"``).
The published file holds the same tables in ``main``, so each published model is offered under its
warehouse name as a view over the published table, in an in-memory database: the SQL runs as compiled, and
an analysis that refers to anything unpublished fails with that name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.docs.layout import render_page
from lifecycle.storage import connect, quote_ident, quote_literal

MAX_ROWS = 200


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis: where it lives, what it answers, its compiled SQL and the first rows of its result."""

    name: str
    path: str
    description: str
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total_rows: int
    error: str | None = None


def _description(node: dict[str, Any]) -> str:
    """The node's description, else the leading ``--`` comment of its SQL."""
    if node.get("description"):
        return str(node["description"])
    lines = []
    for line in str(node.get("raw_code", "")).splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines)


def run_analyses(manifest_path: Path, analytics_path: Path) -> list[AnalysisResult]:
    """Every analysis in the manifest, by name, run against the published file (which is only read)."""
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    nodes = manifest["nodes"].values()
    analyses = sorted((n for n in nodes if n["resource_type"] == "analysis"), key=lambda n: n["name"])
    if not analyses:
        return []
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
        databases = sorted({m["database"] for m in models})
        for database in databases:
            con.execute(f"attach ':memory:' as {quote_ident(database)}")
        for schema in sorted({(m["database"], m["schema"]) for m in models}):
            con.execute(f"create schema if not exists {quote_ident(schema[0])}.{quote_ident(schema[1])}")
        for m in models:
            table = m.get("alias") or m["name"]
            con.execute(
                f"create view {quote_ident(m['database'])}.{quote_ident(m['schema'])}.{quote_ident(table)} as"
                f" select * from published.main.{quote_ident(table)}"
            )
        return [_run_one(con, node) for node in analyses]
    finally:
        con.close()


def _run_one(con: duckdb.DuckDBPyConnection, node: dict[str, Any]) -> AnalysisResult:
    sql = str(node.get("compiled_code") or "")
    compiled_path = node.get("compiled_path")
    if not sql and compiled_path and Path(compiled_path).exists():
        sql = Path(compiled_path).read_text()
    base = {
        "name": node["name"],
        "path": node.get("original_file_path", ""),
        "description": _description(node),
        "sql": sql,
    }
    if not sql:
        return AnalysisResult(
            **base, columns=[], rows=[], total_rows=0, error="not compiled: run `lifecycle docs`"
        )
    try:
        relation = con.sql(sql)
        columns = list(relation.columns)
        rows = relation.fetchall()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        return AnalysisResult(
            **base,
            columns=[],
            rows=[],
            total_rows=0,
            error=f"{message} (analyses run against the published marts only)",
        )
    return AnalysisResult(**base, columns=columns, rows=rows[:MAX_ROWS], total_rows=len(rows))


def render(results: list[AnalysisResult]) -> str:
    """The analyses page: a table of contents, then each analysis with its result (or error) and its SQL."""
    return render_page("analyses.html", "Analyses", results=results, max_rows=MAX_ROWS)
