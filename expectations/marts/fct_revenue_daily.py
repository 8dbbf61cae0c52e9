"""Checks on marts.fct_revenue_daily: one row per calendar day of revenue, the grain finance reconciles at.

Net revenue is what finance books, so a wrong, missing or late day blocks publication.
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, meta, runbook

AMOUNTS = ("gross_revenue", "discount_amount", "refund_amount")

WRONG_AMOUNTS = runbook(
    means="a day's revenue breaks its definition, so finance would book wrong figures.",
    look="the day's orders in fct_orders (non-cancelled, by placed_date) and refunds in stg_app__payments "
    "(status refunded, by created_at); tests/dbt/assert_revenue_matches_orders.sql ties them.",
    fix="fix the order or payment feed (have the application correct it) or the model, and rebuild; "
    "never publish a day that does not reconcile.",
)
SHORT_DAY = runbook(
    means="a day's orders or order values are far outside the last two weeks: orders lost or doubled "
    "on the way, or a price or unit defect.",
    look="the day's orders in fct_orders and raw.app_orders against the days before, and the prices of "
    "its lines in fct_order_items.",
    fix="have missing orders re-delivered or the defect fixed and rerun; a real event (a shop outage, a big "
    "sale) is accepted by waiting: the next day's run judges that day, with this one in its history, and "
    "publishes both.",
)
LATE = runbook(
    means="revenue stops before yesterday, so finance's daily figures would be missing a day.",
    look="raw.app_orders timeliness (the change log) and the newest placed_date in fct_orders.",
    fix="get the change log flowing (see raw.app_orders) and rerun.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    day = ctx.last_complete_day
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                *(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=amount,
                        min_value=0,
                        meta=meta(
                            rule=f"{amount} is a sum of non-negative amounts, never negative",
                            dimension="accuracy",
                            severity="critical",
                            runbook=WRONG_AMOUNTS,
                        ),
                    )
                    for amount in AMOUNTS
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="order_count",
                    min_value=0,
                    meta=meta(
                        rule="order_count is never negative",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="net_revenue = gross_revenue - discount_amount - refund_amount (within 0.01)",
                    unexpected_rows_query="""
                        select date_day, gross_revenue, discount_amount, refund_amount, net_revenue
                        from {batch}
                        where abs(net_revenue - (gross_revenue - discount_amount - refund_amount)) > 0.01
                    """,
                    meta=meta(
                        rule="Net revenue is gross revenue minus discounts minus refunds, to the cent",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
                    ),
                ),
                gxe.ExpectColumnValuesToBeUnique(
                    column="date_day",
                    meta=meta(
                        rule="One row per calendar day",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=(
                        f"Average order value of {ctx.last_complete_day} within mean ± 3σ of 14 prior days"
                    ),
                    unexpected_rows_query=daily_control_query(
                        day="date_day",
                        value="sum(gross_revenue) / nullif(sum(order_count), 0)",
                        checked_day=ctx.last_complete_day,
                    ),
                    meta=meta(
                        rule="Prices and order values move slowly: a jump in average order value is a defect",
                        dimension="accuracy",
                        severity="critical",
                        runbook=SHORT_DAY,
                    ),
                ),
                distribution_expectation(
                    ctx,
                    # A day's figures are new once the day has ended after the last publication.
                    time_column="date_day + interval 1 day",
                    value="refund_amount",
                    denominator="gross_revenue",
                    measure="refunds per gross revenue",
                    # Reported, not blocking: refunds are paid weeks after the order, so while the order
                    # book ages (a young shop, a season's end) the ratio trends, which a limit from the
                    # previous 28 days reads as a shift.
                    severity="warning",
                ),
                gxe.ExpectColumnMaxToBeBetween(
                    column="date_day",
                    max_value=ctx.as_of_date,
                    meta=meta(
                        rule="No revenue is dated after the day the data is current at (as_of)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="revenue dated after the as-of date: a clock error in the application, "
                            "or a run with an as-of earlier than its data.",
                            look="the newest date_day and the orders and refunds on it.",
                            fix="rerun with the right --as-of, or report the clock error to the shop.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"Orders of {day} within ± 3σ of the 28 prior days by weekday",
                    unexpected_rows_query=daily_control_query(
                        day="date_day",
                        value="sum(order_count)",
                        checked_day=day,
                        weekly=True,
                    ),
                    meta=meta(
                        rule="Every day's orders arrive in full: order volume within control limits",
                        dimension="completeness",
                        severity="critical",
                        runbook=SHORT_DAY,
                    ),
                ),
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=1,
                    meta=meta(
                        rule="Revenue exists for at least one day",
                        dimension="completeness",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"{column} is always filled: a day without orders or refunds holds zeros",
                            dimension="completeness",
                            severity="critical",
                            runbook=WRONG_AMOUNTS,
                        ),
                    )
                    for column in ("date_day", "order_count", *AMOUNTS, "net_revenue")
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Every day from the first to the last date_day has a row (lists gaps)",
                    # DuckDB's generate_series: the calendar is built in the warehouse, like the model's.
                    unexpected_rows_query="""
                        with bounds as (
                            select min(date_day) as first_day, max(date_day) as last_day from {batch}
                        ),
                        calendar as (
                            select
                                cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date)
                                    as date_day
                            from bounds
                        )
                        select calendar.date_day as missing_day
                        from calendar
                        left join {batch} as revenue
                            on calendar.date_day = revenue.date_day
                        where revenue.date_day is null
                    """,
                    meta=meta(
                        rule="Every calendar day from the first to the last is present, even without orders",
                        dimension="completeness",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
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
                        rule="Revenue is reported up to yesterday (as_of - 1 day) at the latest",
                        dimension="timeliness",
                        severity="critical",
                        runbook=LATE,
                    ),
                ),
            ],
        ),
    ]
