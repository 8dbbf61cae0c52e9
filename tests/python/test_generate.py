"""Properties of the source simulator: deterministic, continuable, true to its ground truth, dirty on purpose.

The ground-truth test recomputes every figure from the emitted files alone (sqlite3, gzip + json, csv),
the way an independent pipeline would, and must match ground_truth.json to the cent.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import itertools
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from lifecycle.config import Settings
from lifecycle.generate import DefectRates, generate
from lifecycle.generate.ads import CAMPAIGNS
from lifecycle.pipeline import DemoWorld, ensure_sources

START = dt.date(2024, 3, 1)
SESSION_GAP = dt.timedelta(minutes=30)
TABLE_KEYS = {
    "categories": "category_id",
    "products": "product_id",
    "customers": "customer_id",
    "addresses": "address_id",
    "orders": "order_id",
    "order_items": "order_item_id",
    "payments": "payment_id",
    "change_log": "change_id",
}


# ------------------------------------------------------------------------------------------------
# readers: only the stdlib, only the emitted files


def manifest(sources: Path) -> dict[str, Any]:
    return json.loads((sources / "manifest.json").read_text())["files"]


def truth(sources: Path) -> dict[str, Any]:
    return json.loads((sources / "ground_truth.json").read_text())


def table_contents(sources: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(sources / "app.sqlite") as conn:
        return {
            t: conn.execute(f"select * from {t} order by {key}").fetchall() for t, key in TABLE_KEYS.items()
        }


def event_files(sources: Path) -> list[Path]:
    return sorted((sources / "events").glob("date=*/hour=*/events-*.json.gz"))


def read_lines(sources: Path) -> list[tuple[Path, str]]:
    """Every delivered line with the file it came in."""
    out = []
    for path in event_files(sources):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            out += [(path, line.rstrip("\n")) for line in handle]
    return out


def parse(line: str) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def unique_events(sources: Path) -> dict[str, dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    for _, line in read_lines(sources):
        event = parse(line)
        if event is not None:
            events.setdefault(event["event_id"], event)
    return events


def event_time(event: dict[str, Any]) -> dt.datetime:
    return dt.datetime.strptime(event["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ")


def sessionize(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Maximal runs of one anonymous_id's events with gaps of at most 30 minutes."""
    by_visitor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_visitor[event["anonymous_id"]].append(event)
    sessions = []
    for visitor_events in by_visitor.values():
        visitor_events.sort(key=event_time)
        current = [visitor_events[0]]
        for event in visitor_events[1:]:
            if event_time(event) - event_time(current[-1]) > SESSION_GAP:
                sessions.append(current)
                current = []
            current.append(event)
        sessions.append(current)
    return sessions


def looks_like_bot(session: list[dict[str, Any]]) -> bool:
    """Crawler user agent, or the behaviour of a scraper: fast views only, never a login or a cart."""
    if any(bot in session[0]["user_agent"] for bot in ("Googlebot", "bingbot", "AhrefsBot", "YandexBot")):
        return True
    times = [event_time(e) for e in session]
    fast = all((b - a) <= dt.timedelta(seconds=3) for a, b in itertools.pairwise(times))
    return (
        len(session) >= 6
        and fast
        and all(e["customer_id"] is None for e in session)
        and all(e["event_type"] in ("page_view", "product_view") for e in session)
    )


