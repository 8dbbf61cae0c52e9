"""Daily control limits on tiny tables: the classic limits, and the weekly ones for volumes with a weekday
rhythm."""

from __future__ import annotations

import datetime as dt

import duckdb

from lifecycle.quality.spc import daily_control_query

#: A shop's weekly rhythm, Monday first: quiet on Sunday, busy on Friday and Saturday.
RHYTHM = (1.0, 1.0, 1.0, 1.0, 1.2, 1.6, 0.5)
CHECKED = dt.date(2026, 3, 7)  # a Saturday


def volumes(checked_value: float, *, days: int = 28, checked: dt.date = CHECKED) -> duckdb.DuckDBPyConnection:
    """``days`` days of orders following RHYTHM around 100 a day (±3 % of deterministic noise), then
    ``checked_value`` on ``checked``."""
    con = duckdb.connect()
    con.execute("create table daily_orders (day date, orders double)")
    history = []
    for back in range(1, days + 1):
        day = checked - dt.timedelta(days=back)
        noise = ((back * 37) % 7 - 3) / 100
        history.append((day, 100 * RHYTHM[day.weekday()] * (1 + noise)))
    con.executemany("insert into daily_orders values (?, ?)", [*history, (checked, checked_value)])
    return con


def out_of_control(
    con: duckdb.DuckDBPyConnection, *, weekly: bool, checked: dt.date = CHECKED
) -> list[tuple[object, ...]]:
    query = daily_control_query(day="day", value="sum(orders)", checked_day=checked, weekly=weekly)
    return con.execute(query.replace("{batch}", "daily_orders")).fetchall()


def test_an_ordinary_busy_day_is_in_control():
    assert out_of_control(volumes(160), weekly=True) == []
    assert out_of_control(volumes(160), weekly=False) == []


def test_a_short_busy_day_is_caught_only_against_its_own_weekday():
    # 100 orders on a Saturday (a third of the day missing) is an ordinary Monday: the plain limits, whose σ
    # holds the weekly swing, let it through; the weekly limits compare it with the Saturdays.
    assert out_of_control(volumes(100), weekly=False) == []
    (row,) = out_of_control(volumes(100), weekly=True)
    assert row[0] == CHECKED
    assert row[1] == 100
    assert row[3] > 100  # the lower limit, on the Saturday's scale


def test_a_quiet_day_is_not_an_alarm_on_its_quiet_weekday():
    sunday = CHECKED + dt.timedelta(days=1)
    assert out_of_control(volumes(50, checked=sunday), weekly=True, checked=sunday) == []
    # ... but the same Sunday with a Saturday's orders is.
    assert out_of_control(volumes(160, checked=sunday), weekly=True, checked=sunday) != []


def test_a_short_history_keeps_the_plain_limits():
    # Fewer than four of each weekday: no index is estimated, so the weekly query behaves as the plain one.
    short = volumes(100, days=20)
    assert out_of_control(short, weekly=True) == out_of_control(short, weekly=False)
