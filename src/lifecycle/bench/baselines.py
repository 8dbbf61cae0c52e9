"""The benchmark's baselines: the same work as a lifecycle stage, done without the platform.

DuckDB's ``read_json`` over the event files ingestion loaded (against our ingestion; beside it the floor of
the loader's own way of reading them), dbt's compiled SQL run directly in DuckDB (against ``dbt build``), and
the expectation suites as plain SQL queries (against Great Expectations). Each is a harness task, run in its
own child process like the stages.
"""

from __future__ import annotations

import graphlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.bench.harness import Task, end_of_day, tables_present
from lifecycle.config import Settings
from lifecycle.storage import connect, connect_warehouse, one_row, quote_ident, quote_literal


def _loaded_event_files(settings: Settings) -> list[str]:
    """The event files our ingestion loaded, relative to the sources directory, in its order."""
    with connect_warehouse(settings, read_only=True) as con:
        rows = con.execute("select path from raw._manifest where source = 'events'").fetchall()
    return sorted(path for (path,) in rows)


def task_native_ingest(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB alone: read_json over the event files our ingestion loaded, into a table of a fresh file."""
    from lifecycle.ingest.schemas import EVENT_FIELDS

    files = [str(settings.sources_dir / path) for path in _loaded_event_files(settings)]
    target = settings.data_dir / "native.duckdb"
    target.unlink(missing_ok=True)
    columns = ", ".join(
        f"{quote_literal(name)}: {quote_literal(type_)}" for name, type_ in EVENT_FIELDS.items()
    )
    started = time.perf_counter()
    with connect(target, settings=settings) as con:
        con.execute(
            f"""
            create table events as
            select * from read_json(?, format = 'newline_delimited', compression = 'gzip',
                columns = {{{columns}}}, ignore_errors = true)
            """,
            [files],
        )
        (rows,) = one_row(con, "select count(*) from events")
    seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {"rows": rows, "call_seconds": seconds, "files": len(files)}


def task_events_floor(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """The floor of our way of loading events: the same files, read, chunked and split into numbered lines
    by the loader's own functions, then each line parsed once into the declared columns of a fresh file's
    table. Nothing is judged (no quarantine reasons, undeclared keys, drift or manifest), so a malformed line
    lands as a row of NULLs, as in ``read_json`` with ``ignore_errors``."""
    from lifecycle.ingest.events import read_chunks, split_lines
    from lifecycle.ingest.files import SourceFile
    from lifecycle.ingest.landing import json_struct_type, value_sql
    from lifecycle.ingest.schemas import EVENT_FIELDS

    files = [
        SourceFile(path=settings.sources_dir / path, relative=path, size=0, sha256="")
        for path in _loaded_event_files(settings)
    ]
    target = settings.data_dir / "floor.duckdb"
    target.unlink(missing_ok=True)
    struct = quote_literal(json_struct_type(EVENT_FIELDS))
    values = ", ".join(
        f"{value_sql('parsed', name, type_)} as {quote_ident(name)}" for name, type_ in EVENT_FIELDS.items()
    )
    started = time.perf_counter()
    with connect(target, settings=settings) as con:
        created = False
        for chunk in read_chunks(files):
            if isinstance(chunk, Exception):
                raise chunk
            split_lines(con, *chunk)
            select = f"""
                select {values}, line_number as _line_number, source_file as _source_file
                from (
                    select line_number, source_file,
                        case when json_valid(line) then json_transform(line, {struct}) end as parsed
                    from _lines
                )
            """
            con.execute(("insert into events " if created else "create table events as ") + select)
            created = True
        (rows,) = one_row(con, "select count(*) from events") if created else (0,)
    seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {"rows": rows, "call_seconds": seconds, "files": len(files)}


def expectation_sql(kind: str, kwargs: Mapping[str, Any], table: str) -> tuple[str, list[Any]] | None:
    """Plain SQL for one GE expectation over ``table``: returns (query, parameters) or None if unsupported.

    The query yields one number: the count of unexpected rows, or the observed value (max, row count).
    """
    column = quote_ident(kwargs["column"]) if "column" in kwargs else None
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if kind == "expect_column_values_to_be_unique":
        return (
            f"select count(*) from {table} where {column} in "
            f"(select {column} from {table} group by all having count(*) > 1)",
            [],
        )
    if kind == "expect_compound_columns_to_be_unique":
        columns = ", ".join(quote_ident(c) for c in kwargs["column_list"])
        return (
            f"select coalesce(sum(n), 0) from (select count(*) as n from {table} group by {columns}"
            " having count(*) > 1)",
            [],
        )
    if kind == "expect_column_values_to_not_be_null":
        return f"select count(*) from {table} where {column} is null", []
    if kind == "expect_column_values_to_be_in_set":
        return (
            f"select count(*) from {table} where {column} is not null and not list_contains(?, {column})",
            [list(kwargs["value_set"])],
        )
    if kind == "expect_column_values_to_be_between":
        bounds = [f"{column} < ?" for _ in [low] if low is not None]
        bounds += [f"{column} > ?" for _ in [high] if high is not None]
        values = [v for v in (low, high) if v is not None]
        return f"select count(*) from {table} where {' or '.join(bounds) or 'false'}", values
    if kind in {"expect_column_max_to_be_between", "expect_column_min_to_be_between"}:
        function = "max" if "max" in kind else "min"
        return f"select {function}({column}) from {table}", []
    if kind == "expect_table_row_count_to_be_between":
        return f"select count(*) from {table}", []
    if kind == "unexpected_rows_expectation":
        query = str(kwargs["unexpected_rows_query"]).replace("{batch}", table)
        return f"select count(*) from ({query})", []
    return None


def task_ge_sql(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """The suites' checks as plain SQL, one query each, on a read-only connection (like GE's)."""
    from lifecycle.quality.suites import load_suites

    tables = load_suites(settings.project_dir / "expectations", as_of=end_of_day(params["as_of"]))
    started = time.perf_counter()
    ran, unsupported = 0, []
    with connect_warehouse(settings, read_only=True) as con:
        present = tables_present(con)
        for table in tables:
            if (table.layer, table.table) not in present:
                continue
            relation = f"{quote_ident(table.layer)}.{quote_ident(table.table)}"
            for suite in table.suites:
                for expectation in suite.expectations:
                    config = expectation.configuration
                    sql = expectation_sql(config.type, config.kwargs, relation)
                    if sql is None:
                        unsupported.append(config.type)
                        continue
                    con.execute(*sql).fetchall()
                    ran += 1
    return {"rows": ran, "call_seconds": time.perf_counter() - started, "unsupported": unsupported}


def dag_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes in an order where each comes after its parents (ties by name); unknown parents are ignored."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in sorted(depends_on):
        sorter.add(node, *sorted(p for p in depends_on[node] if p in depends_on))
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order


def _run_path(node: Mapping[str, Any], target_dir: Path, artifacts: Path) -> Path:
    """Where the kept artifacts hold the run/ SQL of ``node`` (dbt names it after the compiled/ path)."""
    compiled = Path(node["compiled_path"])
    if not compiled.is_absolute():
        compiled = target_dir.parent / compiled
    return artifacts / "run" / compiled.relative_to(target_dir / "compiled")


def _swap(con: duckdb.DuckDBPyConnection, node: Mapping[str, Any]) -> None:
    """What dbt does after building ``<name>__dbt_tmp``: drop the old relation, rename the new one in."""
    schema, alias = node["schema"], node["alias"]
    kind = "view" if node["config"].get("materialized") == "view" else "table"
    existing = con.execute(
        "select 'table' from duckdb_tables() where schema_name = ? and table_name = ?"
        " union all select 'view' from duckdb_views() where schema_name = ? and view_name = ?",
        [schema, alias, schema, alias],
    ).fetchall()
    for (old,) in existing:
        con.execute(f"drop {old} {quote_ident(schema)}.{quote_ident(alias)} cascade")
    built = f"{quote_ident(schema)}.{quote_ident(alias + '__dbt_tmp')}"
    con.execute(f"alter {kind} {built} rename to {quote_ident(alias)}")


def _replay_node(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    node: Mapping[str, Any],
    target_dir: Path,
    artifacts: Path,
) -> None:
    """One node as dbt would build it, from its SQL alone."""
    kind = node["resource_type"]
    if kind == "seed":
        csv = settings.project_dir / node["original_file_path"]
        con.execute(
            f"create or replace table {quote_ident(node['schema'])}.{quote_ident(node['alias'])} as "
            f"select * from read_csv({quote_literal(csv)}, header = true)"
        )
        return
    sql = _run_path(node, target_dir, artifacts).read_text()
    if kind == "test":
        if node.get("relation_name"):
            con.execute(f"create or replace table {node['relation_name']} as ({node['compiled_code']})")
        con.execute(sql).fetchall()
        return
    con.execute(sql)
    if "__dbt_tmp" in sql:
        _swap(con, node)


def task_replay(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """dbt's own SQL, run directly: the run/ statements of the last build, in DAG order from its manifest.

    Runs on a copy of the warehouse (same file name, so the ``"warehouse"`` catalog in the SQL resolves).
    Models: the run/ file (it builds ``<name>__dbt_tmp``), then the swap dbt does. Tests: the stored
    failures table from the compiled SQL, then the run/ count. Seeds: ``read_csv``. Snapshots and unit
    tests need tables dbt creates at run time; they are charged with dbt's own node time.
    """
    artifacts = Path(params["artifacts"])
    manifest = json.loads((artifacts / "manifest.json").read_text())
    results = json.loads((artifacts / "run_results.json").read_text())
    # Nodes dbt skipped (downstream of a failure) did no work in dbt, so they are not replayed either.
    node_seconds = {
        r["unique_id"]: r["execution_time"] for r in results["results"] if r["status"] != "skipped"
    }
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed", "snapshot", "test"} and uid in node_seconds
    }
    order = dag_order({uid: node["depends_on"].get("nodes", []) for uid, node in nodes.items()})
    target_dir = Path(params["target_dir"])
    copy_dir = settings.data_dir / "replay"
    shutil.rmtree(copy_dir, ignore_errors=True)
    copy_dir.mkdir()
    copy = copy_dir / settings.warehouse_path.name
    shutil.copyfile(settings.warehouse_path, copy)
    charged = sum(
        s for uid, s in node_seconds.items() if uid not in nodes or nodes[uid]["resource_type"] == "snapshot"
    )
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with connect(copy, settings=settings) as con:
        for uid in order:
            node = nodes[uid]
            kind = node["resource_type"]
            if kind == "snapshot" or node["config"].get("materialized") == "ephemeral":
                continue
            counts[kind] = counts.get(kind, 0) + 1
            _replay_node(con, settings, node, target_dir, artifacts)
    seconds = time.perf_counter() - started
    shutil.rmtree(copy_dir, ignore_errors=True)
    return {
        "rows": sum(counts.values()),
        "call_seconds": seconds + charged,
        "sql_seconds": seconds,
        "charged_node_seconds": charged,
        "nodes": counts,
        "dbt_elapsed": results.get("elapsed_time"),
    }


#: The baselines, by task name.
BASELINE_TASKS: dict[str, Task] = {
    "native_ingest": task_native_ingest,
    "events_floor": task_events_floor,
    "ge_sql": task_ge_sql,
    "replay": task_replay,
}
