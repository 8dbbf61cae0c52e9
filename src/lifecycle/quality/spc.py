"""Statistical process control as SQL: is the newest complete day's value inside mean ± k·σ of the days
before it? Used by suites as the ``unexpected_rows_query`` of a GE ``UnexpectedRowsExpectation``, so it is
computed in DuckDB over a bounded window (the cost does not grow with history).
"""

from __future__ import annotations

import datetime


def daily_control_query(
    *,
    day: str,
    value: str,
    checked_day: datetime.date,
    history_days: int = 14,
    min_history: int = 7,
    sigma: float = 3.0,
    relative_floor: float = 0.05,
) -> str:
    """SQL returning one row (the checked day, its value and the limits) when the day is out of control.

    ``day`` is a SQL expression for a row's calendar day and ``value`` an aggregate over a day's rows (e.g.
    ``count(*)``); both are evaluated on ``{batch}``. A day with no rows counts as 0. With fewer than
    ``min_history`` earlier days nothing is judged. σ is at least ``relative_floor`` × the mean, so a very
    steady history does not turn ordinary noise into an alarm.
    """
    first = checked_day - datetime.timedelta(days=history_days)
    return f"""
        with daily as (
            select cast({day} as date) as day, {value} as value
            from {{batch}}
            where cast({day} as date) between date '{first}' and date '{checked_day}'
            group by cast({day} as date)
        ),
        history as (
            select avg(value) as mean, stddev_samp(value) as sd, count(*) as days
            from daily
            where day < date '{checked_day}'
        ),
        checked as (
            select coalesce((select value from daily where day = date '{checked_day}'), 0) as observed
        ),
        limits as (
            select
                mean,
                mean - {sigma} * greatest(coalesce(sd, 0), {relative_floor} * abs(mean)) as lower_limit,
                mean + {sigma} * greatest(coalesce(sd, 0), {relative_floor} * abs(mean)) as upper_limit,
                days
            from history
        )
        select
            date '{checked_day}' as checked_day,
            checked.observed,
            limits.mean,
            limits.lower_limit,
            limits.upper_limit
        from limits
        cross join checked
        where limits.days >= {min_history}
            and (checked.observed < limits.lower_limit or checked.observed > limits.upper_limit)
    """
