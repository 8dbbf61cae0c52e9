"""Checks on marts.fct_funnel_daily: the shopping funnel per day over human sessions (fct_sessions).

The funnel must count exactly fct_sessions' sessions, have every day, and reach yesterday; the day's
session volume is judged against its history, as revenue's order volume is.
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, meta, runbook

FUNNEL = runbook(
    means="the funnel does not describe fct_sessions' sessions, so conversion on the dashboards is wrong.",
    look="the listed days in fct_funnel_daily against fct_sessions grouped by session_date.",
    fix="rebuild fct_funnel_daily (it is a table over fct_sessions); if it persists, fix the model.",
)
RATES = ("product_view_rate", "add_to_cart_rate", "checkout_rate", "conversion_rate")


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    day = ctx.last_complete_day
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Each rate is its step's sessions over the day's sessions (checkout "
                    "completion: over checkouts) to float precision; no step exceeds the day's sessions",
                    unexpected_rows_query="""
                        select *
                        from {batch}
                        where add_to_cart_sessions > sessions
                            or checkout_sessions > sessions
                            or abs(product_view_rate - product_view_sessions / sessions) > 1e-5
                            or abs(add_to_cart_rate - add_to_cart_sessions / sessions) > 1e-5
                            or abs(checkout_rate - checkout_sessions / sessions) > 1e-5
                            or abs(conversion_rate - order_sessions / sessions) > 1e-5
                            or (checkout_sessions = 0) != (checkout_completion_rate is null)
                            or abs(checkout_completion_rate - order_sessions / checkout_sessions) > 1e-5
                    """,
                    meta=meta(
                        rule="A funnel rate is the share of the day's sessions that reached the step",
                        dimension="accuracy",
                        severity="critical",
                        runbook=FUNNEL,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Each day's sessions and step counts equal fct_sessions' by session_date",
                    unexpected_rows_query="""
                        with sessions as (
                            select
                                session_date as date_day,
                                count(*) as sessions,
                                count(*) filter (where has_product_view) as product_view_sessions,
                                count(*) filter (where has_add_to_cart) as add_to_cart_sessions,
                                count(*) filter (where has_checkout) as checkout_sessions,
                                count(*) filter (where is_converted) as order_sessions
                            from marts.fct_sessions
                            group by session_date
                        )
                        select coalesce(funnel.date_day, sessions.date_day) as date_day,
                            funnel.sessions, sessions.sessions as fct_sessions
                        from {batch} as funnel
                        full outer join sessions
                            on funnel.date_day = sessions.date_day
                        where funnel.sessions is distinct from sessions.sessions
                            or funnel.product_view_sessions is distinct from sessions.product_view_sessions
                            or funnel.add_to_cart_sessions is distinct from sessions.add_to_cart_sessions
                            or funnel.checkout_sessions is distinct from sessions.checkout_sessions
                            or funnel.order_sessions is distinct from sessions.order_sessions
                    """,
                    meta=meta(
                        rule="The funnel counts every human session once, on its session_date",
                        dimension="completeness",
                        severity="critical",
                        runbook=FUNNEL,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="No day is missing between the first and the last date_day",
                    unexpected_rows_query="""
                        select min(date_day) as first_day, max(date_day) as last_day, count(*) as days
                        from {batch}
                        having count(*) != max(date_day) - min(date_day) + 1
                    """,
                    meta=meta(
                        rule="The site has human sessions every day",
                        dimension="completeness",
                        severity="critical",
                        runbook=runbook(
                            means="a day without a single human session: its clickstream is missing, or "
                            "every session of the day was classified a bot.",
                            look="raw.events_clickstream for the day and fct_bot_sessions for it.",
                            fix="have the day's events re-delivered, or fix the bot classification, and "
                            "rerun.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=f"Sessions of {day} within ± 3σ of the 28 days before, by weekday",
                    unexpected_rows_query=daily_control_query(
                        day="date_day", value="sum(sessions)", checked_day=day, weekly=True
                    ),
                    meta=meta(
                        rule="Every day's human sessions arrive in full: volume within control limits",
                        dimension="completeness",
                        severity="critical",
                        runbook=runbook(
                            means="the day's human sessions are far from the last two weeks while the "
                            "clickstream's volume passed its own limits: bots let in or humans "
                            "classified as bots, or sessionisation changed.",
                            look="the day's sessions in fct_sessions and fct_bot_sessions, and "
                            "raw.events_clickstream's volume check in this report.",
                            fix="fix the classification or sessionisation and rebuild the web models "
                            "with --full-refresh; a real traffic change (a campaign, an outage) is "
                            "accepted by waiting: the next day's run judges that day, with this one in "
                            "its history, and publishes both.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="date_day",
                    min_value=ctx.as_of_date - datetime.timedelta(days=1),
                    meta=meta(
                        rule="The funnel is reported up to yesterday (as_of - 1 day) at the latest",
                        dimension="timeliness",
                        severity="critical",
                        runbook=runbook(
                            means="the funnel stops before yesterday, so the daily web report misses a day.",
                            look="raw.events_clickstream timeliness and fct_sessions' newest session_date.",
                            fix="get the clickstream flowing (see its runbook) and rerun.",
                        ),
                    ),
                ),
            ],
        ),
    ]
