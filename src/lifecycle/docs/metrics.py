"""The semantic layer at site build time: MetricFlow's engine over the semantic manifest dbt wrote, its SQL
run on the published marts (``published.open_published``), so every dashboard figure is a metric by name.

MetricFlow talks to a warehouse through a ``SqlClient``; ``PublishedSqlClient`` is one over a DuckDB
connection of our own rather than dbt's adapter, which would open the warehouse file and take its lock.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from metricflow.data_table.mf_table import MetricFlowDataTable
from metricflow.engine.metricflow_engine import MetricFlowEngine, MetricFlowQueryRequest
from metricflow.protocols.sql_client import SqlEngine
from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
from metricflow.sql.render.sql_plan_renderer import SqlPlanRenderer
from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup
from metricflow_semantics.sql.sql_bind_parameters import SqlBindParameterSet

from lifecycle.errors import LifecycleError

NO_PARAMETERS = SqlBindParameterSet()


class PublishedSqlClient:
    """MetricFlow's SQL client over one DuckDB connection (the published marts, read-only)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._renderer = DuckDbSqlPlanRenderer()

    @property
    def sql_engine_type(self) -> SqlEngine:
        return SqlEngine.DUCKDB

    @property
    def sql_plan_renderer(self) -> SqlPlanRenderer:
        return self._renderer

    def query(
        self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMETERS
    ) -> MetricFlowDataTable:
        relation = self._con.execute(stmt, dict(sql_bind_parameter_set.param_dict) or None)
        columns = [d[0] for d in relation.description or ()]
        return MetricFlowDataTable.create_from_rows(column_names=columns, rows=relation.fetchall())

    def execute(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMETERS) -> None:
        self._con.execute(stmt, dict(sql_bind_parameter_set.param_dict) or None)

    def dry_run(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = NO_PARAMETERS) -> None:
        self._con.execute(f"explain {stmt}", dict(sql_bind_parameter_set.param_dict) or None)

    def close(self) -> None:
        self._con.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


@dataclass(frozen=True)
class MetricTable:
    """A metric query's result: column names (``metric_time__day``, ``net_revenue``, …) and rows."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    sql: str

    def records(self) -> list[dict[str, Any]]:
        """One dict per row; decimals as floats, so charts and comparisons see plain numbers."""
        return [dict(zip(self.columns, (_plain(v) for v in row), strict=True)) for row in self.rows]


def _plain(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    return value


class Metrics:
    """Metric queries by name against one connection: a saved query, or metrics grouped by dimensions."""

    def __init__(self, semantic_manifest_path: Path, con: duckdb.DuckDBPyConnection) -> None:
        if not semantic_manifest_path.exists():
            raise LifecycleError(f"{semantic_manifest_path} missing: run `lifecycle docs` (dbt writes it)")
        manifest = parse_manifest_from_dbt_generated_manifest(semantic_manifest_path.read_text())
        self._con = con
        self._engine = MetricFlowEngine(SemanticManifestLookup(manifest), PublishedSqlClient(con))
        self.saved_queries = {q.name: q for q in manifest.saved_queries}

    def saved_query(self, name: str) -> MetricTable:
        """The saved query ``name`` as the semantic layer defines it."""
        if name not in self.saved_queries:
            raise LifecycleError(
                f"no saved query {name!r} in the semantic layer (models/marts/*/_*__semantic.yml)"
            )
        return self._run(MetricFlowQueryRequest.create(saved_query_name=name))

    def query(self, metrics: Sequence[str], group_by: Sequence[str] = ()) -> MetricTable:
        """``metrics`` grouped by ``group_by`` (e.g. ``metric_time__day``), ordered by the groups."""
        return self._run(
            MetricFlowQueryRequest.create(
                metric_names=list(metrics), group_by_names=list(group_by), order_by_names=list(group_by)
            )
        )

    def _run(self, request: MetricFlowQueryRequest) -> MetricTable:
        statement = self._engine.explain(request).sql_statement
        relation = self._con.execute(statement.sql, dict(statement.bind_parameter_set.param_dict) or None)
        columns = [d[0] for d in relation.description or ()]
        return MetricTable(columns=columns, rows=relation.fetchall(), sql=statement.sql)
