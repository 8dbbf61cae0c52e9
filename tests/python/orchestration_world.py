"""A tiny world for the orchestration tests, and a backfill run through Dagster's own backfill logic.

The world is two clean days of history (the gates' first run needs some); the tests then run the three
days after it, one partition per day.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
from dagster import AssetKey, DagsterRun, instance_for_test
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.generate import generate
from lifecycle.orchestration.manifest import prepare_manifest
from lifecycle.orchestration.partitions import end_of_day
from lifecycle.pii import ensure_salt
from lifecycle.pipeline import DemoWorld, ensure_sources

SEED, SCALE = 7, 0.01
FIRST_DAY = dt.date(2026, 3, 1)
HISTORY_DAYS = 2
#: The partitions the tests run, in order.
DAYS = tuple(FIRST_DAY + dt.timedelta(days=HISTORY_DAYS + i) for i in range(3))
#: Ingestion stamps rows with the wall-clock time it landed them; two runs land at different moments.
WALL_CLOCK_COLUMN_SUFFIX = "ingested_at"


def quiet(_: str) -> None:
    pass


def make_base(data_dir: Path) -> Settings:
    """The world's history, its PII salt (one salt for every copy, so hashed columns compare equal) and the
    dbt manifest (parsed once; copies reuse it)."""
    settings = Settings(data_dir=data_dir)
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=FIRST_DAY, days=HISTORY_DAYS, clean=True)
    ensure_salt(settings)
    prepare_manifest(settings)
    return settings


def copy_world(source: Settings, data_dir: Path) -> Settings:
    shutil.copytree(source.data_dir, data_dir, symlinks=True)
    return Settings(data_dir=data_dir)


def advance(settings: Settings, day: dt.date) -> None:
    """The source systems deliver everything up to the end of ``day``."""
    ensure_sources(settings, DemoWorld(), end_of_day(day), quiet)


def published(analytics: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every published table's rows (sorted), without the publication record and wall-clock columns."""
    with duckdb.connect(str(analytics), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        rows = {}
        for table in tables:
            if table == "_publication":
                continue
            columns = [
                f'"{name}"'
                for (name,) in con.execute(
                    "select column_name from duckdb_columns() where table_name = ? order by column_index",
                    [table],
                ).fetchall()
                if not name.endswith(WALL_CLOCK_COLUMN_SUFFIX)
            ]
            rows[table] = con.execute(f'select {", ".join(columns)} from "{table}" order by all').fetchall()
    return rows


def break_clickstream(sources: Path, day: dt.date, every: int = 10) -> int:
    """Replace every ``every``-th line of the clickstream files that arrived on ``day`` with broken JSON."""
    import gzip

    broken = 0
    for path in sorted((sources / "events" / f"date={day.isoformat()}").rglob("*.json.gz")):
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        for i in range(0, len(lines), every):
            lines[i] = '{"event_id": "broken'
            broken += 1
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return broken


def backfill(days: Sequence[dt.date], assets: Sequence[AssetKey]) -> list[DagsterRun]:
    """A backfill of ``assets`` over ``days`` as the daemon runs it (``execute_backfill_iteration``), on the
    code location ``lifecycle.orchestration`` (data directory: ``LIFECYCLE_DATA_DIR``); its runs, oldest
    first."""
    target = ModuleTarget("lifecycle.orchestration", "defs", str(PROJECT_DIR), "lifecycle")
    with (
        # Runs are launched as the daemon submits them and executed at once, in this process.
        instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        request = PartitionBackfill.from_asset_partitions(
            backfill_id=uuid.uuid4().hex[:8],
            asset_graph=workspace.create_request_context().asset_graph,
            partition_names=[day.isoformat() for day in days],
            asset_selection=list(assets),
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title="test backfill",
            description=None,
            run_config=None,
        )
        instance.add_backfill(request)
        for _ in range(10):
            list(execute_backfill_iteration(workspace, logging.getLogger("test-backfill")))
            status = instance.get_backfill(request.backfill_id)
            if status is None or status.status != BulkActionStatus.REQUESTED:
                break
        return list(reversed(instance.get_runs()))
