"""One defect per principle of the gates, different from the classic ones in test_quality_gates.py, each
injected into a new day: a named check blocks publication and the last good publication stays.

Several cases run with the as-of at the very end of the injected day, so the day is judged while it is
still the newest (partial) data — the case a calendar-day check would miss.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from gate_world import NEW_DAY, SCALE, SEED, app, new_orders, next_days, published
from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.generate import generate
from lifecycle.ingest import ingest
from lifecycle.publish import publish
from lifecycle.quality.gates import audit_build, audit_raw
from lifecycle.transform import transform

pytestmark = [pytest.mark.e2e, pytest.mark.gates]

END_OF_NEW_DAY = dt.datetime.combine(NEW_DAY, dt.time(23, 59, 59))


def rewrite_events(sources: Path, change: Callable[[list[str]], list[str]]) -> None:
    """Apply ``change(lines) -> lines`` to every clickstream file of the new day."""
    for path in sorted((sources / "events").glob(f"date={NEW_DAY}/*/*.json.gz")):
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        path.write_bytes(gzip.compress(("\n".join(change(lines)) + "\n").encode()))


def prices_raised_a_third(sources: Path) -> None:
    app(
        sources,
        f"update order_items set unit_price = round(unit_price * 1.33, 2) where order_id in ({new_orders()})",
    )


def payments_captured_twice(sources: Path) -> None:
    app(
        sources,
        "insert into payments (order_id, method, amount, status, created_at)"
        " select order_id, method, amount, status, created_at from payments"
        f" where status = 'captured' and order_id in ({new_orders('order_id % 4 = 0')})",
    )


def a_tenth_of_clickstream_lines_broken(sources: Path) -> None:
    rewrite_events(
        sources, lambda lines: [line[:-7] if i % 10 == 0 else line for i, line in enumerate(lines)]
    )


def a_third_of_clickstream_stamped_days_ahead(sources: Path) -> None:
    """A device clock three days fast: its events carry times after the as-of."""

    def ahead(line: str) -> str:
        event = json.loads(line)
        stamped = dt.datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
        event["event_time"] = (stamped + dt.timedelta(days=3)).isoformat().replace("+00:00", "Z")
        return json.dumps(event)

    rewrite_events(sources, lambda lines: [ahead(x) if i % 3 == 0 else x for i, x in enumerate(lines)])


def half_of_order_placed_events_lost(sources: Path) -> None:
    """A tracker release that sends only every other order confirmation: the events that remain are valid."""
    placed = 0

    def keep(line: str) -> bool:
        nonlocal placed
        if json.loads(line)["event_type"] != "order_placed":
            return True
        placed += 1
        return placed % 2 == 0

    rewrite_events(sources, lambda lines: [line for line in lines if keep(line)])


def settled_day_rewritten(sources: Path) -> None:
    """A bulk update of the application rewrites the prices of orders a week old (already published)."""
    old = NEW_DAY - dt.timedelta(days=7)
    app(
        sources,
        "update order_items set unit_price = unit_price * 3 where order_id in ("
        f" select order_id from orders where date(placed_at) = '{old}')",
    )


CASES = {
    "order-line prices differ from the catalogue (as of the end of that day)": (
        prices_raised_a_third,
        END_OF_NEW_DAY,
        "assert_order_item_prices_match_the_catalogue",
    ),
    "payments captured twice (as of the end of that day)": (
        payments_captured_twice,
        END_OF_NEW_DAY,
        "assert_captured_payments_match_order_totals",
    ),
    "half of a day's order_placed events lost (as of the end of that day)": (
        half_of_order_placed_events_lost,
        END_OF_NEW_DAY,
        "assert_placed_orders_have_their_clickstream_event",
    ),
    "a tenth of a day's clickstream lines malformed": (
        a_tenth_of_clickstream_lines_broken,
        None,
        "quarantined share of each landed file",
    ),
    "a third of a day's clickstream stamped three days ahead": (
        a_third_of_clickstream_stamped_days_ahead,
        None,
        "future: event_time after as-of",
    ),
    "a settled day's orders rewritten": (settled_day_rewritten, None, "settled published figures restated"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_defect_of_each_principle_blocks_publication(world: Settings, case: str):
    inject, as_of, check = CASES[case]
    before = published(world)
    with pytest.raises(GateFailed) as failure:
        next_days(world, inject, as_of=as_of)
    assert check in str(failure.value)
    assert published(world) == before


def test_an_accepted_restatement_is_published_and_recorded(world: Settings):
    old = NEW_DAY - dt.timedelta(days=7)
    with pytest.raises(GateFailed, match=f"gross revenue of {old}"):
        next_days(world, settled_day_rewritten)
    next_days(world, accept_restatements=[old])
    record = json.loads(world.last_publication_path.read_text())
    assert old.isoformat() in record["accepted_restatements"]
    revenue = {row[0]: row for row in published(world)["fct_revenue_daily"]}
    assert NEW_DAY in revenue


def test_a_shifted_distribution_in_the_new_data_blocks_publication(world: Settings):
    """A transformation bug that scales the new day's session lengths (minutes read as seconds): every
    row is internally consistent, so only the distribution against its history can tell."""
    generate(world.sources_dir, seed=SEED, scale=SCALE, start=NEW_DAY, days=1)
    as_of = END_OF_NEW_DAY
    before = published(world)
    ingest(world, as_of=as_of, progress=lambda _: None)
    audit_raw(world, as_of=as_of, run_id="shifted", progress=lambda _: None)
    transform(world, as_of=as_of, run_id="shifted")
    with duckdb.connect(str(world.warehouse_path)) as con:
        con.execute(
            "update marts.fct_sessions set duration_seconds = duration_seconds * 60"
            f" where session_started_at >= '{NEW_DAY}'"
        )
    with pytest.raises(GateFailed, match="session length"):
        audit_build(world, as_of=as_of, run_id="shifted", progress=lambda _: None)
    with pytest.raises(GateFailed, match="validate: failed in shifted"):
        publish(world)
    assert published(world) == before
