"""The Parquet lake: each raw batch becomes one whole file, written once, readable beside the warehouse."""

from __future__ import annotations

import stat
from pathlib import Path

import duckdb
import pytest

from lifecycle.ingest.lake import SNAPSHOT_FILE, export_new_batches, lake_batches
from lifecycle.storage import ensure_raw_bookkeeping


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema raw")
    ensure_raw_bookkeeping(con)
    con.execute(
        "create table raw.app_orders (order_id bigint, status varchar, _batch_id varchar,"
        " _ingested_at timestamp, _source_file varchar)"
    )
    con.execute(
        "insert into raw.app_orders values"
        " (1, 'placed', 'app-1', timestamp '2026-01-01 10:00', 'app.sqlite'),"
        " (2, 'paid', 'app-1', timestamp '2026-01-01 10:00', 'app.sqlite'),"
        " (1, 'paid', 'app-2', timestamp '2026-01-02 10:00', 'app.sqlite')"
    )
    return con


def lake_rows(lake: Path, table: str) -> list[tuple[object, ...]]:
    return duckdb.execute(
        "select order_id, status, _batch_id"
        f" from read_parquet('{lake}/raw/{table}/*.parquet', union_by_name=true)"
        " order by _batch_id, order_id"
    ).fetchall()


def test_each_batch_is_one_file_holding_exactly_its_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    assert export_new_batches(con, tmp_path) == {"app_orders": 2}
    assert lake_batches(tmp_path / "raw" / "app_orders") == {"app-1", "app-2"}
    assert lake_rows(tmp_path, "app_orders") == [
        (1, "placed", "app-1"),
        (2, "paid", "app-1"),
        (1, "paid", "app-2"),
    ]
    # Raw personal data: the lake is its owner's only, like the warehouse file.
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    # Bookkeeping tables stay in the warehouse but for the erasure log, a source of the models; no
    # temporary is left behind.
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["_erasure_requests", "app_orders"]
    assert sorted(p.name for p in (tmp_path / "raw" / "_erasure_requests").iterdir()) == [SNAPSHOT_FILE]


def test_the_erasure_log_is_one_file_replaced_whole_and_typed_when_empty(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    export_new_batches(con, tmp_path)
    snapshot = tmp_path / "raw" / "_erasure_requests" / SNAPSHOT_FILE
    # Empty, yet it carries the columns and types (a folder without a file has no schema for Spark).
    schema = duckdb.execute(f"describe select * from read_parquet('{snapshot}')").fetchall()
    assert [(name, kind) for name, kind, *_ in schema][:2] == [
        ("customer_id", "BIGINT"),
        ("source", "VARCHAR"),
    ]
    assert duckdb.execute(f"select count(*) from read_parquet('{snapshot}')").fetchone() == (0,)
    # The log is updated in place (a request, then its erasure): the lake holds the latest state only.
    con.execute("insert into raw._erasure_requests values (7, 'operator', 'asked', now()::timestamp, null)")
    export_new_batches(con, tmp_path)
    con.execute("update raw._erasure_requests set erased_at = now()::timestamp")
    export_new_batches(con, tmp_path)
    assert duckdb.execute(
        f"select customer_id, erased_at is not null from read_parquet('{snapshot}')"
    ).fetchall() == [(7, True)]


def test_only_new_batches_are_written_and_files_are_never_rewritten(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    export_new_batches(con, tmp_path)
    first = tmp_path / "raw" / "app_orders" / "app-1.parquet"
    written_at = first.stat().st_mtime_ns
    assert export_new_batches(con, tmp_path) == {}
    con.execute("alter table raw.app_orders add column channel varchar")  # schema drift in a later batch
    con.execute(
        "insert into raw.app_orders values (3, 'placed', 'app-3', now()::timestamp, 'app.sqlite', 'web')"
    )
    assert export_new_batches(con, tmp_path) == {"app_orders": 1}
    assert first.stat().st_mtime_ns == written_at
    assert lake_rows(tmp_path, "app_orders")[-1] == (3, "placed", "app-3")


def test_a_half_written_file_is_invisible_and_replaced(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    table_dir = tmp_path / "raw" / "app_orders"
    table_dir.mkdir(parents=True)
    # What a crash mid-write leaves: a hidden temporary, which readers and the lake's bookkeeping ignore.
    (table_dir / ".app-1.parquet.tmp").write_bytes(b"PAR1 truncated")
    killed_export = tmp_path / "raw" / ".export-app_orders-0000"
    (killed_export / "_batch_id=app-1").mkdir(parents=True)
    assert lake_batches(table_dir) == set()
    assert export_new_batches(con, tmp_path) == {"app_orders": 2}
    assert len(lake_rows(tmp_path, "app_orders")) == 3
    assert not killed_export.exists()
