"""The DuckDB workaround for GE's SQL datasource: the bugs still exist upstream, and the patch fixes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

from lifecycle.errors import LifecycleError
from lifecycle.quality import gx_duckdb

# Plain GE, in a fresh interpreter that never imports lifecycle: what anyone gets without our patch.
UNPATCHED = textwrap.dedent(
    """
    import json, sys
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    source = context.data_sources.add_sql(
        "warehouse",
        connection_string=f"duckdb:///{sys.argv[1]}",
        kwargs={"connect_args": {"read_only": True}},
    )
    asset = source.add_table_asset("t", table_name="t", schema_name="marts")
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    result = batch.validate(gxe.ExpectColumnValuesToNotBeNull(column="amount"))
    info = result.exception_info or {}
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    print(json.dumps({"success": result.success, "errors": [m for m in messages if m]}))
    """
)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A DuckDB file with one table outside the default schema, as every warehouse table is."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """
            create schema marts;
            create table marts.t (day date, amount decimal(18, 2), status varchar);
            insert into marts.t values
                ('2024-01-01', 10.00, 'paid'),
                ('2024-01-02', -3.00, 'paid'),
                ('2024-01-03', 7.50, 'lost');
            """
        )
    return path


def test_without_the_patch_ge_cannot_validate_a_duckdb_table(warehouse: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", UNPATCHED, str(warehouse)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "false"},
        check=True,
    )
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    errors = " | ".join(outcome["errors"])

    assert outcome["success"] is False
    assert "list index out of range" in errors, (
        "GE no longer loses DuckDB query results (bug 1 in src/lifecycle/quality/gx_duckdb.py): "
        f"the buffered execute_query workaround can be removed. Errors now: {errors or 'none'}"
    )
    assert "Table with name t does not exist" in errors, (
        "GE/duckdb-engine now reflect the columns of a schema-qualified DuckDB table (bug 2 in "
        "src/lifecycle/quality/gx_duckdb.py): the reflection fallback workaround can be removed. "
        f"Errors now: {errors}"
    )


@pytest.mark.filterwarnings("ignore:`schema_name` is deprecated:DeprecationWarning")
def test_with_the_patch_expectations_are_computed_in_duckdb(warehouse: Path) -> None:
    gx_duckdb.install()
    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    source = context.data_sources.add_sql(
        "warehouse", connection_string=f"duckdb:///{warehouse}", kwargs={"connect_args": {"read_only": True}}
    )
    asset = source.add_table_asset("t", table_name="t", schema_name="marts")
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    assert type(batch.data).__name__ == "SqlAlchemyBatchData"  # the SQL datasource, not pandas
    passing = [
        gxe.ExpectColumnValuesToNotBeNull(column="amount"),
        gxe.ExpectTableRowCountToEqual(value=3),
        gxe.ExpectColumnValuesToBeUnique(column="day"),
        gxe.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where amount > 100"),
    ]
    failing = [
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["paid"]),
        gxe.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where amount < 0"),
    ]
    try:
        results = {e: batch.validate(e) for e in passing + failing}
    finally:
        source.get_execution_engine().engine.dispose()

    for expectation, result in results.items():
        assert not (result.exception_info or {}).get("raised_exception"), (expectation, result.exception_info)
        assert result.success is (expectation in passing), (expectation, result.result)
    assert results[failing[0]].result["partial_unexpected_list"] == [-3]
    assert results[failing[1]].result["partial_unexpected_list"] == ["lost"]
    assert results[failing[2]].result["observed_value"] == 1


def test_install_is_idempotent() -> None:
    gx_duckdb.install()
    patched = SqlAlchemyExecutionEngine.execute_query
    gx_duckdb.install()

    assert gx_duckdb.is_installed()
    assert SqlAlchemyExecutionEngine.execute_query is patched


def test_install_refuses_when_ge_moved_the_patched_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(SqlAlchemyExecutionEngine, "_execute_query_with_recovery")

    with pytest.raises(LifecycleError, match=r"gx_duckdb\.py.*_execute_query_with_recovery is gone"):
        gx_duckdb._check_upstream_still_matches()


def test_other_dialects_keep_ges_own_query_path() -> None:
    calls = []
    execute_query = gx_duckdb._buffered_execute_query(lambda engine, query: calls.append(query) or "upstream")

    assert execute_query(SimpleNamespace(dialect_name="sqlite"), "select 1") == "upstream"
    assert calls == ["select 1"]
