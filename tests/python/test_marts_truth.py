"""The published marts reproduce the simulator's ground truth: exactly on a clean world, closely on a
world with the default delivery defects (duplicates, late and out-of-order events, bots, bad lines)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.generate import generate
from lifecycle.pipeline import run

SEED = 11
SCALE = 0.01
START = dt.date(2026, 3, 1)
DAYS = 4
AS_OF = dt.datetime(2026, 3, 4, 22, 0)  # the last generated day, late evening

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def build(tmp: pytest.TempPathFactory, name: str, *, clean: bool) -> Settings:
    settings = Settings(data_dir=tmp.mktemp(name))
    # The world ends at the as-of, as `lifecycle run` makes it: nothing in the sources is from later.
    generate(settings.sources_dir, seed=SEED, scale=SCALE, start=START, days=DAYS, clean=clean, until=AS_OF)
    run(settings, as_of=AS_OF, world=None, progress=lambda _: None)
    return settings


def truth(settings: Settings) -> dict:
    return json.loads((settings.sources_dir / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def clean_world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build(tmp_path_factory, "truth-clean", clean=True)


@pytest.fixture(scope="module")
def dirty_world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build(tmp_path_factory, "truth-dirty", clean=False)


@pytest.fixture
def marts(request: pytest.FixtureRequest) -> Iterator[duckdb.DuckDBPyConnection]:
    settings: Settings = request.getfixturevalue(request.param)
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        yield con


def daily_revenue(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, float, float]]:
    rows = con.execute(
        "select date_day, order_count, gross_revenue, net_revenue from main.fct_revenue_daily"
    ).fetchall()
    return {str(day): (count, float(gross), float(net)) for day, count, gross, net in rows}


def daily_sessions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "select session_date, count(*) from main.fct_sessions group by session_date"
    ).fetchall()
    return {str(day): count for day, count in rows}


def active_customers(con: duckdb.DuckDBPyConnection) -> int:
    (count,) = con.execute("select count(*) from main.dim_customers where is_active").fetchone()  # type: ignore[misc]
    return count


@pytest.mark.parametrize("marts", ["clean_world"], indirect=True)
def test_clean_world_revenue_matches_exactly(clean_world: Settings, marts: duckdb.DuckDBPyConnection):
    expected = {
        d["date_day"]: (d["order_count"], round(d["gross_revenue"], 2), round(d["net_revenue"], 2))
        for d in truth(clean_world)["daily"]
    }
    actual = daily_revenue(marts)
    assert {day: actual.get(day) for day in expected} == expected


@pytest.mark.parametrize("marts", ["clean_world"], indirect=True)
def test_clean_world_human_sessions_match_exactly(clean_world: Settings, marts: duckdb.DuckDBPyConnection):
    expected = {d["date_day"]: d["human_sessions"] for d in truth(clean_world)["daily"]}
    assert daily_sessions(marts) == expected
    (bots,) = marts.execute("select count(*) from main.fct_bot_sessions").fetchone()  # type: ignore[misc]
    assert bots == 0


@pytest.mark.parametrize("marts", ["clean_world"], indirect=True)
def test_clean_world_active_customers_match(clean_world: Settings, marts: duckdb.DuckDBPyConnection):
    assert active_customers(marts) == truth(clean_world)["active_customers"]


@pytest.mark.parametrize("marts", ["clean_world"], indirect=True)
def test_clean_world_ad_spend_and_attribution_add_up(clean_world: Settings, marts: duckdb.DuckDBPyConnection):
    expected = {d["date_day"]: round(d["ad_spend"], 2) for d in truth(clean_world)["daily"]}
    rows = marts.execute(
        "select date_day, sum(spend), sum(attributed_orders) from main.fct_marketing_daily group by date_day"
    ).fetchall()
    assert {str(day): float(spend) for day, spend, _ in rows} == expected
    orders = {day: count for day, (count, _, _) in daily_revenue(marts).items()}
    assert all(attributed <= orders[str(day)] for day, _, attributed in rows)


@pytest.mark.parametrize("marts", ["dirty_world"], indirect=True)
def test_dirty_world_stays_close_to_the_truth(dirty_world: Settings, marts: duckdb.DuckDBPyConnection):
    daily = truth(dirty_world)["daily"]
    revenue = daily_revenue(marts)
    orders = sum(count for count, _, _ in revenue.values())
    gross = sum(g for _, g, _ in revenue.values())
    net = sum(n for _, _, n in revenue.values())
    assert orders == pytest.approx(sum(d["order_count"] for d in daily), rel=1e-3)
    assert gross == pytest.approx(sum(d["gross_revenue"] for d in daily), rel=1e-3)
    assert net == pytest.approx(sum(d["net_revenue"] for d in daily), rel=1e-3)
    sessions = sum(daily_sessions(marts).values())
    assert sessions == pytest.approx(sum(d["human_sessions"] for d in daily), rel=0.05)
    (bots,) = marts.execute("select count(*) from main.fct_bot_sessions").fetchone()  # type: ignore[misc]
    assert bots > 0
