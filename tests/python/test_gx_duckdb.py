"""The DuckDB workaround for GE's SQL datasource: the bugs still exist upstream, and the patch fixes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations import registry as gx_registry
from great_expectations.expectations.metrics.table_metrics import table_column_types as gx_column_types

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


def _batch(warehouse: Path, added_rows: int = 0) -> Any:
    """The whole of ``marts.t`` as a batch of a GE SQL datasource over the file, read-only; with
    ``added_rows`` more rows first, of amounts 0, -1, -2, …"""
    if added_rows:
        with duckdb.connect(str(warehouse)) as con:
            con.execute(
                "insert into marts.t select date '2024-02-01' + i::integer, -i, 'paid' from range(?) as r(i)",
                [added_rows],
            )
    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    return _whole_table(context, warehouse).get_batch()


def _whole_table(context: Any, warehouse: Path) -> Any:
    """The batch definition of the whole of ``marts.t``, on a read-only SQL datasource over the file."""
    source = context.data_sources.add_sql(
        "warehouse", connection_string=f"duckdb:///{warehouse}", kwargs={"connect_args": {"read_only": True}}
    )
    asset = source.add_table_asset("t", table_name="t", schema_name="marts")
    return asset.add_batch_definition_whole_table("all")


@pytest.mark.heavy
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
    batch = _batch(warehouse)
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
        batch.data.execution_engine.engine.dispose()

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


def _statements_running(engine: Any, needle: str) -> list[str]:
    """The statements sent to ``engine`` from now on that contain ``needle``."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if needle in statement:
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return sent


