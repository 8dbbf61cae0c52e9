"""Checks on marts.dim_date: the calendar every ``_date`` column joins to, one row per day up to as-of.

A wrong attribute moves every weekly, monthly or weekend figure, and a missing day drops its rows from
every join, so all of it blocks.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta, runbook

CALENDAR = runbook(
    means="the calendar is wrong or has holes, so joins on date_day lose rows or group days into the "
    "wrong week, month or weekend.",
    look="the failing days in dim_date and macros date_spine and day_of_week.",
    fix="fix the macro or model and rebuild; the calendar has no inputs to correct.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Each day's year, quarter, month, day, ISO weekday, weekend flag and "
                    "week/month/quarter/year start agree with date_day",
                    unexpected_rows_query="""
                        select *
                        from {batch}
                        where year_number is distinct from year(date_day)
                            or quarter_number is distinct from quarter(date_day)
                            or month_number is distinct from month(date_day)
                            or day_of_month is distinct from day(date_day)
                            or day_of_week is distinct from isodow(date_day)
                            or is_weekend is distinct from (isodow(date_day) in (6, 7))
                            or week_start_date is distinct from cast(date_trunc('week', date_day) as date)
                            or month_start_date is distinct from cast(date_trunc('month', date_day) as date)
                            or quarter_start_date
                                is distinct from cast(date_trunc('quarter', date_day) as date)
                            or year_start_date is distinct from cast(date_trunc('year', date_day) as date)
                    """,
                    meta=meta(
                        rule="Calendar attributes follow the day (ISO weeks start on Monday; Saturday "
                        "and Sunday are the weekend)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=CALENDAR,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="No day is missing between the first and the last date_day",
                    unexpected_rows_query="""
                        select min(date_day) as first_day, max(date_day) as last_day, count(*) as days
                        from {batch}
                        having count(*) != max(date_day) - min(date_day) + 1
                    """,
                    meta=meta(
                        rule="The calendar has every day from its first to its last",
                        dimension="completeness",
                        severity="critical",
                        runbook=CALENDAR,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Every placed_date of fct_orders is a day of the calendar",
                    unexpected_rows_query="""
                        select distinct orders.placed_date
                        from marts.fct_orders as orders
                        left join {batch} as calendar
                            on orders.placed_date = calendar.date_day
                        where calendar.date_day is null
                    """,
                    meta=meta(
                        rule="The calendar starts at the first order or session, so every order joins it",
                        dimension="completeness",
                        severity="critical",
                        runbook=CALENDAR,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="date_day",
                    min_value=ctx.as_of_date,
                    meta=meta(
                        rule="The calendar reaches the as-of date",
                        dimension="timeliness",
                        severity="critical",
                        runbook=runbook(
                            means="dim_date was built for an earlier day than this run's as-of, so "
                            "cohort months and date joins stop short.",
                            look="the as-of dbt ran with (LIFECYCLE_AS_OF) and macro as_of_date.",
                            fix="rebuild with the run's as-of.",
                        ),
                    ),
                ),
            ],
        ),
    ]
