"""Statistical process control as SQL: is the newest complete day's value inside mean ± k·σ of the days
before it? Used by suites as the ``unexpected_rows_query`` of a GE ``UnexpectedRowsExpectation``, so it is
computed in DuckDB over a bounded window (the cost does not grow with history).
"""

from __future__ import annotations

import datetime
import math
from functools import lru_cache
from statistics import NormalDist

#: Days of history a weekly volume is judged on: four of each weekday.
WEEKLY_HISTORY_DAYS = 28


def daily_control_query(
    *,
    day: str,
    value: str,
    checked_day: datetime.date,
    history_days: int = 14,
    min_history: int = 7,
    sigma: float = 3.0,
    relative_floor: float = 0.05,
    prediction: bool = False,
    weekly: bool = False,
) -> str:
    """SQL returning one row (the checked day, its value and the limits) when the day is out of control.

    ``day`` is a SQL expression for a row's calendar day and ``value`` an aggregate over a day's rows (e.g.
    ``count(*)``); both are evaluated on ``{batch}``. A day with no rows counts as 0. With fewer than
    ``min_history`` earlier days nothing is judged. σ is at least ``relative_floor`` × the mean, so a very
    steady history does not turn ordinary noise into an alarm.

    With ``prediction``, the limits are a prediction interval for one new day rather than ±``sigma``·σ:
    σ is estimated from only ``history_days`` days, so the same false-alarm rate as ±``sigma``·σ of a known
    σ needs the Student-t quantile with (days − 1) degrees of freedom, times √(1 + 1/days). Statistics of a
    day's sample (a median, a 95th percentile) are noisy and heavy-tailed, and keep their intended rate of
    false alarms only this way; volumes use the classic limits, which react sooner.

    With ``weekly``, a volume with a weekly rhythm (a shop sells more at weekends) is judged against its own
    weekday once ``WEEKLY_HISTORY_DAYS`` days of history exist (four of each weekday): each day is divided by
    its weekday's index (the weekday's mean over the overall mean), σ is the spread of those adjusted days
    with 7 degrees of freedom fewer (one per estimated index), and the limits are multiplied back by the
    checked weekday's index. Since σ and the checked weekday's level are both estimated, the limits are the
    prediction interval of the same tail as ±``sigma``·σ: Student's t with (days − 7) degrees of freedom,
    times √(1 + 1/4). Without it, the weekly swing counts as noise: σ grows and a short Saturday hides
    behind an ordinary Monday. With a shorter history the plain limits apply: fewer values per weekday
    than four make an index that chases noise (two Sundays of a small shop do not tell its Sunday).
    """
    if weekly:
        history_days = max(history_days, WEEKLY_HISTORY_DAYS)
    first = checked_day - datetime.timedelta(days=history_days)
    if prediction:
        tail = NormalDist().cdf(sigma)
        factor = (
            "case days "
            + " ".join(
                f"when {n} then {student_t_quantile(tail, n - 1) * math.sqrt(1 + 1 / n):.6f}"
                for n in range(max(min_history, 2), history_days + 1)
            )
            + " end"
        )
    else:
        factor = str(sigma)
    if weekly:
        indexed = f"(select days from overall) >= {WEEKLY_HISTORY_DAYS}"
        tail = NormalDist().cdf(sigma)
        weekly_factor = student_t_quantile(tail, WEEKLY_HISTORY_DAYS - 7) * math.sqrt(
            1 + 7 / WEEKLY_HISTORY_DAYS
        )
        index = f"""
        overall as (
            select avg(value) as mean, count(*) as days from daily where day < date '{checked_day}'
        ),
        weekday_index as (
            select
                dayofweek(day) as weekday,
                case when {indexed} and (select mean from overall) > 0
                    then avg(value) / (select mean from overall) end as factor
            from daily
            where day < date '{checked_day}'
            group by dayofweek(day)
        ),
        adjusted as (
            select daily.day, daily.value / coalesce(nullif(weekday_index.factor, 0), 1) as value
            from daily
            left join weekday_index on dayofweek(daily.day) = weekday_index.weekday
        ),
        adjusted_history as (select value from adjusted where day < date '{checked_day}'),
        history as (
            select
                avg(value) as mean,
                case when {indexed} then sqrt(
                    sum(power(value - (select avg(value) from adjusted_history), 2)) / (count(*) - 7)
                ) else stddev_samp(value) end as sd,
                count(*) as days
            from adjusted_history
        ),
        checked_factor as (
            select coalesce(
                (
                    select nullif(factor, 0) from weekday_index
                    where weekday = dayofweek(date '{checked_day}')
                ),
                1
            ) as factor
        ),"""
        scale = "(select factor from checked_factor)"
        factor = f"(case when {indexed} then {weekly_factor:.6f} else {factor} end)"
    else:
        index = f"""
        history as (
            select avg(value) as mean, stddev_samp(value) as sd, count(*) as days
            from daily
            where day < date '{checked_day}'
        ),"""
        scale = "1"
    return f"""
        with daily as (
            select cast({day} as date) as day, {value} as value
            from {{batch}}
            where cast({day} as date) between date '{first}' and date '{checked_day}'
            group by cast({day} as date)
        ),{index}
        checked as (
            select coalesce((select value from daily where day = date '{checked_day}'), 0) as observed
        ),
        limits as (
            select
                mean * {scale} as mean,
                (mean - ({factor}) * greatest(coalesce(sd, 0), {relative_floor} * abs(mean))) * {scale}
                    as lower_limit,
                (mean + ({factor}) * greatest(coalesce(sd, 0), {relative_floor} * abs(mean))) * {scale}
                    as upper_limit,
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


@lru_cache
def student_t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """The ``probability`` quantile (above one half) of Student's t distribution, by Newton's method on its
    distribution function (Simpson's rule over the density): the standard library has no t distribution."""
    nu = degrees_of_freedom
    scale = math.exp(math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)) / math.sqrt(nu * math.pi)

    def density(x: float) -> float:
        return float(scale * (1 + x * x / nu) ** (-(nu + 1) / 2))

    def distribution(x: float, steps: int = 2000) -> float:
        width = x / steps
        inner = sum((4 if i % 2 else 2) * density(i * width) for i in range(1, steps))
        return 0.5 + width / 3 * (density(0.0) + inner + density(x))

    x = NormalDist().inv_cdf(probability)
    for _ in range(50):
        step = (distribution(x) - probability) / density(x)
        x -= step
        if abs(step) < 1e-10:
            break
    return x
