"""Tiny worlds for unit tests (hand-made sources small enough to reason about row by row) and the one
published tiny world that the end-to-end, browser and pull-request tests share."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.ingest.lake import export_new_batches
from lifecycle.pipeline import DemoWorld
from lifecycle.storage import ensure_raw_bookkeeping

#: The shared tiny world: four simulated days at the smallest scale, run once at the end of the last one.
TINY_WORLD = DemoWorld(seed=3, scale=0.01, days=4)
TINY_AS_OF = dt.datetime(2026, 3, 4, 22, 0)
#: What the pipeline needs of the repository (docs/dbt holds the doc blocks the models reference).
PROJECT_PARTS = (
    "expectations",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "analyses",
    "tests/dbt",
    "docs/dbt",
    "dbt_project.yml",
    "profiles.yml",
    "alerts.yml",
)

ORDER_COLUMNS = ["order_id", "customer_id", "status", "placed_at", "updated_at", "shipping_address_id"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A data directory whose sources hold an empty application database."""
    (tmp_path / "sources").mkdir()
    make_orders_db(tmp_path / "sources" / "app.sqlite").close()
    return Settings(data_dir=tmp_path)


@pytest.fixture
def app_db(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.sources_dir / "app.sqlite")


def make_orders_db(path: Path) -> sqlite3.Connection:
    """An application database with just ``orders`` and a trigger-fed ``change_log``."""
    con = sqlite3.connect(path)
    row = "json_object(" + ", ".join(f"'{c}', {{r}}.{c}" for c in ORDER_COLUMNS) + ")"
    con.executescript(
        f"""
        create table change_log (
            change_id integer primary key autoincrement,
            table_name text, op text, row_key text, changed_at text, row_json text
        );
        create table orders (
            order_id integer primary key, customer_id integer, status text,
            placed_at text, updated_at text, shipping_address_id integer
        );
        create trigger orders_insert after insert on orders begin
            insert into change_log (table_name, op, row_key, changed_at, row_json)
            values ('orders', 'insert', new.order_id, new.updated_at, {row.format(r="new")});
        end;
        create trigger orders_update after update on orders begin
            insert into change_log (table_name, op, row_key, changed_at, row_json)
            values ('orders', 'update', new.order_id, new.updated_at, {row.format(r="new")});
        end;
        create trigger orders_delete after delete on orders begin
            insert into change_log (table_name, op, row_key, changed_at, row_json)
            values ('orders', 'delete', old.order_id, old.updated_at, {row.format(r="old")});
        end;
        """
    )
    return con


def add_order(
    con: sqlite3.Connection, order_id: int, status: str = "placed", when: str = "2026-11-20 10:00:00"
):
    con.execute(
        "insert into orders values (?, ?, ?, ?, ?, ?)", [order_id, 100 + order_id, status, when, when, 1]
    )
    con.commit()


def event(event_id: str, **fields: object) -> dict:
    base = {
        "event_id": event_id,
        "event_type": "page_view",
        "event_time": "2026-11-20T10:00:00.000Z",
        "anonymous_id": "anon-1",
        "customer_id": None,
        "device": "desktop",
        "context": {"locale": "en-GB"},
    }
    return {**base, **fields}


def write_events(sources: Path, hour: str, name: str, lines: list[str | dict]) -> Path:
    """Write one gzipped NDJSON file into the arrival-hour folder ``hour`` ('YYYY-MM-DD/HH')."""
    day, hh = hour.split("/")
    folder = sources / "events" / f"date={day}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    path = folder / name
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    return path


AD_HEADER = ["date", "channel", "campaign_id", "campaign_name", "impressions", "clicks", "spend"]


def write_ads(sources: Path, day: str, rows: list[list[str]], header: list[str] = AD_HEADER) -> Path:
    folder = sources / "ads"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [";".join(header), *(";".join(r) for r in rows)]
    path = folder / f"ad_spend_{day}.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())
    return path


