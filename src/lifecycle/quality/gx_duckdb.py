"""Make Great Expectations' SQL datasource work on DuckDB (duckdb-engine) until upstream fixes two bugs, run
each query expectation's query once, and spare an ephemeral context its freshness checks.

Patches 1–3 act only on the ``duckdb`` dialect and leave every other database to GE's own code, patch 4 only
on ephemeral contexts; ``install()`` applies them once and refuses, with an error naming this file, if a GE
upgrade moved what they replace. ``tests/python/test_gx_duckdb.py`` shows each still differs from GE without
the patch, so we notice when one can go.

1. Results read after the connection closed. ``SqlAlchemyExecutionEngine.execute_query`` (GE 1.24) executes
   inside ``with self.get_connection()`` and returns the live cursor result; its callers fetch after the block
   has handed the connection back. DuckDB drops a pending result when its connection is released, so the fetch
   returns no rows and every expectation errors with ``IndexError: list index out of range`` (from
   ``resolve_metric_bundle``). Fix: buffer the rows while the connection is still open
   (``CursorResult.freeze()``) and hand callers an ordinary ``Result`` replayed from that buffer.

2. Column reflection of a schema-qualified table. SQLAlchemy 2.1's PostgreSQL reflection query, which
   duckdb-engine 0.17 inherits, joins ``pg_catalog.pg_collation``; DuckDB has no such table, so GE falls
   back to ``column_reflection_fallback``, which drops the schema for every dialect but Redshift (``select *
   from fct_orders``) and fails with ``Table with name fct_orders does not exist``. Without column names no
   expectation on a table in ``marts`` (or any non-default schema) can run. Fix: give the fallback the
   schema-qualified, quoted table name; it then reads the column names from a ``limit 1`` query, in DuckDB.
   And since the reflection can only fail there, go to the fallback at once: GE first asks the inspector
   for the table's primary key and its columns, two catalog queries per table that cost more than the
   fallback itself (DuckDB tables built by dbt have no primary key to report).

3. ``UnexpectedRowsExpectation`` runs its query twice. It depends on two metrics, the query's rows
   (``unexpected_rows_query.table``: the first ``MAX_RESULT_RECORDS``) and their count
   (``unexpected_rows_query.row_count``), which GE computes independently, each executing the whole query;
   on the warehouse's control-limit and reconciliation checks that is most of a validation's time. Fix: the
   first of the two to be computed counts the rows and, only when there are some, fetches the first
   ``MAX_RESULT_RECORDS``; the other metric takes its value from the execution engine, where it waits for it
   (read-only connection: the warehouse does not change during a validation). A check that passes costs
   one count, as the same check in plain SQL does.

4. Freshness checks in an ephemeral context. Before running, a checkpoint asks each validation definition
   whether it is "fresh" (the stored copy equals the object in hand), and each definition asks again when it
   runs: every suite, batch definition and definition is serialized and compared with its copy in the store,
   which took about 9 % of the checkpoints' time on the warehouse's 144 expectations. The check guards against
   running an object that changed after it was saved, or that another process changed in a shared store. An
   ephemeral context's stores live in this process's memory only, and ``validate()`` adds each object right
   before running it, unchanged. So in an ephemeral context an object that has been added (it has an id) is
   taken as fresh; one that has not keeps GE's own check and error, and every other context keeps GE's check.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from great_expectations.checkpoint.checkpoint import Checkpoint
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.freshness_diagnostics import (
    CheckpointFreshnessDiagnostics,
    ValidationDefinitionFreshnessDiagnostics,
)
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.owner_resolution import owner_from_batch_definition
from great_expectations.core.validation_definition import ValidationDefinition
from great_expectations.data_context.data_context.ephemeral_data_context import EphemeralDataContext
from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations import registry as gx_registry
from great_expectations.expectations.metrics import util as gx_metrics_util
from great_expectations.expectations.metrics.query_metric_provider import render_derived_table_alias
from great_expectations.expectations.metrics.table_metrics import table_column_types as gx_column_types

from lifecycle.errors import LifecycleError

DIALECT = "duckdb"

# Set on our replacements, so install() can tell they are in place (and not re-wrap them).
_PATCHED = "_lifecycle_gx_duckdb_patch"
#: The two metrics of ``UnexpectedRowsExpectation`` (patch 3), and the value each takes from the one result.
ROWS, ROW_COUNT = "unexpected_rows_query.table", "unexpected_rows_query.row_count"
#: Where a query's result waits on its execution engine for the second of the two metrics.
_PENDING = "_lifecycle_unexpected_rows"
#: The reflection function the column types metric calls, a global of its module (patch 2).
_REFLECT = "get_sqlalchemy_column_metadata"


def install() -> None:
    """Apply the patches (idempotent); raise if GE no longer has the code they replace."""
    if is_installed():
        return
    _check_upstream_still_matches()
    if not getattr(SqlAlchemyExecutionEngine.execute_query, _PATCHED, False):
        # Assigning to a method is the patch itself; mypy flags every such assignment (method-assign).
        SqlAlchemyExecutionEngine.execute_query = _buffered_execute_query(  # type: ignore[method-assign]
            SqlAlchemyExecutionEngine.execute_query
        )
    if not getattr(gx_metrics_util.column_reflection_fallback, _PATCHED, False):
        gx_metrics_util.column_reflection_fallback = _schema_qualified_fallback(
            gx_metrics_util.column_reflection_fallback
        )
    reflect = getattr(gx_column_types, _REFLECT)
    if not getattr(reflect, _PATCHED, False):
        setattr(gx_column_types, _REFLECT, _columns_from_fallback(reflect))
    for metric in (ROWS, ROW_COUNT):
        provider_class, provider = _sql_provider(metric)
        if not getattr(provider, _PATCHED, False):
            _set_sql_provider(metric, provider_class, _one_query(provider, metric))
    if not getattr(ValidationDefinition.is_fresh, _PATCHED, False):
        ValidationDefinition.is_fresh = _fresh_when_ephemeral(  # type: ignore[method-assign]
            ValidationDefinition.is_fresh, ValidationDefinitionFreshnessDiagnostics
        )
    if not getattr(Checkpoint.is_fresh, _PATCHED, False):
        Checkpoint.is_fresh = _fresh_when_ephemeral(  # type: ignore[method-assign]
            Checkpoint.is_fresh, CheckpointFreshnessDiagnostics
        )


def is_installed() -> bool:
    try:
        providers = [_sql_provider(metric)[1] for metric in (ROWS, ROW_COUNT)]
    except (AttributeError, KeyError, TypeError, ValueError):
        return False  # GE moved its registry: install() says so
    patched = (
        SqlAlchemyExecutionEngine.execute_query,
        gx_metrics_util.column_reflection_fallback,
        getattr(gx_column_types, _REFLECT, None),
        *providers,
        ValidationDefinition.is_fresh,
        Checkpoint.is_fresh,
    )
    return all(getattr(function, _PATCHED, False) for function in patched)


def _sql_provider(metric: str) -> tuple[Any, Any]:
    """The class and function GE's registry computes ``metric`` with on a SQL execution engine."""
    provider_class, provider = gx_registry._registered_metrics[metric]["providers"][
        SqlAlchemyExecutionEngine.__name__
    ]
    return provider_class, provider


