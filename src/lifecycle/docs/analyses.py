"""The analyses page: each dbt analysis (``analyses/*.sql``), compiled by dbt, run read-only against the
published ``analytics.duckdb``, and its result rendered as a table.

dbt compiles ``ref('fct_x')`` to the warehouse's name for the model; ``published.open_published`` offers
the published tables under those names, so the SQL runs as compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.docs.layout import render_page
from lifecycle.docs.published import manifest_nodes, open_published

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
    nodes = manifest_nodes(manifest_path)
    analyses = sorted((n for n in nodes if n["resource_type"] == "analysis"), key=lambda n: n["name"])
    if not analyses:
        return []
    con = open_published(nodes, analytics_path)
    try:
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
