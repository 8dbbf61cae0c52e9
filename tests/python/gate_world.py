"""A world for the quality-gate tests: two weeks of history (enough for the control limits), run and
published once per session, copied per case, then one more day with a defect injected into its sources.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from lifecycle.config import Settings
from lifecycle.generate import generate
from lifecycle.pipeline import run

SEED, SCALE = 21, 0.05
START = dt.date(2026, 2, 1)
BASE_DAYS = 15
NEW_DAY = START + dt.timedelta(days=BASE_DAYS)


def morning_after(day: dt.date) -> dt.datetime:
    """As-of one hour into the next day: ``day`` is complete and is the day the gates judge."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1, 0))


def quiet(_: str) -> None:
    pass


def published(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}


def next_days(
    settings: Settings,
    inject: Callable[[Path], None] | None = None,
    days: int = 1,
    *,
    as_of: dt.datetime | None = None,
    accept_restatements: Sequence[dt.date] = (),
) -> None:
    """Generate the next ``days`` days, inject a defect into the sources, and run the lifecycle on them
    (as of the morning after the last day unless ``as_of`` says otherwise)."""
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=NEW_DAY, days=days)
    if inject is not None:
        inject(settings.sources_dir)
    as_of = as_of or morning_after(NEW_DAY + dt.timedelta(days=days - 1))
    run(settings, as_of=as_of, world=None, progress=quiet, accept_restatements=accept_restatements)


def app(sources: Path, *statements: str) -> None:
    con = sqlite3.connect(sources / "app.sqlite")
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def new_orders(where: str = "1 = 1") -> str:
    return f"select order_id from orders where placed_at >= '{NEW_DAY}' and {where}"


def corrupt_changes(table: str, key: str, path: str, value: str, keys: str) -> str:
    """A change the application's own constraints would refuse, as a buggy writer would log it."""
    return (
        "insert into change_log (table_name, op, row_key, changed_at, row_json)"
        f" select '{table}', 'update', row_key, changed_at, json_set(row_json, '{path}', json('{value}'))"
        f" from change_log where table_name = '{table}' and change_id in ("
        f"  select max(change_id) from change_log where table_name = '{table}'"
        f"  and cast(row_key as integer) in ({keys}) group by row_key)"
    )


def make_baseline(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir)
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=START, days=BASE_DAYS)
    run(settings, as_of=morning_after(NEW_DAY - dt.timedelta(days=1)), world=None, progress=quiet)
    return settings


def copy_world(baseline: Settings, data_dir: Path) -> Settings:
    shutil.copytree(baseline.data_dir, data_dir, symlinks=True)
    return Settings(data_dir=data_dir)
