"""Make Great Expectations' SQL datasource work on DuckDB (duckdb-engine) until upstream fixes two bugs.

Both patches act only on the ``duckdb`` dialect and leave every other database to GE's own code; ``install()``
applies them once and refuses, with an error naming this file, if a GE upgrade moved what they replace.
``tests/python/test_gx_duckdb.py`` shows each bug still exists without the patch, so we notice when it can go.

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
"""

from __future__ import annotations

import functools
from typing import Any

from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics import util as gx_metrics_util

from lifecycle.errors import LifecycleError

DIALECT = "duckdb"

# Set on our replacements, so install() can tell they are in place (and not re-wrap them).
_PATCHED = "_lifecycle_gx_duckdb_patch"


def install() -> None:
    """Apply both patches (idempotent); raise if GE no longer has the code they replace."""
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


def is_installed() -> bool:
    patched = (SqlAlchemyExecutionEngine.execute_query, gx_metrics_util.column_reflection_fallback)
    return all(getattr(function, _PATCHED, False) for function in patched)


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