def _set_sql_provider(metric: str, provider_class: Any, provider: Any) -> None:
    gx_registry._registered_metrics[metric]["providers"][SqlAlchemyExecutionEngine.__name__] = (
        provider_class,
        provider,
    )


def _check_upstream_still_matches() -> None:
    problems = []
    for name in ("execute_query", "get_connection", "_execute_query_with_recovery"):
        if not callable(getattr(SqlAlchemyExecutionEngine, name, None)):
            problems.append(f"SqlAlchemyExecutionEngine.{name} is gone")
    if not callable(getattr(gx_metrics_util, "column_reflection_fallback", None)):
        problems.append("great_expectations.expectations.metrics.util.column_reflection_fallback is gone")
    # The caller must look the fallback up as a module global at call time, or replacing it changes nothing.
    caller = getattr(gx_metrics_util, "get_sqlalchemy_column_metadata", None)
    if caller is None or "column_reflection_fallback" not in caller.__code__.co_names:
        problems.append("get_sqlalchemy_column_metadata no longer calls column_reflection_fallback")
    # The column types metric must look the reflection up as a module global of its own module too.
    metric = getattr(gx_column_types, "_get_sqlalchemy_column_metadata", None)
    if metric is None or _REFLECT not in metric.__code__.co_names or not hasattr(gx_column_types, _REFLECT):
        problems.append("table_column_types no longer reflects with get_sqlalchemy_column_metadata")
    for metric in (ROWS, ROW_COUNT):
        try:
            provider_class, provider = _sql_provider(metric)
        except (AttributeError, KeyError, TypeError, ValueError):
            problems.append(f"the metric {metric} has no SQL provider in GE's registry")
            continue
        for name in (
            "_get_query_from_metric_value_kwargs",
            "_get_substituted_batch_subquery_from_query_and_batch_selectable",
        ):
            if not callable(getattr(provider_class, name, None)):
                problems.append(f"{provider_class.__name__}.{name} is gone")
        if not callable(provider):
            problems.append(f"the SQL provider of {metric} is not a function")
    for owner in (ValidationDefinition, Checkpoint):
        for name in ("is_fresh", "_resolve_context"):
            if not callable(getattr(owner, name, None)):
                problems.append(f"{owner.__name__}.{name} is gone")
    if not callable(getattr(ValidationDefinition, "_record_suite_owner", None)):
        problems.append("ValidationDefinition._record_suite_owner is gone")
    if problems:
        raise LifecycleError(
            "Great Expectations changed the code src/lifecycle/quality/gx_duckdb.py patches ("
            + "; ".join(problems)
            + "): check whether the DuckDB bugs it describes are fixed upstream, then drop or adapt it."
        )


def _buffered_execute_query(upstream: Any) -> Any:
    @functools.wraps(upstream)
    def execute_query(self: SqlAlchemyExecutionEngine, query: Any) -> Any:
        if self.dialect_name != DIALECT:
            return upstream(self, query)
        with self.get_connection() as connection:
            # Read every row before the connection is released: DuckDB discards an unread result then.
            return self._execute_query_with_recovery(connection, query).freeze()()

    setattr(execute_query, _PATCHED, True)
    return execute_query


