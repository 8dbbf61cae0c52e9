"""Write–audit–publish: each class of bad data, injected into a new day's sources, fails a named check
and leaves the published data unchanged; a clean new day passes every gate and is published.

One baseline world (two weeks, enough history for the control limits) is built once and copied per case.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
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


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("baseline"))
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=START, days=BASE_DAYS)
    run(settings, as_of=morning_after(NEW_DAY - dt.timedelta(days=1)), world=None, progress=quiet)
    return settings


@pytest.fixture
def world(baseline: Settings, tmp_path: Path) -> Settings:
    shutil.copytree(baseline.data_dir, tmp_path / "data", symlinks=True)
    return Settings(data_dir=tmp_path / "data")


def published(settings: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}


def next_days(settings: Settings, inject: Callable[[Path], None] | None = None, days: int = 1) -> None:
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=NEW_DAY, days=days)
    if inject is not None:
        inject(settings.sources_dir)
    run(settings, as_of=morning_after(NEW_DAY + dt.timedelta(days=days - 1)), world=None, progress=quiet)


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


def prices_times_100(sources: Path) -> None:
    app(sources, f"update order_items set unit_price = unit_price * 100 where order_id in ({new_orders()})")


def null_customer_on_a_third(sources: Path) -> None:
    app(
        sources,
        corrupt_changes("orders", "order_id", "$.customer_id", "null", new_orders("order_id % 3 = 0")),
    )


def items_of_unknown_product(sources: Path) -> None:
    items = f"select order_item_id from order_items where order_id in ({new_orders('order_id % 4 = 0')})"
    app(sources, corrupt_changes("order_items", "order_item_id", "$.product_id", "999999999", items))


def clickstream_day_missing(sources: Path) -> None:
    shutil.rmtree(sources / "events" / f"date={NEW_DAY}")


def ad_drops_stop(sources: Path) -> None:
    for offset in range(3):
        (sources / "ads" / f"ad_spend_{NEW_DAY + dt.timedelta(days=offset)}.csv").unlink()


def duplicated_key_in_drop(sources: Path) -> None:
    drop = sources / "ads" / f"ad_spend_{NEW_DAY}.csv"
    lines = drop.read_bytes().rstrip(b"\r\n").split(b"\r\n")
    drop.write_bytes(b"\r\n".join([*lines, lines[-1]]) + b"\r\n")


def volume_halved(sources: Path) -> None:
    halved = new_orders("order_id % 2 = 0")
    app(
        sources,
        f"delete from payments where order_id in ({halved})",
        f"delete from order_items where order_id in ({halved})",
        f"delete from orders where order_id in ({halved})",
    )


CASES = {
    "prices x100 on new order items": (prices_times_100, 1, "Average order value"),
    "null customer on a third of new orders": (
        null_customer_on_a_third,
        1,
        "not_null_stg_app__orders_customer_id",
    ),
    "order items of a non-existent product": (
        items_of_unknown_product,
        1,
        "relationships_stg_app__order_items",
    ),
    "a day of clickstream missing": (clickstream_day_missing, 1, "raw.events_clickstream.completeness"),
    "ad drops stop for three days": (ad_drops_stop, 3, "raw.ads_spend.timeliness"),
    "duplicated key in an ad drop": (duplicated_key_in_drop, 1, "raw.ads_spend.accuracy"),
    "order volume falls by half": (volume_halved, 1, "Orders of"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_new_day_fails_a_named_check_and_publishes_nothing(world: Settings, case: str):
    inject, days, check = CASES[case]
    before = published(world)
    with pytest.raises(GateFailed) as failure:
        next_days(world, inject, days)
    assert check in str(failure.value)
    assert published(world) == before


def test_clean_new_day_passes_every_gate_and_is_published(world: Settings):
    before = published(world)
    next_days(world)
    after = published(world)
    assert after["_publication"] != before["_publication"]
    assert max(r[0] for r in after["fct_revenue_daily"]) == NEW_DAY
