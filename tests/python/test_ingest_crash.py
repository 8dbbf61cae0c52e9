"""kill -9 during an ingest, then ingest again: raw equals an uninterrupted ingest (no duplicates or loss)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.generate import generate
from lifecycle.ingest import ingest

RAW_TABLES = (
    "app_orders",
    "app_order_items",
    "app_customers",
    "app_payments",
    "events_clickstream",
    "ads_spend",
)
LINEAGE = {"_batch_id", "_ingested_at"}


def raw_contents(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        contents = {}
        for table in RAW_TABLES:
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'raw' and table_name = ?",
                    [table],
                ).fetchall()
                if r[0] not in LINEAGE
            ]
            contents[table] = con.execute(
                f"select {', '.join(columns)} from raw.{table} order by all"
            ).fetchall()
        return contents


def ingest_killed_midway(data_dir: Path) -> bool:
    """Start `lifecycle ingest` with tiny batches and SIGKILL it as soon as it has started writing."""
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(data_dir), "LIFECYCLE_INGEST_CHUNK_ROWS": "50"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lifecycle.cli", "ingest", "--as-of", "2026-02-05"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wal = data_dir / "warehouse.duckdb.wal"
    while process.poll() is None and not wal.exists():
        pass  # busy-wait on the file system: the moment the first transaction writes, we strike
    process.send_signal(signal.SIGKILL)
    return process.wait() == -signal.SIGKILL


@pytest.mark.heavy
def test_kill_9_then_ingest_again_equals_uninterrupted(tmp_path: Path):
    sources = tmp_path / "sources"
    generate(sources, seed=11, scale=0.02, start=dt.date(2026, 2, 1), days=4)
    reference = Settings(data_dir=tmp_path / "reference")
    reference.data_dir.mkdir()
    (reference.data_dir / "sources").symlink_to(sources)
    ingest(reference, as_of=dt.datetime(2026, 2, 5))

    crashed = Settings(data_dir=tmp_path / "crashed")
    crashed.data_dir.mkdir()
    (crashed.data_dir / "sources").symlink_to(sources)
    killed = any(ingest_killed_midway(crashed.data_dir) for _ in range(3))
    assert killed, "the ingest finished before it could be killed: make the sources larger"
    ingest(crashed, as_of=dt.datetime(2026, 2, 5))

    assert raw_contents(crashed.warehouse_path) == raw_contents(reference.warehouse_path)