def _schema_qualified_fallback(upstream: Any) -> Any:
    @functools.wraps(upstream)
    def column_reflection_fallback(
        selectable: Any, dialect: Any, sqlalchemy_engine: Any, schema_name: str | None = None
    ) -> Any:
        if dialect.name == DIALECT and schema_name and isinstance(selectable, str):
            quote = dialect.identifier_preparer
            selectable = f"{quote.quote_schema(schema_name)}.{quote.quote(selectable)}"
        return upstream(
            selectable=selectable,
            dialect=dialect,
            sqlalchemy_engine=sqlalchemy_engine,
            schema_name=schema_name,
        )

    setattr(column_reflection_fallback, _PATCHED, True)
    return column_reflection_fallback


def _columns_from_fallback(upstream: Any) -> Any:
    """Patch 2, on the metric of a table's columns: on DuckDB, the (patched) fallback without first asking
    the inspector, whose column query cannot succeed there."""

    @functools.wraps(upstream)
    def get_sqlalchemy_column_metadata(
        execution_engine: SqlAlchemyExecutionEngine, table_selectable: Any, schema_name: str | None = None
    ) -> Any:
        if execution_engine.dialect_name != DIALECT:
            return upstream(
                execution_engine=execution_engine, table_selectable=table_selectable, schema_name=schema_name
            )
        columns = gx_metrics_util.column_reflection_fallback(
            selectable=table_selectable,
            dialect=execution_engine.engine.dialect,
            sqlalchemy_engine=execution_engine.engine,
            schema_name=schema_name,
        )
        return [{**column, "primary_key": False} for column in columns]

    setattr(get_sqlalchemy_column_metadata, _PATCHED, True)
    return get_sqlalchemy_column_metadata


def _one_query(upstream: Any, metric: str) -> Any:
    """Patch 3: the provider of ``metric`` (``ROWS`` or ``ROW_COUNT``) on DuckDB, sharing one execution of the
    unexpected-rows query with the other metric."""

    @functools.wraps(upstream)
    def provider(
        cls: Any,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict[str, Any],
        metric_value_kwargs: dict[str, Any],
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
    ) -> Any:
        if execution_engine.dialect_name != DIALECT:
            return upstream(
                cls=cls,
                execution_engine=execution_engine,
                metric_domain_kwargs=metric_domain_kwargs,
                metric_value_kwargs=metric_value_kwargs,
                metrics=metrics,
                runtime_configuration=runtime_configuration,
            )
        batch, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        query = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
            query=cls._get_query_from_metric_value_kwargs(metric_value_kwargs),
            batch_selectable=batch,
            execution_engine=execution_engine,
        )
        pending: dict[tuple[str, str], Any] = execution_engine.__dict__.setdefault(_PENDING, {})
        other = ROW_COUNT if metric == ROWS else ROWS
        if (metric, query) in pending:
            # The other metric ran the query and left this one's value here: taken, nothing stays behind.
            return pending.pop((metric, query))
        rows, count = _rows_and_count(execution_engine, query)
        pending[(other, query)] = count if other == ROW_COUNT else rows
        return rows if metric == ROWS else count

    setattr(provider, _PATCHED, True)
    return provider


def _rows_and_count(
    execution_engine: SqlAlchemyExecutionEngine, query: str
) -> tuple[list[dict[str, Any]], int]:
    """The first ``MAX_RESULT_RECORDS`` rows of ``query`` (as GE's own provider returns them) and the number
    of all its rows. The count comes first: it lets DuckDB leave out the columns nobody reads, and a check
    that passes (no rows) needs nothing more."""
    derived = render_derived_table_alias(subquery=query, alias="unexpected_rows", dialect_name=DIALECT)
    count = int(execution_engine.execute_query(sa.text(f"select count(*) from {derived}")).scalar() or 0)
    if not count:
        return [], 0
    result = execution_engine.execute_query(sa.text(f"select * from {derived} limit {MAX_RESULT_RECORDS}"))
    return [row._asdict() for row in result.fetchall()], count


def _fresh_when_ephemeral(upstream: Any, diagnostics: Any) -> Any:
    """Patch 4: ``is_fresh`` of a validation definition or checkpoint that, in an ephemeral context, takes an
    added object (and, for a checkpoint, its added definitions) as fresh."""

    @functools.wraps(upstream)
    def is_fresh(self: Any) -> Any:
        definitions = list(self.validation_definitions) if isinstance(self, Checkpoint) else [self]
        added = bool(self.id) and all(definition.id for definition in definitions)
        if not added or not isinstance(self._resolve_context().context, EphemeralDataContext):
            return upstream(self)
        for definition in definitions:
            # GE's check also records the suite's context here, which later lookups of the suite use.
            definition._record_suite_owner(owner_from_batch_definition(definition.data))
        return diagnostics(errors=[])

    setattr(is_fresh, _PATCHED, True)
    return is_fresh