@pytest.mark.filterwarnings("ignore:`schema_name` is deprecated:DeprecationWarning")
def test_an_unexpected_rows_query_runs_once_when_it_passes_and_ge_alone_runs_it_twice(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gx_duckdb.install()
    batch = _batch(warehouse)
    engine = batch.data.execution_engine.engine
    passing = "select * from {batch} where amount > 100"
    try:
        sent = _statements_running(engine, "amount > 100")
        assert batch.validate(gxe.UnexpectedRowsExpectation(unexpected_rows_query=passing)).success
        patched = list(sent)
        for metric in (gx_duckdb.ROWS, gx_duckdb.ROW_COUNT):  # GE's own providers back in the registry
            provider_class, provider = gx_duckdb._sql_provider(metric)
            monkeypatch.setitem(
                gx_registry._registered_metrics[metric]["providers"],
                "SqlAlchemyExecutionEngine",
                (provider_class, provider.__wrapped__),
            )
        upstream = _statements_running(engine, "amount > 99")
        assert batch.validate(
            gxe.UnexpectedRowsExpectation(unexpected_rows_query=passing.replace("100", "99"))
        ).success
    finally:
        engine.dispose()

    assert len(patched) == 1, patched
    assert len(upstream) == 2, (
        "GE now runs an UnexpectedRowsExpectation's query once (patch 3 in"
        f" src/lifecycle/quality/gx_duckdb.py): the patch can go. Statements: {upstream}"
    )


@pytest.mark.filterwarnings("ignore:`schema_name` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("unexpected", [1, 199, 200, 250])
def test_the_count_and_the_rows_of_a_failing_query_are_those_of_the_whole_result(
    warehouse: Path, unexpected: int
) -> None:
    gx_duckdb.install()
    # The fixture's one negative amount, and the added rows with amounts 0, -1, -2, …: ``unexpected`` below 0.
    batch = _batch(warehouse, added_rows=unexpected)
    expectation = gxe.UnexpectedRowsExpectation(
        unexpected_rows_query="select * from {batch} where amount < 0"
    )
    try:
        result = batch.validate(expectation, result_format="COMPLETE")
    finally:
        batch.data.execution_engine.engine.dispose()

    assert not result.success
    assert result.result["observed_value"] == unexpected
    rows = result.result["details"]["unexpected_rows"]
    assert len(rows) == min(unexpected, 200)
    assert all(row["amount"] < 0 for row in rows)


def test_other_dialects_compute_unexpected_rows_with_ges_own_provider() -> None:
    calls = []
    provider = gx_duckdb._one_query(lambda **kwargs: calls.append(kwargs) or "upstream", gx_duckdb.ROW_COUNT)
    engine = SimpleNamespace(dialect_name="sqlite")

    value = provider(
        cls=None, execution_engine=engine, metric_domain_kwargs={}, metric_value_kwargs={}, metrics={}
    )

    assert value == "upstream"
    assert calls and calls[0]["execution_engine"] is engine


@pytest.mark.filterwarnings("ignore:`schema_name` is deprecated:DeprecationWarning")
def test_columns_come_from_the_fallback_without_the_catalog_queries_ge_alone_sends(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gx_duckdb.install()
    batch = _batch(warehouse)
    engine = batch.data.execution_engine.engine
    try:
        sent = _statements_running(engine, "pg_catalog")
        patched_result = batch.validate(gxe.ExpectColumnValuesToNotBeNull(column="amount"))
        patched = list(sent)
        reflect = getattr(gx_column_types, gx_duckdb._REFLECT)
        monkeypatch.setattr(gx_column_types, gx_duckdb._REFLECT, reflect.__wrapped__)  # GE's own
        upstream = _statements_running(engine, "pg_catalog")
        upstream_result = batch.validate(gxe.ExpectColumnValuesToBeUnique(column="day"))
    finally:
        engine.dispose()

    assert patched_result.success and upstream_result.success
    assert patched == []
    assert upstream, (
        "GE no longer asks DuckDB's catalog for a table's columns and key (patch 2 in"
        " src/lifecycle/quality/gx_duckdb.py): going straight to the fallback may no longer be needed."
    )


def _checkpoint(context: Any, warehouse: Path) -> Any:
    """A checkpoint of one validation definition (one suite, one expectation on ``marts.t``), all added."""
    batch = _whole_table(context, warehouse)
    suite = context.suites.add(gx.ExpectationSuite("t", expectations=[gxe.ExpectColumnToExist(column="day")]))
    definition = gx.ValidationDefinition(name="t", data=batch, suite=suite)
    definition = context.validation_definitions.add(definition)
    return context.checkpoints.add(gx.Checkpoint(name="c", validation_definitions=[definition]))


def _suite_freshness_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the suites GE compares with their stored copy from now on."""
    checked: list[str] = []
    upstream = gx.ExpectationSuite.is_fresh

    def is_fresh(suite: Any) -> Any:
        checked.append(suite.name)
        return upstream(suite)

    monkeypatch.setattr(gx.ExpectationSuite, "is_fresh", is_fresh)
    return checked


def test_an_ephemeral_checkpoint_runs_without_comparing_its_suites_with_the_store_as_ge_alone_does(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.checkpoint.checkpoint import Checkpoint
    from great_expectations.core.validation_definition import ValidationDefinition

    gx_duckdb.install()
    checkpoint = _checkpoint(gx.get_context(mode="ephemeral"), warehouse)
    checked = _suite_freshness_checks(monkeypatch)

    assert checkpoint.run().success
    assert checked == []

    monkeypatch.setattr(ValidationDefinition, "is_fresh", ValidationDefinition.is_fresh.__wrapped__)
    monkeypatch.setattr(Checkpoint, "is_fresh", Checkpoint.is_fresh.__wrapped__)
    assert checkpoint.run().success
    assert checked and set(checked) == {"t"}  # GE alone: by the checkpoint, then again by the definition


def test_a_definition_never_added_or_outside_an_ephemeral_context_keeps_ges_freshness_check(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gx_duckdb.install()
    context = gx.get_context(mode="ephemeral")
    added = _checkpoint(context, warehouse).validation_definitions[0]
    unadded = gx.ValidationDefinition(name="other", data=added.data, suite=added.suite)
    diagnostics = unadded.is_fresh()
    assert not diagnostics.success
    assert "must be added to the DataContext" in str(diagnostics.errors[0])

    file_context = gx.get_context(mode="file", project_root_dir=str(tmp_path / "gx_project"))
    checkpoint = _checkpoint(file_context, warehouse)
    checked = _suite_freshness_checks(monkeypatch)
    assert checkpoint.run().success
    assert checked and set(checked) == {"t"}
