"""Distribution control: does the new data's distribution of a measure look like its recent history?

For the rows after the audit window's start (``quality.window``: everything since the current publication,
a partial day included), the median, the 95th percentile and the shares of zeros, nulls and negatives of a
numeric measure — or the share of a yes/no rate — are compared with the same statistics of each of the
previous days. Limits come from that history, never from what a defect looks like:

- median and p95: a prediction interval for one more day from the daily values of the history (Student's
  t with their count − 1 degrees of freedom, × √(1 + 1/n)), σ at least 5 % of the mean (a very steady
  history does not turn noise into alarms), widened by √(rows of an average day ÷ rows judged) when fewer
  rows are judged than a day holds (the standard error of a quantile grows as 1/√n);
- shares (zeros, nulls, negatives) and rates: how likely the new rows' count of cases is under the
  history's pooled share — out of control when that many or more (for a rate: or that few) would occur
  with a probability below ``SIGNIFICANCE``. The binomial tail is
  computed exactly, not by a p-chart's normal approximation, which raises false alarms on small shares and
  small samples; a share never seen is taken as 3 cases in the history (the "rule of three", the 95 %
  upper bound of a share never seen), so one unusual row is not an alarm but a run of them is. Cases that
  come in clumps (a bot visits many times, a lost file takes many events) vary more from day to day than
  independent ones: the history's days measure that overdispersion (Pearson's χ² over its degrees of
  freedom, at least 1), and the tail is taken over the effective sample (cases and rows divided by it), as
  quasi-binomial models do;
- ratios of two sums (cost per click, refunds per revenue): the new rows' ratio against a prediction
  interval from the daily ratios, as for a median, widened by √(denominator of an average day ÷ the new
  rows' denominator).

Nothing is judged with fewer than ``min_history_days`` days of history or fewer than ``min_rows`` new rows
(a ratio: one new row with a denominator).
Every limit is set so that a clean run raises any false alarm among all the statistics it judges about
as rarely as one three-sigma check (``SIGNIFICANCE``). The query runs in DuckDB (a GE
``UnexpectedRowsExpectation`` over ``{batch}``) and reads a bounded window, so its cost does not grow with
history.
"""

from __future__ import annotations

import datetime as dt
import math

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

from lifecycle.quality.spc import student_t_quantile
from lifecycle.quality.suites import Severity, SuiteContext, meta, runbook

#: How many distribution statistics a run judges, about (7 measures × 5 statistics, 4 rates and ratios):
#: the false-alarm rate of each is divided by it (Bonferroni), so a clean run raises any false alarm only as
#: often as a single three-sigma check would, 0.135 % of runs.
STATISTICS_PER_RUN = 40
#: A tail probability below this puts a statistic out of control.
SIGNIFICANCE = 0.00135 / STATISTICS_PER_RUN

#: The statistics of a numeric measure: name → (SQL over ``v``, kind). For a level, an aggregate; for a
#: share, the condition that makes a row a case.
NUMERIC_STATISTICS: dict[str, tuple[str, str]] = {
    # Discrete quantiles: a measure of whole units (quantities) keeps medians among its values.
    "median": ("quantile_disc(v, 0.5)", "level"),
    "p95": ("quantile_disc(v, 0.95)", "level"),
    "share of zeros": ("v = 0", "share"),
    "share of nulls": ("v is null", "share"),
    "share of negatives": ("v < 0", "share"),
}
RATE_STATISTICS: dict[str, tuple[str, str]] = {"rate": ("v", "rate")}
RATIO_STATISTICS: dict[str, tuple[str, str]] = {"ratio": ("sum(v) / nullif(sum(w), 0)", "ratio")}


