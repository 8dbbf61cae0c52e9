"""The project on Spark (dbt target spark) from the Parquet lake: every mart equal to DuckDB's, on a first
build and on an incremental one (appended events, snapshots with closed versions). make test-spark."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.generate import generate
from lifecycle.ingest import ingest, raise_for_errors
from lifecycle.storage import connect_warehouse
from lifecycle.transform import transform
from lifecycle.transform.equality import compare
from lifecycle.transform.spark import build_on_spark, check_spark, spark_table_dir

pytestmark = pytest.mark.spark

START = dt.date(2026, 4, 1)
SNAPSHOTS = {"snap_customers": "customer_id", "snap_products": "product_id"}


def build_both(settings: Settings, as_of: dt.datetime) -> None:
    raise_for_errors(ingest(settings, as_of=as_of))
    transform(settings, as_of=as_of)
    comparisons = check_spark(settings, as_of=as_of, progress=print)
    assert len(comparisons) >= 10 and all(c.equal for c in comparisons)


def change_a_price(settings: Settings, product_id: int, at: str) -> None:
    """A price change on the shop's clock, so the next snapshot closes a version (a tiny world's day may
    change no product or customer)."""
    with sqlite3.connect(settings.sources_dir / "app.sqlite") as app:
        (clock,) = app.execute("select now from _sim_clock").fetchone()
        app.execute("update _sim_clock set now = ?", [at])
        app.execute(
            "update products set price = price + 1, updated_at = ? where product_id = ?", [at, product_id]
        )
        app.execute("update _sim_clock set now = ?", [clock])


def snapshot_versions(settings: Settings, name: str) -> str:
    """What both engines must agree on in a snapshot: each version's key, start, and whether it is current
    (a version closed by a deletion ends at the run's clock time, which differs between two builds)."""
    key = SNAPSHOTS[name]
    folder = spark_table_dir(settings, "snapshots", name)
    return (
        f"(select {key}, dbt_valid_from, dbt_valid_to is null as is_current"
        f" from read_parquet('{folder}/*.parquet'))"
    )


def test_spark_builds_the_marts_duckdb_builds_first_and_incrementally(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=4, scale=0.01, start=START, days=4)
    build_both(settings, dt.datetime(2026, 4, 4, 22))
    assert any((settings.lake_dir / "raw" / "events_clickstream").glob("*.parquet"))

    generate(settings.sources_dir, seed=4, scale=0.01, start=START + dt.timedelta(days=4), days=1)
    change_a_price(settings, product_id=2, at="2026-04-05 12:00:00")
    build_both(settings, dt.datetime(2026, 4, 5, 22))

    with connect_warehouse(settings, read_only=True) as con:
        closed = sum(
            con.execute(f"select count(*) from snapshots.{name} where dbt_valid_to is not null").fetchone()[0]
            for name in SNAPSHOTS
        )
        assert closed > 0, "the second day closed no version: the snapshot merge was not exercised"
        for name, key in SNAPSHOTS.items():
            duck = f"(select {key}, dbt_valid_from, dbt_valid_to is null as is_current from snapshots.{name})"
            result = compare(con, name, duck, snapshot_versions(settings, name))
            assert result.equal, result.report("duckdb", "spark")


def test_the_spark_build_reads_only_the_lake(tmp_path: Path) -> None:
    """No lake, no build: Spark never falls back to the DuckDB file."""
    with pytest.raises(LifecycleError, match="no Parquet lake"):
        build_on_spark(Settings(data_dir=tmp_path))
