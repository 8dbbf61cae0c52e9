"""Write–audit–publish: each class of bad data, injected into a new day's sources, fails a named check
and leaves the published data unchanged; a clean new day passes every gate and is published.

The world (tests/python/gate_world.py) is built once per session and copied per case.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gate_world import NEW_DAY, app, corrupt_changes, new_orders, next_days, published
from lifecycle.config import Settings
from lifecycle.errors import GateFailed

pytestmark = [pytest.mark.e2e, pytest.mark.gates]


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
    "prices x100 on new order items": (prices_times_100, 1, "assert_order_item_prices_match_the_catalogue"),
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
    if check.startswith(("not_null", "relationships", "assert_")):  # a dbt test names who acts and how
        assert "→ owner" in str(failure.value) and "runbook:" in str(failure.value)
    assert published(world) == before


def test_clean_new_day_passes_every_gate_and_is_published(world: Settings):
    before = published(world)
    next_days(world)
    after = published(world)
    assert after["_publication"] != before["_publication"]
    assert max(r[0] for r in after["fct_revenue_daily"]) == NEW_DAY
