"""Distribution control limits on new rows against their daily history (tiny tables, no pipeline)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from lifecycle.quality.distribution import distribution_query

SINCE = dt.datetime(2026, 3, 1, 0, 0)


def table(new_values: list[float | None], *, per_day: int = 60, days: int = 21) -> duckdb.DuckDBPyConnection:
    """``days`` days of history (quantities 1..4, about 1 % zeros), then ``new_values`` after SINCE."""
    con = duckdb.connect()
    con.execute("create table items (placed_at timestamp, quantity double, converted boolean)")
    con.execute(
        """
        insert into items
        select
            timestamp '2026-03-01' - interval (d + 1) day + interval (i * 20) minute,
            case when (d * 7 + i) % 97 = 0 then 0 else 1 + (d * 7 + i) % 4 end,
            (d + i) % 10 = 0
        from range(?) as days(d), range(?) as rows_of_day(i)
        """,
        [days, per_day],
    )
    con.executemany(
        "insert into items values (timestamp '2026-03-01 08:00' + interval (? * 10) second, ?, ? % 10 = 0)",
        [[i, value, i] for i, value in enumerate(new_values)],
    )
    return con


def out_of_control(con: duckdb.DuckDBPyConnection, value: str = "quantity", rate: bool = False) -> dict:
    query = distribution_query(time_column="placed_at", value=value, since=SINCE, rate=rate)
    return {row[0]: row[1] for row in con.execute(query.replace("{batch}", "items")).fetchall()}


def clean(n: int) -> list[float | None]:
    return [1 + i % 4 for i in range(n)]


def test_new_rows_like_the_history_are_in_control():
    assert out_of_control(table(clean(60))) == {}
    assert out_of_control(table(clean(25))) == {}  # a partial day: fewer rows, wider limits


@pytest.mark.parametrize(
    ("new", "statistic"),
    [
        ([v * 20 for v in clean(60)], "median"),
        ([*clean(50), *[400.0] * 10], "p95"),
        ([*clean(45), *[0.0] * 15], "share of zeros"),
        ([*clean(50), *[None] * 10], "share of nulls"),
        ([*clean(55), *[-1.0] * 5], "share of negatives"),
    ],
    ids=["scaled", "outliers", "zeros", "nulls", "negatives"],
)
def test_a_shifted_distribution_is_out_of_control(new: list[float | None], statistic: str):
    assert statistic in out_of_control(table(new))


def test_one_unusual_row_is_not_an_alarm():
    assert out_of_control(table([*clean(59), -1.0])) == {}


def test_too_few_rows_or_days_are_not_judged():
    assert out_of_control(table([v * 20 for v in clean(10)])) == {}
    assert out_of_control(table([v * 20 for v in clean(60)], days=5)) == {}


def test_a_rate_is_judged_in_both_directions():
    con = table(clean(200))
    assert out_of_control(con, "converted", rate=True) == {}
    con.execute("update items set converted = true where placed_at > timestamp '2026-03-01'")
    assert "rate" in out_of_control(con, "converted", rate=True)
    con.execute("update items set converted = false where placed_at > timestamp '2026-03-01'")
    assert "rate" in out_of_control(con, "converted", rate=True)


def clumped(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make ``converted`` come in clumps in the history: a fifth of the rows on every other day, none on the
    others (the same tenth overall as before, but days vary far more than independent rows would)."""
    con.execute(
        """
        update items set converted = (
            datediff('day', placed_at, timestamp '2026-03-01') % 2 = 0
            and cast(epoch(placed_at) as bigint) // 1200 % 5 = 0
        )
        where placed_at <= timestamp '2026-03-01'
        """
    )
    return con


A_THIRD_OF_NEW_ROWS_CONVERT = """
    update items set converted = cast(epoch(placed_at) as bigint) // 10 % 3 = 0
    where placed_at > timestamp '2026-03-01'
"""


def test_overdispersed_history_widens_a_rate_limit():
    # A third of the new rows converted: far beyond a tenth of independent rows, but an ordinary clump
    # for a history where whole days convert at once.
    new = clean(60)
    independent = table(new)
    independent.execute(A_THIRD_OF_NEW_ROWS_CONVERT)
    assert "rate" in out_of_control(independent, "converted", rate=True)
    clumpy = clumped(table(new))
    clumpy.execute(A_THIRD_OF_NEW_ROWS_CONVERT)
    assert out_of_control(clumpy, "converted", rate=True) == {}
    # ... yet every new row converted is out of control even there.
    clumpy.execute("update items set converted = true where placed_at > timestamp '2026-03-01'")
    assert "rate" in out_of_control(clumpy, "converted", rate=True)


def ratio_out_of_control(con: duckdb.DuckDBPyConnection) -> dict:
    query = distribution_query(
        time_column="placed_at", value="quantity * 0.4", denominator="quantity", since=SINCE
    )
    return {row[0]: row[1] for row in con.execute(query.replace("{batch}", "items")).fetchall()}


def test_a_ratio_of_sums_is_judged_in_both_directions():
    assert ratio_out_of_control(table(clean(60))) == {}
    assert ratio_out_of_control(table(clean(3))) == {}  # a few rows: same ratio, still in control
    con = table(clean(60))
    con.execute("update items set quantity = quantity * 100 where placed_at > timestamp '2026-03-01'")
    assert ratio_out_of_control(con) == {}  # both sums scale: the ratio holds
    for new_ratio in (4.0, 0.04):  # ten times the history's 0.4, and a tenth of it
        query = distribution_query(
            time_column="placed_at",
            value=f"quantity * case when placed_at > timestamp '2026-03-01' then {new_ratio} else 0.4 end",
            denominator="quantity",
            since=SINCE,
        )
        rows = con.execute(query.replace("{batch}", "items")).fetchall()
        assert [(statistic, round(observed, 6)) for statistic, observed, *_ in rows] == [("ratio", new_ratio)]
