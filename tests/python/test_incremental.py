"""Incremental models: after one more simulated day they process only new and late rows, and the result
equals a full rebuild over the same data."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.dbt_runner import run_dbt
from lifecycle.generate import generate
from lifecycle.ingest import ingest
from lifecycle.pipeline import run
from lifecycle.transform import transform

START = dt.date(2026, 4, 1)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def marts(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in tables}


def processed_rows(settings: Settings, model: str, folder: str) -> list[tuple]:
    """Rows the model's compiled incremental select produces now: what an incremental run processes."""
    compiled = settings.dbt_target_dir / "compiled" / "lifecycle" / "models" / folder / f"{model}.sql"
    sql = compiled.read_text()
    # The incremental branch: a business-time lookback window, or landed_since_last_build's subquery.
    assert "interval" in sql.lower() or "as built" in sql, "expected the incremental branch to be compiled"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(f"select * from ({sql}) as processed").fetchall()


def rows_processed(settings: Settings, model: str, folder: str) -> int:
    return len(processed_rows(settings, model, folder))


def whole_table_copies(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The CTEs DuckDB's plan for ``sql`` materializes straight from an unfiltered table scan: a copy of
    the whole table (DuckDB materializes a CTE that is read more than once)."""
    copies: list[str] = []

    def walk(node: dict) -> None:
        if node["name"] == "CTE":
            source = node["children"][0]
            while source["name"] == "PROJECTION":
                source = source["children"][0]
            info = source.get("extra_info", {})
            if source["name"] in {"SEQ_SCAN", "TABLE_SCAN"} and "Filters" not in info:
                copies.append(f"{node['extra_info'].get('CTE Name')} (all of {info.get('Table')})")
        for child in node.get("children", []):
            walk(child)

    for root in json.loads(con.execute(f"explain (format json) {sql}").fetchall()[0][1]):
        walk(root)
    return copies


def incremental_whole_table_copies(settings: Settings) -> dict[str, list[str]]:
    """Per incremental model, the whole tables its last compiled select copies (see whole_table_copies)."""
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    models = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    ]
    assert models, "expected incremental models in the project"
    found = {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for node in models:
            compiled = settings.dbt_target_dir / "compiled" / "lifecycle" / node["original_file_path"]
            found[node["name"]] = whole_table_copies(con, compiled.read_text())
    return found


#: The models that recompute the keys the change log changed (replace_keys), with their folders.
CDC_MODELS = {
    "stg_app__orders": "staging/app",
    "stg_app__order_items": "staging/app",
    "stg_app__payments": "staging/app",
    "int_orders_lifecycle": "intermediate/core",
}


def cdc_models(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {
            model: con.execute(f"select * from {folder.split('/')[0]}.{model} order by all").fetchall()
            for model, folder in CDC_MODELS.items()
        }


def late_changes(sources: Path) -> tuple[int, int, dt.datetime]:
    """Changes the application makes to old rows: a payment of an old order is deleted, and an order
    delivered days ago is returned and refunded. Returns the returned order, the deleted payment and
    when the changes were made (stamped with the newest time of the log, so no later change is read
    before its time)."""
    with sqlite3.connect(sources / "app.sqlite") as app:
        (now,) = app.execute("select max(changed_at) from change_log").fetchone()
        app.execute("update _sim_clock set now = ?", [now])
        returned = app.execute(
            "select order_id from orders where status = 'delivered' and placed_at < ?"
            " order by placed_at limit 1",
            [str(START + dt.timedelta(days=2))],
        ).fetchone()
        assert returned, "no order delivered in the first two days to return"
        app.execute(
            "update orders set status = 'returned', updated_at = ? where order_id = ?", [now, returned[0]]
        )
        deleted = app.execute(
            "select min(payments.payment_id) from payments join orders using (order_id)"
            " where orders.order_id != ? and orders.placed_at < ?",
            [returned[0], str(START + dt.timedelta(days=2))],
        ).fetchone()
        assert deleted and deleted[0] is not None
        app.execute("delete from payments where payment_id = ?", [deleted[0]])
        app.execute(
            "insert into payments (payment_id, order_id, method, amount, status, created_at)"
            " select max(payment_id) + 1, ?, 'card', 1.00, 'refunded', ? from payments",
            [returned[0], now],
        )
    return returned[0], deleted[0], dt.datetime.fromisoformat(now)


def test_one_more_day_is_incremental_and_equals_a_full_rebuild(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=4, scale=0.01, start=START, days=5)
    run(settings, as_of=dt.datetime(2026, 4, 5, 22), world=None, progress=lambda _: None)
    before = marts(settings)["fct_order_items"]

    generate(settings.sources_dir, seed=4, scale=0.01, start=START + dt.timedelta(days=5), days=1)
    returned, deleted, changed_at = late_changes(settings.sources_dir)
    as_of = max(dt.datetime(2026, 4, 6, 22), changed_at + dt.timedelta(minutes=1))
    # What the day's build of the CDC models will recompute, compiled after the day landed: the orders
    # and payments the change log changed (a few old ones among them), not all of them.
    ingest(settings, as_of=as_of)
    run_dbt(settings, ["compile", "--select", "stg_app__orders", "stg_app__payments"], as_of=as_of)
    changed_orders = {row[0]: row for row in processed_rows(settings, "stg_app__orders", "staging/app")}
    changed_payments = {row[0]: row for row in processed_rows(settings, "stg_app__payments", "staging/app")}
    # The deleted payment comes out as a removal: without a landing time, so replace_keys deletes it.
    assert changed_payments[deleted][-1] is None
    run(settings, as_of=as_of, world=None, progress=lambda _: None)
    incremental = marts(settings)
    built = cdc_models(settings)
    assert returned in changed_orders and 0 < len(changed_orders) < len(built["stg_app__orders"])
    assert 0 < len(changed_payments) < len(built["stg_app__payments"])
    # The run processed the lookback window only: fewer rows than the table holds, more than zero.
    processed = rows_processed(settings, "fct_order_items", "marts/core")
    assert 0 < processed < len(incremental["fct_order_items"])
    # Staged events are appended once: with every landed event already staged, another build adds none.
    assert rows_processed(settings, "stg_events__clickstream", "staging/events") == 0
    # The CDC models recompute the keys with a change landed since their last build: now none.
    for model, folder in CDC_MODELS.items():
        assert rows_processed(settings, model, folder) == 0, model
    assert len(incremental["fct_order_items"]) > len(before)
    # The late return reached the order placed days before; the deleted payment is gone.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        status = con.execute(
            "select order_status, returned_at is not null from marts.fct_orders where order_id = ?",
            [returned],
        ).fetchone()
        assert status == ("returned", True)
        assert con.execute(
            "select count(*) from staging.stg_app__payments where payment_id = ?", [deleted]
        ).fetchone() == (0,)
        # The new as-of reached the SQL (the macros read it when dbt executes) ...
        assert con.execute("select max(date_day) from marts.dim_date").fetchone() == (as_of.date(),)
        assert con.execute("select distinct as_of_date from marts.fct_customer_rfm").fetchall() == [
            (as_of.date(),)
        ]
    # ... and no dbt call of the two days re-parsed a file for it.
    log = (settings.dbt_log_dir / "dbt.log").read_text()
    assert "Partial parsing enabled" in log and "Partial parsing: updated file" not in log
    # A day's select reads the history it needs; it does not copy whole tables it reads twice. (First, the
    # plan check sees such a copy where there is one.)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        twice = "with orders as (select * from marts.fct_orders) select count(*) from orders union all "
        assert whole_table_copies(con, twice + "select count(*) from orders where order_id is null") == [
            "orders (all of warehouse.marts.fct_orders)"
        ]
    copies = incremental_whole_table_copies(settings)
    assert "fct_sessions" in copies and "stg_app__orders" in copies
    assert not any(copies.values()), {model: found for model, found in copies.items() if found}

    transform(settings, as_of=as_of, full_refresh=True)
    assert marts(settings) == incremental
    assert cdc_models(settings) == built
