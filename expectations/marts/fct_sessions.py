"""Checks on marts.fct_sessions: one row per human session, the grain of web analytics.

Sessions are counted by session_date (reconciled with the simulator's ground truth), so the date rule
blocks; the other row rules are reported. Freshness limits are the clickstream source's own (``config:
freshness:`` in models/staging/events/_events__sources.yml): sessions cannot be fresher than their events,
and may not be staler.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, hours, meta, runbook

SESSION_ROWS = runbook(
    means="sessions break their definition (doc block session), so session counts, durations or the "
    "funnel built on them are off.",
    look="the listed sessions in int_sessions_stitched and their events in stg_events__clickstream.",
    fix="fix int_sessions_stitched and rebuild the web models with --full-refresh; nothing is blocked "
    "unless the rule is critical.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    freshness = ctx.dbt.freshness("events_clickstream")
    day = ctx.last_complete_day
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                distribution_expectation(
                    ctx, time_column="session_started_at", value="duration_seconds", measure="session length"
                ),
                distribution_expectation(
                    ctx, time_column="session_started_at", value="event_count", measure="events per session"
                ),
                distribution_expectation(
                    ctx,
                    time_column="session_started_at",
                    value="is_converted",
                    measure="conversion rate",
                    rate=True,
                ),
                gxe.UnexpectedRowsExpectation(
                    description="session_date is the UTC day of session_started_at",
                    unexpected_rows_query="""
                        select session_id, session_started_at, session_date
                        from {batch}
                        where session_date is distinct from cast(session_started_at as date)
                    """,
                    meta=meta(
                        rule="A session is dated by the UTC date of its first event (doc block session_date)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=SESSION_ROWS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="duration_seconds is the seconds from first to last event (within 1 s); "
                    "event_count is the sum of the per-type counts",
                    unexpected_rows_query="""
                        select session_id, session_started_at, session_ended_at, duration_seconds,
                            event_count
                        from {batch}
                        where abs(
                                duration_seconds
                                - datediff('second', session_started_at, session_ended_at)
                            ) > 1
                            or event_count != page_view_count + product_view_count + search_count
                                + add_to_cart_count + checkout_started_count + order_placed_count
                    """,
                    meta=meta(
                        rule="A session's duration and event counts describe its own events",
                        dimension="accuracy",
                        severity="warning",
                        runbook=SESSION_ROWS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="A stitched session has a customer",
                    unexpected_rows_query="""
                        select session_id, anonymous_id, is_stitched, customer_id
                        from {batch}
                        where is_stitched and customer_id is null
                    """,
                    meta=meta(
                        rule="A session is stitched only to a customer (doc block session_stitching)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=SESSION_ROWS,
                    ),
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="visit_number",
                    min_value=1,
                    meta=meta(
                        rule="visit_number counts a visitor's sessions from 1",
                        dimension="accuracy",
                        severity="warning",
                        runbook=SESSION_ROWS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="No session is both here and in fct_bot_sessions",
                    unexpected_rows_query="""
                        select humans.session_id, humans.session_date, bots.bot_rule
                        from {batch} as humans
                        inner join marts.fct_bot_sessions as bots
                            on humans.session_id = bots.session_id
                    """,
                    meta=meta(
                        rule="A session is either a human's or a bot's",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="sessions that late events turned into bots are still counted as "
                            "human (the model's documented incremental limit).",
                            look="the listed sessions' visitors in int_sessions_classified.",
                            fix="lifecycle transform with a full refresh of the web models "
                            "(dbt build -s fct_sessions+ --full-refresh).",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"Share of sessions with a customer on {day} within prediction limits from "
                    "the 14 days before",
                    unexpected_rows_query=daily_control_query(
                        day="session_date",
                        value="avg(case when customer_id is null then 0.0 else 1.0 end)",
                        checked_day=day,
                        prediction=True,
                    ),
                    meta=meta(
                        rule="Logins keep identifying sessions: the share of sessions with a customer "
                        "stays within control limits",
                        dimension="completeness",
                        severity="warning",
                        runbook=runbook(
                            means="far fewer (or more) sessions carry a customer than usual: customer_id "
                            "missing from events, or stitching broken.",
                            look="customer_id on the day's events in stg_events__clickstream and "
                            "int_sessions_stitched.",
                            fix="nothing is blocked; have the producer restore the field or fix stitching "
                            "and rebuild the web models with --full-refresh.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="session_started_at",
                    min_value=ctx.as_of - limit,
                    meta=meta(
                        rule=f"The newest human session started at most {hours(limit)} before as-of "
                        f"(clickstream source freshness {name})",
                        dimension="timeliness",
                        severity=severity,
                        runbook=runbook(
                            means="web analytics stops before the clickstream's limit: events are late, "
                            "or the incremental session build did not pick them up.",
                            look="raw.events_clickstream timeliness in this report, then the newest "
                            "last_ingested_at in int_sessions_stitched and fct_sessions.",
                            fix="if raw is late, see its runbook; otherwise rebuild the web models "
                            "(dbt build -s int_sessions_stitched+ --full-refresh).",
                        ),
                    ),
                )
                for name, severity, limit in freshness.limits()
            ],
        ),
    ]