def binomial_tail_sql(cases: str, trials: str, share: str, *, upper: bool) -> str:
    """SQL for P(X ≥ cases) (``upper``) or P(X ≤ cases), X ~ Binomial(trials, share), summed exactly in
    log space (the same sum as the dbt macro ``binomial_upper_tail``). Fractional cases and trials (an
    effective sample) are allowed: the sum runs over whole k up to ⌊cases⌋."""
    pmf = (
        f"exp(lgamma({trials} + 1) - lgamma(k + 1) - lgamma({trials} - k + 1)"
        f" + k * ln({share}) + ({trials} - k) * ln(1 - {share}))"
    )
    if upper:
        below = f"(select unnest(range(0, cast(floor({cases}) as bigint))) as k)"
        return f"greatest(0.0, 1.0 - coalesce((select sum({pmf}) from {below} as below), 0.0))"
    upto = f"(select unnest(range(0, cast(floor({cases}) as bigint) + 1)) as k)"
    return f"least(1.0, coalesce((select sum({pmf}) from {upto} as upto), 0.0))"


def distribution_query(
    *,
    time_column: str,
    value: str,
    since: dt.datetime,
    rate: bool = False,
    denominator: str | None = None,
    rows: str = "{batch}",
    excluded_days: frozenset[dt.date] = frozenset(),
    history_days: int = 28,
    min_history_days: int = 7,
    min_rows: int = 20,
    relative_floor: float = 0.05,
) -> str:
    """SQL returning one row per statistic of ``value`` whose new rows are out of their control limits.

    ``value`` is a SQL expression over a row of ``{batch}``: a number, or with ``rate=True`` a boolean whose
    share is judged two-sided (a conversion rate that falls is as wrong as one that jumps); with a
    ``denominator``, ``value`` is a numerator and the ratio of their sums is judged two-sided. ``rows`` is
    the relation the columns come from (the checked table, or a query combining it with others). New rows
    of ``excluded_days`` (days an operator accepted as they are) are not judged.
    """
    if denominator is not None:
        statistics = RATIO_STATISTICS
    else:
        statistics = RATE_STATISTICS if rate else NUMERIC_STATISTICS
    first = since.date() - dt.timedelta(days=history_days)
    # A ratio's rows are few and large (a campaign-day): any day with a denominator counts.
    day_rows = 1 if denominator is not None else min_rows
    selects = []
    for name, (expression, kind) in statistics.items():
        if kind in ("level", "ratio"):
            daily = f"select {expression} as x from history_rows group by day having count(*) >= {day_rows}"
            selects.append(
                f"""
                select '{name}' as statistic, '{kind}' as kind,
                    (select {expression} from new_rows) as observed,
                    (select avg(x) from ({daily})) as daily_mean,
                    (select stddev_samp(x) from ({daily})) as daily_sd,
                    null::double as cases, null::double as expected_share, 1.0 as dispersion
                """
            )
        else:
            case = f"case when {expression} then 1 else 0 end"
            share = (
                f"least(0.999, greatest((select avg({case}) from history_rows),"
                " 3.0 / (select count(*) from history_rows)))"
            )
            by_day = (
                f"select sum({case}) as c, count(*) as n from history_rows"
                f" group by day having count(*) >= {min_rows}"
            )
            pearson = f"sum(power(c - n * {share}, 2) / (n * {share} * (1 - {share})))"
            selects.append(
                f"""
                select '{name}' as statistic, '{kind}' as kind,
                    (select avg({case}) from new_rows) as observed,
                    null::double as daily_mean, null::double as daily_sd,
                    (select sum({case}) from new_rows) as cases,
                    {share} as expected_share,
                    (select greatest(1.0, coalesce({pearson} / nullif(count(*) - 1, 0), 1.0)) from ({by_day}))
                        as dispersion
                """
            )
    since_literal = f"timestamp '{since.isoformat(sep=' ')}'"
    excluded = (
        " and cast(t as date) not in (" + ", ".join(f"date '{day}'" for day in sorted(excluded_days)) + ")"
        if excluded_days
        else ""
    )
    # A prediction interval for one new value from n daily values of unknown mean and σ: Student's t with
    # n − 1 degrees of freedom, times √(1 + 1/n); narrower than ±3σ would alarm on every few runs.
    multiplier = " ".join(
        f"when {n} then {student_t_quantile(1 - SIGNIFICANCE, n - 1) * math.sqrt(1 + 1 / n):.4f}"
        for n in range(max(2, min_history_days), history_days + 1)
    )
    spread = (
        f"(case sizes.history_days {multiplier} end)"
        f" * greatest(coalesce(daily_sd, 0), {relative_floor} * abs(daily_mean))"
    )
    # Rows judged against rows in an average day (for a ratio: its denominator's sums).
    widen = "sqrt(greatest(1.0, size_per_day / new_size))"
    # The binomial tails over the effective sample: cases and rows divided by the overdispersion.
    upper_tail = binomial_tail_sql(
        "cases / dispersion", "new_count / dispersion", "expected_share", upper=True
    )
    lower_tail = binomial_tail_sql(
        "cases / dispersion", "new_count / dispersion", "expected_share", upper=False
    )
    size = "sum(w)" if denominator is not None else "count(*)"
    min_new = 1 if denominator is not None else min_rows
    return f"""
        with rows_in_window as (
            select cast({time_column} as timestamp) as t, {value} as v, {denominator or "null"} as w
            from {rows}
            where cast({time_column} as timestamp) > {since_literal} - interval {history_days} day
        ),
        new_rows as (select v, w from rows_in_window where t > {since_literal}{excluded}),
        history_rows as (
            select cast(t as date) as day, v, w from rows_in_window
            where t <= {since_literal} and cast(t as date) >= date '{first}'
        ),
        history_days as (
            select day, {size} as size from history_rows group by day having count(*) >= {day_rows}
        ),
        sizes as (
            select
                (select count(*) from new_rows) as new_count,
                (select {size} from new_rows) as new_size,
                (select count(*) from history_days where size > 0) as history_days,
                (select avg(size) from history_days where size > 0) as size_per_day
        ),
        statistics as ({" union all ".join(selects)}),
        judged as (
            select
                statistics.*,
                sizes.new_count,
                case when kind in ('level', 'ratio') then daily_mean - {spread} * {widen} end as lower_limit,
                case when kind in ('level', 'ratio') then daily_mean + {spread} * {widen} end as upper_limit,
                case when kind in ('share', 'rate') then {upper_tail} end as upper_tail,
                case when kind = 'rate' then {lower_tail} end as lower_tail
            from statistics
            cross join sizes
            where sizes.new_count >= {min_new}
                and sizes.new_size > 0
                and sizes.history_days >= {min_history_days}
        )
        select
            statistic, observed, lower_limit, upper_limit, expected_share, upper_tail, lower_tail, new_count
        from judged
        where observed < lower_limit or observed > upper_limit
            or upper_tail < {SIGNIFICANCE} or lower_tail < {SIGNIFICANCE}
    """


