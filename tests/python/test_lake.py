"""The Parquet lake: each raw batch becomes one whole file, written once, readable beside the warehouse."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import duckdb
import pytest

from conftest import aged_world
from lifecycle.config import Settings
from lifecycle.ingest.lake import SNAPSHOT_FILE, SYNC_PREFIX, export_new_batches, lake_batches, sync_batches
from lifecycle.privacy import apply_privacy
from lifecycle.privacy.retention import expire, old_batches
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


def _lake_counts(settings: Settings) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    # As a reader sees the lake: every batch table's files by a glob (the erasure log's snapshot aside).
    for table_dir in sorted((settings.lake_dir / "raw").glob("[!_]*")):
        counts[table_dir.name] = {
            Path(name).stem: rows
            for name, rows in duckdb.execute(
                f"select filename, count(*) from read_parquet('{table_dir}/*.parquet', filename = true,"
                " union_by_name = true) group by filename"
            ).fetchall()
        }
    return counts


def _raw_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for table in ("app_customers", "events_clickstream"):
        for batch, rows in con.execute(f"select _batch_id, count(*) from raw.{table} group by 1").fetchall():
            counts.setdefault(table, {})[batch] = rows
    return counts


def _lake_bytes(settings: Settings) -> int:
    return sum(p.stat().st_size for p in settings.lake_dir.rglob("*") if p.is_file())


def test_retention_reaches_the_lake_which_stays_a_copy_of_raw(tmp_path: Path) -> None:
    settings, con = aged_world(tmp_path)
    customers_old = settings.lake_dir / "raw" / "app_customers" / "app-old.parquet"
    schema = duckdb.execute(f"describe select * from read_parquet('{customers_old}')").fetchall()
    size = _lake_bytes(settings)
    cutoff = dt.datetime(2026, 1, 1)
    with con:
        expire(con, cutoff)
        removed = sync_batches(con, settings.lake_dir, old_batches(con, cutoff))
        raw = _raw_counts(con)
        kept = con.execute("select * from raw.app_customers where _batch_id = 'app-old'").fetchall()
    assert removed == {"events_clickstream": 3000, "app_customers": 1999}
    # The old events batch had no row left: its file is gone. The old CDC batch keeps its one current
    # row, in a file of the same name and columns (export_new_batches knows the batch by its name).
    assert raw == {
        "events_clickstream": {"events-new": 100},
        "app_customers": {"app-old": 1, "app-new": 1999},
    }
    assert _lake_counts(settings) == raw
    assert duckdb.execute(f"select * from read_parquet('{customers_old}')").fetchall() == kept
    assert duckdb.execute(f"describe select * from read_parquet('{customers_old}')").fetchall() == schema
    assert _lake_bytes(settings) < size / 2
    assert not [p for p in settings.lake_dir.rglob(".*")]  # no temporary left behind
    # Nothing is exported again: the emptied batch has no rows in raw, the rewritten one keeps its file.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert export_new_batches(con, settings.lake_dir) == {}
        assert sync_batches(con, settings.lake_dir, old_batches(con, cutoff)) == {}
    assert _lake_counts(settings) == raw


def test_a_run_that_stopped_after_the_delete_in_raw_is_healed_by_the_next(tmp_path: Path) -> None:
    settings, con = aged_world(tmp_path)
    # A sync killed mid-write leaves a hidden temporary holding rows that retention removes.
    leftover = settings.lake_dir / "raw" / "events_clickstream" / f"{SYNC_PREFIX}events-old.parquet.0dead000"
    leftover.write_bytes(b"PAR1 old rows")
    with con:
        expire(con, dt.datetime(2026, 1, 1))  # committed in raw; the run stops before the lake follows
    before = _lake_counts(settings)
    assert before["events_clickstream"]["events-old"] == 3000
    as_of = dt.datetime(2026, 3, 2)  # the next run: retention finds nothing more in raw to delete
    report = apply_privacy(settings, as_of=as_of)
    assert report.expired == {}
    assert report.lake_expired == {"events_clickstream": 3000, "app_customers": 1999}
    assert "4999 row(s) removed from the Parquet lake" in report.summary()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert _lake_counts(settings) == _raw_counts(con)
        logged = con.execute(
            "select store, rows_changed from raw._privacy_log where action = 'retention' order by store"
        ).fetchall()
    assert logged == [("lake/raw/app_customers", 1999), ("lake/raw/events_clickstream", 3000)]
    assert not leftover.exists()
