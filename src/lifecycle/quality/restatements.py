"""History rewrites are changes, not data: a new build that moves an already published, settled figure by
more than a threshold is held back until an operator accepts it.

Compared, per day, between the current publication and the warehouse about to be published:

- ad spend per campaign, for days the ad platform no longer restates (older than the longest restatement
  lag its drops have shown: a figure the partner itself called final);
- orders placed and their gross revenue, over every order (cancelled ones included, so a status change
  moves nothing), for days older than two days: an order cannot be placed retroactively and its amounts do
  not change, so a move there is a rewrite of history (a CDC replay, a bulk update), not late data.

A move blocks when it exceeds ``RELATIVE_CHANGE`` of the published figure or turns a non-zero figure into
zero, and is larger than ``MINIMUM_CHANGE`` (rounding). ``lifecycle run --accept-restatement DATE``
records an operator's decision to publish the new figures of that day.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from lifecycle.config import Settings
from lifecycle.storage import connect, one_row, quote_literal, write_atomic

#: A settled figure that moves by more than this share of itself needs an operator's decision (finance
#: closes a day on its figures; a fifth of a day's spend or revenue changes any report built on it).
RELATIVE_CHANGE = 0.20
#: Moves at or below this many currency units or orders are rounding, never a restatement.
MINIMUM_CHANGE = 1.0
#: Orders and their amounts are final once the change log has delivered the day (its SLA is 26 h).
ORDERS_SETTLE_DAYS = 2


@dataclass(frozen=True)
class Restatement:
    figure: str
    day: dt.date
    key: str
    published: float
    rebuilt: float

    def describe(self) -> str:
        return f"{self.figure} of {self.day}{self.key}: {self.published:,.2f} → {self.rebuilt:,.2f}"


def find_restatements(settings: Settings) -> list[Restatement]:
    """Settled figures the warehouse would change in the current publication beyond the thresholds."""
    if not settings.analytics_path.exists():
        return []
    with connect(settings=settings) as con:
        con.execute(f"attach {quote_literal(settings.analytics_path)} as published (read_only)")
        con.execute(f"attach {quote_literal(settings.warehouse_path)} as warehouse (read_only)")
        published_as_of = _published_as_of(con)
        if published_as_of is None:
            return []
        found = _orders(con, published_as_of - dt.timedelta(days=ORDERS_SETTLE_DAYS))
        horizon = _ad_restatement_days(con)
        if horizon is not None:
            # A day `horizon` days before the published as-of gets its final report in that day's drop,
            # which may land after the as-of: only the days before it were final when published.
            found += _ad_spend(con, published_as_of - dt.timedelta(days=horizon))
    return found


def _published_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    columns = {r[0] for r in con.execute("describe published.main._publication").fetchall()}
    if "as_of" not in columns:
        return None
    (value,) = one_row(con, "select max(as_of) from published.main._publication")
    return value.date() if value else None


def _ad_restatement_days(con: duckdb.DuckDBPyConnection) -> int | None:
    """How many days the ad platform keeps restating a day: the most reports (drops) any (day, campaign)
    has had, less the first (drops are daily). None before any drop has landed."""
    row = con.execute(
        "select max(reports) - 1 from ("
        " select count(distinct _source_file) as reports from warehouse.raw.ads_spend"
        " group by date, campaign_id)"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _orders(con: duckdb.DuckDBPyConnection, settled_before: dt.date) -> list[Restatement]:
    rows = con.execute(
        f"""
        with published as (
            select placed_date, count(*) as orders, sum(gross_revenue) as gross_revenue
            from published.main.fct_orders
            where placed_date < {quote_literal(settled_before.isoformat())}
            group by placed_date
        ),
        rebuilt as (
            select placed_date, count(*) as orders, sum(gross_revenue) as gross_revenue
            from warehouse.marts.fct_orders
            where placed_date < {quote_literal(settled_before.isoformat())}
            group by placed_date
        )
        select
            published.placed_date,
            published.orders, coalesce(rebuilt.orders, 0),
            published.gross_revenue, coalesce(rebuilt.gross_revenue, 0)
        from published
        left join rebuilt on published.placed_date = rebuilt.placed_date
        """
    ).fetchall()
    found = []
    for day, orders_before, orders_after, gross_before, gross_after in rows:
        for figure, before, after in (
            ("orders placed", orders_before, orders_after),
            ("gross revenue", gross_before, gross_after),
        ):
            if _moved(float(before), float(after)):
                found.append(Restatement(figure, day, "", float(before), float(after)))
    return found


def _ad_spend(con: duckdb.DuckDBPyConnection, final_before: dt.date) -> list[Restatement]:
    rows = con.execute(
        f"""
        with published as (
            select date_day, campaign_id, sum(spend) as spend
            from published.main.fct_marketing_daily
            where date_day < {quote_literal(final_before.isoformat())}
            group by date_day, campaign_id
        ),
        rebuilt as (
            select date_day, campaign_id, sum(spend) as spend
            from warehouse.marts.fct_marketing_daily
            group by date_day, campaign_id
        )
        select published.date_day, published.campaign_id, published.spend, coalesce(rebuilt.spend, 0)
        from published
        left join rebuilt
            on published.date_day = rebuilt.date_day and published.campaign_id = rebuilt.campaign_id
        """
    ).fetchall()
    return [
        Restatement("ad spend", day, f" ({campaign})", float(before), float(after))
        for day, campaign, before, after in rows
        if _moved(float(before or 0), float(after or 0))
    ]


def _moved(before: float, after: float) -> bool:
    change = abs(after - before)
    if change <= MINIMUM_CHANGE:
        return False
    return (before != 0 and after == 0) or change > RELATIVE_CHANGE * abs(before)


def accepted_days(settings: Settings) -> dict[str, dict[str, str]]:
    """Days an operator accepted restatements of: ISO day → {accepted_at, by}."""
    path = settings.state_dir / "accepted_restatements.json"
    return json.loads(path.read_text()) if path.exists() else {}


def accept(settings: Settings, days: Iterable[dt.date]) -> dict[str, dict[str, str]]:
    """Record an operator's acceptance of the restatements of ``days`` (kept with the publication)."""
    accepted = accepted_days(settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    for day in days:
        accepted[day.isoformat()] = {"accepted_at": now, "by": getpass.getuser()}
    write_atomic(
        settings.state_dir / "accepted_restatements.json", json.dumps(accepted, indent=2, sort_keys=True)
    )
    return accepted