def distribution_expectation(
    ctx: SuiteContext,
    *,
    time_column: str,
    value: str,
    measure: str,
    rate: bool = False,
    denominator: str | None = None,
    rows: str = "{batch}",
    severity: Severity = "critical",
) -> UnexpectedRowsExpectation:
    """A GE expectation judging the distribution, rate or ratio (see :func:`distribution_query`) of
    ``value`` in the new data of ``ctx``'s table."""
    if denominator is not None:
        what = "ratio"
    else:
        what = "rate" if rate else "distribution (median, p95, shares of zeros, nulls and negatives)"
    return UnexpectedRowsExpectation(
        description=f"{measure}: the new data's {what} is within its control limits",
        unexpected_rows_query=distribution_query(
            time_column=time_column,
            value=value,
            since=ctx.new_data_since,
            rate=rate,
            denominator=denominator,
            rows=rows,
            excluded_days=ctx.accepted_days,
        ),
        meta=meta(
            rule=f"The {measure} of the data since the last publication looks like the 28 days before it "
            "(limits from that history: module lifecycle.quality.distribution)",
            dimension="accuracy",
            severity=severity,
            runbook=runbook(
                means=f"the {measure} of the new data moved far outside its recent range: a unit or "
                "scale change in a source, a bug in the shop, or a real shift in the business.",
                look="the failing statistic, its limits and the new rows of the table (after the last "
                "publication's as-of), against the same statistic on the docs site's quality page.",
                fix="correct the source and rerun; if the business really changed, accept the day's "
                "figures as they are (`lifecycle run --accept-restatement DAY`, recorded with the "
                "publication): once published they become the history later days are judged against.",
            ),
        ),
    )