def read_ads(sources: Path) -> dict[str, list[dict[str, str]]]:
    """Rows of every drop, by drop date, keyed by header name (whatever the column order)."""
    drops = {}
    for path in sorted((sources / "ads").glob("ad_spend_*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            drops[path.stem.removeprefix("ad_spend_")] = list(csv.DictReader(handle, delimiter=";"))
    return drops


def cents(amount: float) -> int:
    return round(amount * 100)


def money(total_cents: int) -> float:
    return round(total_cents / 100, 2)


def recompute_truth(sources: Path) -> tuple[list[dict[str, Any]], int]:
    """The daily ground truth and active_customers, from the sources alone (clean sources)."""
    conn = sqlite3.connect(sources / "app.sqlite")
    orders = conn.execute("select order_id, customer_id, status, placed_at from orders").fetchall()
    items = conn.execute("select order_id, quantity, unit_price, discount_amount from order_items").fetchall()
    refunds = conn.execute("select amount, created_at from payments where status = 'refunded'").fetchall()
    signups = conn.execute(
        "select json_extract(row_json, '$.created_at') from change_log"
        " where table_name = 'customers' and op = 'insert'"
    ).fetchall()
    live_customers = {
        r[0] for r in conn.execute("select customer_id from customers where deleted_at is null")
    }
    conn.close()

    daily: dict[str, Counter] = defaultdict(Counter)
    counted = {o[0]: o[3][:10] for o in orders if o[2] != "cancelled"}
    for day in counted.values():
        daily[day]["order_count"] += 1
    for order_id, quantity, unit_price, discount in items:
        if order_id in counted:
            daily[counted[order_id]]["gross"] += quantity * cents(unit_price)
            daily[counted[order_id]]["discount"] += cents(discount)
    for amount, created_at in refunds:
        daily[created_at[:10]]["refund"] += cents(amount)
    for (created_at,) in signups:
        daily[created_at[:10]]["new_customers"] += 1
    for session in sessionize(list(unique_events(sources).values())):
        if not looks_like_bot(session):
            daily[session[0]["event_time"][:10]]["human_sessions"] += 1
    latest: dict[str, tuple[str, int]] = {}
    for drop_date, rows in read_ads(sources).items():
        for row in rows:
            spend = int(row["spend"].replace(",", ""))
            if row["date"] not in latest or latest[row["date"]][0] < drop_date:
                latest[row["date"]] = (drop_date, 0)
            if latest[row["date"]][0] == drop_date:
                latest[row["date"]] = (drop_date, latest[row["date"]][1] + spend)
    for day, (_, spend) in latest.items():
        daily[day]["ad_spend"] = spend

    days = sorted(latest)
    rows = [
        {
            "date_day": day,
            "order_count": daily[day]["order_count"],
            "gross_revenue": money(daily[day]["gross"]),
            "discount_amount": money(daily[day]["discount"]),
            "refund_amount": money(daily[day]["refund"]),
            "net_revenue": money(daily[day]["gross"] - daily[day]["discount"] - daily[day]["refund"]),
            "human_sessions": daily[day]["human_sessions"],
            "new_customers": daily[day]["new_customers"],
            "ad_spend": money(daily[day]["ad_spend"]),
        }
        for day in days
    ]
    window_start = (dt.date.fromisoformat(days[-1]) - dt.timedelta(days=89)).isoformat()
    active = {o[1] for o in orders if o[2] != "cancelled" and window_start <= o[3][:10] <= days[-1]}
    return rows, len(active & live_customers)


# ------------------------------------------------------------------------------------------------
# worlds shared by the tests (module scope: each is generated once)


@pytest.fixture(scope="module")
def clean_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = tmp_path_factory.mktemp("clean") / "sources"
    generate(sources, seed=7, scale=0.05, start=START, days=12, clean=True)
    return sources


DIRTY_RATES = DefectRates(malformed_rate=0.005, schema_change_after_days=3, ads_column_change_after_days=2)


@pytest.fixture(scope="module")
def dirty_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = tmp_path_factory.mktemp("dirty") / "sources"
    generate(sources, seed=7, scale=0.15, start=START, days=5, defects=DIRTY_RATES)
    return sources


# ------------------------------------------------------------------------------------------------
# determinism and continuation


def test_same_arguments_give_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        generate(tmp_path / name, seed=seed, scale=0.02, start=START, days=3)
    assert manifest(tmp_path / "a") == manifest(tmp_path / "b")
    assert (tmp_path / "a" / "ground_truth.json").read_bytes() == (
        tmp_path / "b" / "ground_truth.json"
    ).read_bytes()
    differing = {
        path
        for path, entry in manifest(tmp_path / "a").items()
        if manifest(tmp_path / "c").get(path) != entry
    }
    assert "app.sqlite" in differing
    assert truth(tmp_path / "a")["daily"] != truth(tmp_path / "c")["daily"]


def test_ten_days_in_one_run_equal_ten_one_day_runs(tmp_path: Path) -> None:
    whole, split = tmp_path / "whole", tmp_path / "split"
    generate(whole, seed=3, scale=0.03, start=START, days=10)
    for i in range(10):
        summary = generate(split, seed=3, scale=0.03, start=START + dt.timedelta(days=i), days=1)
        assert summary.days_generated == 1
    assert table_contents(whole) == table_contents(split)
    assert truth(whole) == truth(split)
    files_whole = {k: v for k, v in manifest(whole).items() if k != "app.sqlite"}
    files_split = {k: v for k, v in manifest(split).items() if k != "app.sqlite"}
    assert files_whole == files_split


def test_continuing_keeps_customers_and_progresses_open_orders(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    generate(sources, seed=5, scale=0.03, start=START, days=2)
    with sqlite3.connect(sources / "app.sqlite") as conn:
        customers_before = conn.execute("select count(*) from customers").fetchone()[0]
        open_before = dict(
            conn.execute("select order_id, status from orders where status in ('paid', 'shipped')")
        )
    summary = generate(sources, seed=5, scale=0.03, start=START + dt.timedelta(days=2), days=5)
    assert summary.days_generated == 5
    assert summary.last_day == START + dt.timedelta(days=6)
    with sqlite3.connect(sources / "app.sqlite") as conn:
        assert conn.execute("select count(*) from customers").fetchone()[0] > customers_before - 5
        statuses = dict(conn.execute("select order_id, status from orders").fetchall())
    assert open_before
    # paid orders ship within 48 h, shipped ones arrive within 5 days
    assert all(statuses[o] != status for o, status in open_before.items())
    assert len(truth(sources)["daily"]) == 7


def test_repeating_a_generated_range_is_a_no_op(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    generate(sources, seed=5, scale=0.02, start=START, days=4)
    stamps = {p: p.stat().st_mtime_ns for p in sources.rglob("*") if p.is_file()}
    again = generate(sources, seed=5, scale=0.02, start=START, days=4)
    inside = generate(sources, seed=5, scale=0.02, start=START + dt.timedelta(days=1), days=2)
    assert again.days_generated == inside.days_generated == 0
    assert {p: p.stat().st_mtime_ns for p in sources.rglob("*") if p.is_file()} == stamps


def test_a_range_overlapping_the_last_day_generates_only_the_new_days(tmp_path: Path) -> None:
    messages: list[str] = []
    generate(tmp_path, seed=5, scale=0.02, start=START, days=3)
    summary = generate(
        tmp_path, seed=5, scale=0.02, start=START + dt.timedelta(days=1), days=4, progress=messages.append
    )
    assert summary.days_generated == 2
    assert [m[:10] for m in messages] == [str(START + dt.timedelta(days=d)) for d in (3, 4)]
    assert [r["date_day"] for r in truth(tmp_path)["daily"]] == [
        str(START + dt.timedelta(days=d)) for d in range(5)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": START + dt.timedelta(days=4)}, "neither the world's next day"),
        ({"start": START - dt.timedelta(days=1)}, "neither the world's next day"),
        ({"seed": 6}, "seed=6"),
        ({"scale": 0.5}, "scale=0.5"),
        ({"clean": True}, "clean=True"),
    ],
)
def test_refuses_what_would_not_continue_the_world(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    sources = tmp_path / "sources"
    generate(sources, seed=5, scale=0.02, start=START, days=3)
    arguments: dict[str, Any] = {"seed": 5, "scale": 0.02, "start": START + dt.timedelta(days=3), "days": 1}
    with pytest.raises(ValueError, match=message):
        generate(sources, **{**arguments, **kwargs})


def test_refuses_a_folder_it_did_not_generate(tmp_path: Path) -> None:
    (tmp_path / "app.sqlite").write_text("not mine")
    with pytest.raises(ValueError, match="no simulator state"):
        generate(tmp_path, scale=0.02, start=START, days=1)


def test_refuses_a_database_ahead_of_the_state(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.02, start=START, days=1)
    with sqlite3.connect(tmp_path / "app.sqlite") as conn:
        conn.execute("update _sim_clock set now = '2099-01-01 00:00:00'")
    with pytest.raises(ValueError, match="interrupted run"):
        generate(tmp_path, seed=5, scale=0.02, start=START + dt.timedelta(days=1), days=1)


# ------------------------------------------------------------------------------------------------
# the world's clock: generating up to an instant, and continuing from it


def at(day: dt.date, time: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(time))


def state_files(sources: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (sources / "_state").glob("*") if p.is_file()}


def latest_stamps(sources: Path) -> dict[str, str]:
    """The latest time each source shows: change log, every timestamp column, event times, ad days."""
    with sqlite3.connect(sources / "app.sqlite") as conn:
        stamps = {
            "clock": conn.execute("select now from _sim_clock").fetchone()[0],
            "change_log": conn.execute("select max(changed_at) from change_log").fetchone()[0],
        }
        for table, column in [
            ("customers", "updated_at"),
            ("customers", "deleted_at"),
            ("addresses", "updated_at"),
            ("products", "updated_at"),
            ("orders", "updated_at"),
            ("payments", "created_at"),
        ]:
            stamps[f"{table}.{column}"] = (
                conn.execute(f"select max({column}) from {table}").fetchone()[0] or ""
            )
    lines = [parse(line) for _, line in read_lines(sources)]
    stamps["event_time"] = max(e["event_time"] for e in lines if e).replace("T", " ")[:19]
    stamps["event_file_hour_end"] = max(
        f"{path.parent.parent.name[5:]} {int(path.parent.name[5:]) + 1:02d}:00:00"
        for path in event_files(sources)
    )
    stamps["ads_day"] = max(row["date"] for rows in read_ads(sources).values() for row in rows) + " 00:00:00"
    return stamps


@pytest.mark.parametrize("clean", [True, False])
def test_a_day_generated_in_pieces_equals_the_day_generated_at_once(tmp_path: Path, clean: bool) -> None:
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    generate(whole, seed=3, scale=0.03, start=START, days=3, clean=clean)
    day2, day3 = START + dt.timedelta(days=1), START + dt.timedelta(days=2)
    for start, days, until in [
        (START, 2, at(day2, "09:30:00")),
        (day2, 1, at(day2, "15:00:07")),
        (START, 3, at(day3, "05:00:00")),  # finishes day 2, then the start of day 3
        (day3, 1, at(day3, "05:00:00")),  # the same instant again: nothing to do
        (day3, 1, None),
    ]:
        generate(pieces, seed=3, scale=0.03, start=start, days=days, clean=clean, until=until)
    assert table_contents(pieces) == table_contents(whole)
    assert truth(pieces) == truth(whole)
    files_whole = {k: v for k, v in manifest(whole).items() if k != "app.sqlite"}
    assert {k: v for k, v in manifest(pieces).items() if k != "app.sqlite"} == files_whole
    assert state_files(pieces) == state_files(whole)
    assert not list((pieces / "_state" / "pending").rglob("*.json.gz"))


def test_the_sources_hold_nothing_after_until(tmp_path: Path) -> None:
    day3 = START + dt.timedelta(days=2)
    summary = generate(tmp_path, seed=3, scale=0.05, start=START, days=3, until=at(day3, "14:20:00"))
    assert (summary.last_day, summary.until) == (day3, at(day3, "14:20:00"))
    stamps = latest_stamps(tmp_path)
    assert stamps["clock"] == f"{day3} 14:20:00"
    assert all(stamp <= f"{day3} 14:20:00" for stamp in stamps.values()), stamps
    assert stamps["event_file_hour_end"] == f"{day3} 14:00:00"  # the hour 14:00-15:00 is not over
    assert stamps["ads_day"] == f"{day3 - dt.timedelta(days=1)} 00:00:00"  # a day's drop comes at its end
    # Late events of the finished days wait for their hour in the simulator's private folder.
    assert list((tmp_path / "_state" / "pending" / "events").rglob("*.json.gz"))
    assert not {p for p in manifest(tmp_path) if p.startswith("_state")}
    assert truth(tmp_path)["params"]["clock"] == f"{day3} 14:20:00"

    generate(tmp_path, seed=3, scale=0.05, start=day3, days=1, until=at(day3, "22:00:00"))
    later = latest_stamps(tmp_path)
    assert all(stamp <= f"{day3} 22:00:00" for stamp in later.values()), later
    assert later["event_file_hour_end"] == f"{day3} 22:00:00"


def test_the_ground_truth_of_a_partial_day_matches_its_sources(tmp_path: Path) -> None:
    day3 = START + dt.timedelta(days=2)
    generate(tmp_path, seed=3, scale=0.05, start=START, days=3, clean=True, until=at(day3, "16:00:00"))
    partial = truth(tmp_path)["daily"][-1]
    assert partial["date_day"] == str(day3)
    with sqlite3.connect(tmp_path / "app.sqlite") as conn:
        (orders,) = conn.execute(
            "select count(*) from orders where placed_at >= ? and status <> 'cancelled'", [str(day3)]
        ).fetchone()
        (signups,) = conn.execute(
            "select count(*) from change_log where table_name = 'customers' and op = 'insert'"
            " and changed_at >= ?",
            [str(day3)],
        ).fetchone()
    sessions = [
        s for s in sessionize(list(unique_events(tmp_path).values())) if s[0]["event_time"] >= str(day3)
    ]
    assert orders > 0 and signups > 0 and sessions
    assert (partial["order_count"], partial["new_customers"], partial["human_sessions"]) == (
        orders,
        signups,
        len(sessions),
    )
    assert partial["ad_spend"] == 0  # its drop comes when the day is over
    # The day's changes so far are in the database, later ones are not.
    whole = tmp_path / "whole"
    generate(whole, seed=3, scale=0.05, start=START, days=3, clean=True)
    assert truth(whole)["daily"][-1]["order_count"] > partial["order_count"]


def test_an_earlier_until_on_a_partial_day_is_a_no_op(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.02, start=START, days=1, until=at(START, "15:00:00"))
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = generate(tmp_path, seed=5, scale=0.02, start=START, days=1, until=at(START, "10:00:00"))
    assert again.days_generated == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps


def test_until_must_be_on_the_last_requested_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not on the last requested day"):
        generate(tmp_path, seed=5, scale=0.02, start=START, days=2, until=at(START, "10:00:00"))
    assert not tmp_path.joinpath("app.sqlite").exists()


def test_refuses_a_database_ahead_of_a_partial_day(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.02, start=START, days=1, until=at(START, "10:00:00"))
    with sqlite3.connect(tmp_path / "app.sqlite") as conn:
        conn.execute("update _sim_clock set now = ?", [f"{START} 12:00:00"])
    with pytest.raises(ValueError, match="interrupted run"):
        generate(tmp_path, seed=5, scale=0.02, start=START, days=1, until=at(START, "14:00:00"))


def test_runs_continue_the_world_up_to_their_as_of(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "runs")
    world = DemoWorld(seed=4, scale=0.02, days=3)
    as_of = at(START + dt.timedelta(days=2), "09:15:30")
    assert "up to" in ensure_sources(settings, world, as_of, lambda _: None)
    assert all(stamp <= f"{as_of}" for stamp in latest_stamps(settings.sources_dir).values())
    later = as_of + dt.timedelta(hours=16)  # the next night
    ensure_sources(settings, world, later, lambda _: None)
    assert "already cover" in ensure_sources(settings, world, later, lambda _: None)
    assert "already cover" in ensure_sources(settings, world, as_of, lambda _: None)
    direct = tmp_path / "direct"
    generate(direct, seed=4, scale=0.02, start=START, days=4, until=later)
    assert table_contents(settings.sources_dir) == table_contents(direct)
    assert truth(settings.sources_dir) == truth(direct)
    files = {k: v for k, v in manifest(direct).items() if k != "app.sqlite"}
    assert {k: v for k, v in manifest(settings.sources_dir).items() if k != "app.sqlite"} == files


# ------------------------------------------------------------------------------------------------
# the sources are true to the ground truth and to each other


def test_ground_truth_matches_a_recomputation_from_the_clean_sources(clean_world: Path) -> None:
    expected = truth(clean_world)
    daily, active = recompute_truth(clean_world)
    assert daily == expected["daily"]
    assert active == expected["active_customers"]
    assert expected["active_customers"] > 0
    assert sum(r["refund_amount"] for r in expected["daily"]) > 0
    assert sum(r["order_count"] for r in expected["daily"]) > 100


def test_every_order_has_its_order_placed_event_from_its_customer(clean_world: Path) -> None:
    with sqlite3.connect(clean_world / "app.sqlite") as conn:
        orders = {r[0]: r[1:] for r in conn.execute("select order_id, customer_id, placed_at from orders")}
    placed = [e for e in unique_events(clean_world).values() if e["event_type"] == "order_placed"]
    assert sorted(e["order_id"] for e in placed) == sorted(orders)
    for event in placed:
        customer_id, placed_at = orders[event["order_id"]]
        assert event["customer_id"] == customer_id
        assert event["event_time"][:19].replace("T", " ") == placed_at


def test_sessions_log_in_once_and_land_with_campaigns_the_ads_know(clean_world: Path) -> None:
    campaign_ids = {row["campaign_id"] for rows in read_ads(clean_world).values() for row in rows}
    assert campaign_ids == {c.campaign_id for c in CAMPAIGNS}
    for session in sessionize(list(unique_events(clean_world).values())):
        ids = [e["customer_id"] for e in session]
        first_login = next((i for i, c in enumerate(ids) if c is not None), len(ids))
        assert all(c is None for c in ids[:first_login]) and len(set(ids[first_login:])) <= 1
        assert all(e["utm_source"] is None for e in session[1:])
        assert session[0]["utm_campaign"] in campaign_ids | {None}
        assert session[-1]["event_time"][11:16] < "23:30"
        assert set(session[0]["context"]) == {"ip", "locale", "screen"}


def test_change_log_replays_to_the_tables_in_time_order(clean_world: Path) -> None:
    with sqlite3.connect(clean_world / "app.sqlite") as conn:
        log = conn.execute(
            "select table_name, op, row_key, changed_at, row_json from change_log order by change_id"
        )
        log = log.fetchall()
        replayed: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for table, op, key, _, row_json in log:
            if op == "delete":
                replayed[table].pop(key)
            else:
                replayed[table][key] = json.loads(row_json)
        for table, key in TABLE_KEYS.items():
            if table == "change_log":
                continue
            cursor = conn.execute(f"select * from {table} order by {key}")
            columns = [c[0] for c in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor]
            assert rows == [replayed[table][k] for k in sorted(replayed[table], key=int)], table
    changed_at = [row[3] for row in log]
    assert changed_at == sorted(changed_at)
    assert {op for _, op, *_ in log} >= {"insert", "update"}


def test_ad_hoc_changes_are_captured_at_the_simulated_time(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.02, start=START, days=2)
    with sqlite3.connect(tmp_path / "app.sqlite") as conn:
        conn.execute("update customers set email = 'fixed@example.com' where customer_id = 1")
        row = conn.execute(
            "select table_name, op, row_key, changed_at from change_log order by change_id desc"
        ).fetchone()
    assert row == ("customers", "update", "1", f"{START + dt.timedelta(days=1)} 23:59:59")


def test_money_has_two_decimals_and_refunds_are_positive(clean_world: Path) -> None:
    with sqlite3.connect(clean_world / "app.sqlite") as conn:
        amounts = conn.execute(
            "select unit_price from order_items union all select discount_amount from order_items "
            "union all select amount from payments union all select price from products"
        ).fetchall()
        refunds = conn.execute("select min(amount) from payments where status = 'refunded'").fetchone()[0]
    assert all(round(a, 2) == a for (a,) in amounts)
    assert refunds > 0


def test_ads_drops_restate_three_days_in_the_partners_dialect(clean_world: Path) -> None:
    first = (clean_world / "ads" / f"ad_spend_{START + dt.timedelta(days=5)}.csv").read_bytes()
    assert first.startswith(
        b"\xef\xbb\xbfdate;channel;campaign_id;campaign_name;impressions;clicks;spend\r\n"
    )
    assert b'"Google Search; Brand"' in first
    drops = read_ads(clean_world)
    day5 = drops[str(START + dt.timedelta(days=5))]
    assert sorted({row["date"] for row in day5}) == [str(START + dt.timedelta(days=d)) for d in range(2, 6)]
    assert all("," in row["spend"] for row in day5)
    versions = [
        next(r["spend"] for r in drops[str(START + dt.timedelta(days=d))] if r["date"] == str(START))
        for d in range(4)
    ]
    assert len(set(versions)) > 1  # restated


def test_clean_and_dirty_worlds_share_the_same_business(tmp_path: Path) -> None:
    generate(tmp_path / "clean", seed=9, scale=0.03, start=START, days=3, clean=True)
    generate(tmp_path / "dirty", seed=9, scale=0.03, start=START, days=3)
    assert truth(tmp_path / "clean")["daily"] == truth(tmp_path / "dirty")["daily"]
    assert table_contents(tmp_path / "clean") == table_contents(tmp_path / "dirty")
    assert truth(tmp_path / "clean")["defects"] == {}


def test_clean_files_are_in_event_time_order_in_their_event_hour(clean_world: Path) -> None:
    for path in event_files(clean_world)[:50]:
        with gzip.open(path, "rt") as handle:
            events = [json.loads(line) for line in handle]
        times = [e["event_time"] for e in events]
        assert times == sorted(times)
        folder_hour = f"{path.parent.parent.name[5:]}T{path.parent.name[5:]}"
        assert all(t.startswith(folder_hour) for t in times)


# ------------------------------------------------------------------------------------------------
# defects: each class appears at about its configured rate and is counted


def within(observed: float, expected: float, relative: float = 0.35) -> bool:
    return abs(observed - expected) <= relative * expected


def test_every_defect_class_appears_at_its_rate_and_is_counted(dirty_world: Path) -> None:
    defects = truth(dirty_world)["defects"]
    lines = read_lines(dirty_world)
    parsed = [(path, parse(line)) for path, line in lines]
    valid = [(path, e) for path, e in parsed if e is not None]
    first_seen: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, event in valid:
        first_seen.setdefault(event["event_id"], (path, event))
    n_events = len(first_seen)

    malformed = len(lines) - len(valid)
    assert malformed == defects["malformed_lines"] > 0
    assert within(malformed / n_events, DIRTY_RATES.malformed_rate, 0.5)

    duplicates = len(valid) - n_events
    assert duplicates == defects["duplicate_events"]
    assert within(duplicates / n_events, DIRTY_RATES.duplicate_rate)

    def folder_hour(path: Path) -> dt.datetime:
        return dt.datetime.strptime(f"{path.parent.parent.name[5:]} {path.parent.name[5:]}", "%Y-%m-%d %H")

    earliest: dict[str, dt.datetime] = {}
    for path, event in valid:
        hour = folder_hour(path)
        earliest[event["event_id"]] = min(hour, earliest.get(event["event_id"], hour))
    late = 0
    for event_id, (_, event) in first_seen.items():
        delay = earliest[event_id] - event_time(event).replace(minute=0, second=0, microsecond=0)
        assert delay <= dt.timedelta(hours=DIRTY_RATES.late_max_hours)
        late += delay >= dt.timedelta(hours=2)
    mobile = sum(1 for _, e in first_seen.values() if e.get("device", e.get("device_type")) == "mobile")
    assert late == defects["late_events"] > 0
    assert within(late / mobile, DIRTY_RATES.late_mobile_rate)

    sessions = sessionize([e for _, e in first_seen.values()])
    bots = [s for s in sessions if looks_like_bot(s)]
    assert len(bots) == defects["bot_sessions"]
    assert within(len(bots) / len(sessions), DIRTY_RATES.bot_session_share)
    disguised = [s for s in bots if "bot" not in s[0]["user_agent"].lower()]
    assert len(disguised) == defects["bot_sessions_disguised"]
    assert all(e["event_type"] != "add_to_cart" for s in bots for e in s)

    change = START + dt.timedelta(days=DIRTY_RATES.schema_change_after_days)
    v2 = [e for _, e in first_seen.values() if "device_type" in e]
    assert len(v2) == defects["schema_v2_events"] > 0
    assert all(event_time(e).date() >= change and "app_version" in e and "device" not in e for e in v2)
    assert all(event_time(e).date() < change for _, e in first_seen.values() if "device" in e)

    descents = 0
    for path in event_files(dirty_world):
        with gzip.open(path, "rt") as handle:
            times = [e["event_time"] for e in map(parse, handle) if e is not None]
        descents += sum(b < a for a, b in itertools.pairwise(times))
    assert defects["out_of_order_events"] > 0
    assert within(defects["out_of_order_events"] / len(lines), DIRTY_RATES.out_of_order_rate)
    assert descents >= defects["out_of_order_events"] / 2

    column_change = START + dt.timedelta(days=DIRTY_RATES.ads_column_change_after_days)
    reordered = 0
    for path in sorted((dirty_world / "ads").glob("*.csv")):
        header = path.read_text(encoding="utf-8-sig").splitlines()[0]
        is_new = header == "date;campaign_id;campaign_name;channel;spend;clicks;impressions"
        assert is_new == (path.stem[-10:] >= str(column_change))
        reordered += is_new
    assert reordered == defects["ads_reordered_drops"] > 0


def test_defects_never_lose_a_real_event(tmp_path: Path, dirty_world: Path) -> None:
    generate(tmp_path, seed=7, scale=0.15, start=START, days=5, clean=True)
    clean_ids = set(unique_events(tmp_path))
    dirty_human_ids = {
        event_id
        for session in sessionize(list(unique_events(dirty_world).values()))
        if not looks_like_bot(session)
        for event_id in (e["event_id"] for e in session)
    }
    assert clean_ids == dirty_human_ids


def test_the_manifest_leaves_out_what_a_killed_write_left_behind(tmp_path: Path) -> None:
    """The ground truth and the manifest are replaced whole (``write_atomic``); a temporary file a killed
    write left is not a source file, so the manifest does not list it, while any other file is listed."""
    from lifecycle.generate.ground_truth import write_manifest

    generate(tmp_path, seed=3, scale=0.05, start=START, days=1)
    listed = manifest(tmp_path)
    assert "ground_truth.json" in listed
    (tmp_path / ".ground_truth.json.0123abcd.tmp").write_text("{")
    (tmp_path / "notes.tmp").write_text("a file of the sources like any other")
    write_manifest(tmp_path)
    assert set(manifest(tmp_path)) == {*listed, "notes.tmp"}
    assert not list(tmp_path.glob(".manifest.json.*"))