@pytest.fixture(scope="session")
def gate_baseline(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Two weeks of a world, run and published once for every quality-gate test (gate_world.py)."""
    from gate_world import make_baseline

    return make_baseline(tmp_path_factory.mktemp("baseline"))


@pytest.fixture
def world(gate_baseline: Settings, tmp_path: Path) -> Settings:
    """A private copy of the gate baseline, for one case to add a day to."""
    from gate_world import copy_world

    return copy_world(gate_baseline, tmp_path / "data")


def copy_project(destination: Path, source: Path = PROJECT_DIR) -> Path:
    """The parts of a dbt project the pipeline reads, copied (without build output)."""
    for part in PROJECT_PARTS:
        origin, target = source / part, destination / part
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "target"))
        elif origin.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target)
    return destination


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One whole ``lifecycle run`` of ``TINY_WORLD`` (generate → … → publish → docs), built once per test
    session from a copy of the project taken at its start (so edits in the working tree while tests run
    do not show up in it). Read-only: a test that runs the pipeline again or writes into the data
    directory takes a copy with ``copy_tiny_world``.

    Under pytest-xdist every worker asks for it: the first builds it in the session's shared temporary
    folder under a file lock, the others wait and read the same world."""
    from filelock import FileLock

    from lifecycle.pipeline import run

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    project, data_dir = root / "tiny_project", root / "tiny_world"
    settings = Settings(data_dir=data_dir, project_dir=project)
    with FileLock(str(root / "tiny_world.lock")):
        if not (root / "tiny_world.built").exists():
            shutil.rmtree(project, ignore_errors=True)
            shutil.rmtree(data_dir, ignore_errors=True)
            copy_project(project)
            run(settings, as_of=TINY_AS_OF, world=TINY_WORLD, progress=lambda _: None)
            (root / "tiny_world.built").touch()
    return settings


def copy_tiny_world(world: Settings, destination: Path) -> Settings:
    """A private copy of the shared tiny world (data directory and project), for a test that changes it."""
    data_dir = destination / "data"
    shutil.copytree(world.data_dir, data_dir, symlinks=True)
    project = copy_project(destination / "project", world.project_dir)
    return Settings(data_dir=data_dir, project_dir=project)


def aged_world(tmp_path: Path) -> tuple[Settings, duckdb.DuckDBPyConnection]:
    """A warehouse with an old events batch (to expire whole), an old CDC batch (one current row kept)
    and a new batch of each, exported to the lake."""
    settings = Settings(data_dir=tmp_path, retention_days=30)
    settings.data_dir.mkdir(exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema raw")
    con.execute(
        "create table raw._ingest_log as select * from (values"
        " ('events-old', timestamp '2025-01-01 23:59:59'), ('app-old', timestamp '2025-01-01 23:59:59'),"
        " ('events-new', timestamp '2026-03-01 23:59:59'), ('app-new', timestamp '2026-03-01 23:59:59')"
        ") as t(batch_id, as_of)"
    )
    con.execute("alter table raw._ingest_log add column started_at timestamp")
    ensure_raw_bookkeeping(con)
    # Rows of some width, so that the removed ones weigh visibly in the files.
    con.execute(
        "create table raw.events_clickstream as select 'e' || range as event_id,"
        " repeat(md5(range::varchar), 20) as page_url, 'Mozilla/5.0' as user_agent, 'mail' as utm_source,"
        " 'email' as utm_medium, 'spring' as utm_campaign,"
        " case when range < 3000 then 'events-old' else 'events-new' end as _batch_id"
        " from range(3100)"
    )
    con.execute(
        "create table raw.app_customers as select range as customer_id, 10 + range as _change_id,"
        " 'update' as _op, repeat(md5(range::varchar), 20) as address, 'app-old' as _batch_id,"
        " timestamp '2025-01-01 10:00' as _ingested_at from range(2000)"
    )
    # Every customer but the first changed again later: their old versions are superseded.
    con.execute(
        "insert into raw.app_customers select customer_id, _change_id + 10000, 'update', 'new', 'app-new',"
        " timestamp '2026-03-01 10:00' from raw.app_customers where customer_id > 0"
    )
    export_new_batches(con, settings.lake_dir)
    return settings, con
