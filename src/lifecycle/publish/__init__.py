"""Serving: publish the audited marts to the analysts' database by atomic file swap, plus Parquet copies.

A DuckDB file has one writer or many readers. Analysts read ``analytics.duckdb``; the pipeline never writes
to it in place. It builds a new file beside it and renames it over the old one (``os.replace``), so an open
analyst session keeps reading the old file and sees the new data when it reconnects. After the swap the
CRM segments are exported from the published file (``reverse_etl``), checked against their contract first.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.publish.reverse_etl import CrmExport, export_crm_segments
from lifecycle.warehouse import duckdb_config

PUBLISHED_SCHEMAS = ("marts",)


@dataclass(frozen=True)
class Publication:
    path: Path
    tables: dict[str, int]
    published_at: dt.datetime
    crm: CrmExport | None = None


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def publish(settings: Settings, *, run_id: str) -> Publication:
    """Copy every mart into a fresh analyst database and swap it in; export each mart as Parquet."""
    if not settings.warehouse_path.exists():
        raise LifecycleError(f"no warehouse at {settings.warehouse_path}: run `lifecycle transform` first")
    staging = settings.data_dir / f".analytics-{uuid.uuid4().hex[:8]}.duckdb"
    parquet_tmp = settings.exports_dir / f".marts-{uuid.uuid4().hex[:8]}"
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tables: dict[str, int] = {}
    # The new file is this connection's own database; the warehouse is attached read-only beside it.
    con = duckdb.connect(str(staging), config=duckdb_config(settings))
    try:
        con.execute(f"attach {_quote(settings.warehouse_path)} as warehouse (read_only)")
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'warehouse'"
                " and schema_name in ? order by table_name",
                [list(PUBLISHED_SCHEMAS)],
            ).fetchall()
        ]
        if not names:
            raise LifecycleError("no marts to publish in the warehouse: run `lifecycle transform` first")
        parquet_tmp.mkdir(parents=True, exist_ok=True)
        for name in names:
            con.execute(f"create table main.{name} as select * from warehouse.marts.{name}")
            (count,) = con.execute(f"select count(*) from main.{name}").fetchone()  # type: ignore[misc]
            tables[name] = count
            con.execute(f"copy main.{name} to {_quote(parquet_tmp / (name + '.parquet'))} (format parquet)")
        con.execute(
            "create table main._publication as"
            " select ? as run_id, cast(? as timestamp) as published_at, ? as tables",
            [run_id, published_at, ",".join(names)],
        )
        con.execute("detach warehouse")
        con.execute("checkpoint")
    except BaseException:
        con.close()
        staging.unlink(missing_ok=True)
        shutil.rmtree(parquet_tmp, ignore_errors=True)
        raise
    con.close()
    os.replace(staging, settings.analytics_path)
    _swap_directory(parquet_tmp, settings.exports_dir / "marts")
    # Only from what was just published, never from the warehouse; a broken contract raises and keeps the
    # previous CRM export (the marts stay published: analysts are not held back by the CRM feed).
    crm = export_crm_segments(settings)
    return Publication(settings.analytics_path, tables, published_at, crm)


def _swap_directory(new: Path, target: Path) -> None:
    """Replace a directory as close to atomically as POSIX allows: rename old away, rename new in."""
    old = target.with_name(f".{target.name}-old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
