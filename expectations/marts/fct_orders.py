"""Checks on marts.fct_orders: one row per order with its status and amounts, the source of daily revenue.

What feeds revenue (amounts, the cancelled flag, the booking date) is critical; the rest is reported. The
order statuses are the ones dbt accepts for the column (its accepted_values test in _core__models.yml).
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.suites import SuiteContext, meta, runbook

AMOUNTS = ("gross_revenue", "discount_amount", "order_total")
REQUIRED = ("order_id", "customer_id", "order_status", "placed_at", "placed_date", "is_cancelled", *AMOUNTS)

WRONG_AMOUNTS = runbook(
    means="order amounts break their definition, so revenue, AOV and customer value built on them are wrong.",
    look="the failing orders' lines in fct_order_items and stg_app__order_items, and raw.app_order_items "
    "for the same order_id (unit_price, quantity, discount_amount).",
    fix="a feed defect: have the application correct the lines and rerun; a model defect: fix "
    "int_orders_lifecycle and rebuild.",
)
WRONG_STATUS = runbook(
    means="an order's status, cancelled flag or booking date disagrees with its definition, so it would be "
    "counted in (or left out of) revenue on the wrong day.",
    look="the failing orders in stg_app__orders and their change history in raw.app_orders.",
    fix="a new status in the application: add it to the accepted values and the revenue rules first; "
    "otherwise fix the CDC reader or int_orders_lifecycle and rebuild.",
)
MISSING = runbook(
    means="orders lack a field every order has, so they fall out of revenue or customer joins.",
    look="those orders in stg_app__orders and raw.app_orders (the change that set the field).",
    fix="have the application re-send the change, or fix the staging cast that lost it, and rebuild.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    statuses = ctx.dbt.accepted_values("fct_orders", "order_status")
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                distribution_expectation(
                    ctx, time_column="placed_at", value="order_total", measure="order total"
                ),
                distribution_expectation(
                    ctx, time_column="placed_at", value="item_count", measure="items per order"
                ),
                gxe.ExpectColumnValuesToBeUnique(
                    column="order_id",
                    meta=meta(
                        rule="One row per order",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_STATUS,
                    ),
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="order_status",
                    value_set=statuses,
                    meta=meta(
                        rule="An order's status is one of the app's order lifecycle states",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_STATUS,
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=amount,
                        min_value=0,
                        meta=meta(
                            rule=f"{amount} is never negative",
                            dimension="accuracy",
                            severity="critical",
                            runbook=WRONG_AMOUNTS,
                        ),
                    )
                    for amount in AMOUNTS
                ),
                gxe.UnexpectedRowsExpectation(
                    description="order_total = gross_revenue - discount_amount (within 0.01)",
                    unexpected_rows_query="""
                        select order_id, gross_revenue, discount_amount, order_total
                        from {batch}
                        where abs(order_total - (gross_revenue - discount_amount)) > 0.01
                    """,
                    meta=meta(
                        rule="An order's total is its gross revenue minus its discounts, to the cent",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_AMOUNTS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="is_cancelled is true exactly when order_status is 'cancelled'",
                    unexpected_rows_query="""
                        select order_id, order_status, is_cancelled
                        from {batch}
                        where is_cancelled is distinct from (order_status = 'cancelled')
                    """,
                    meta=meta(
                        rule="Cancelled orders, and only those, are excluded from revenue",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_STATUS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="placed_date is the calendar day of placed_at",
                    unexpected_rows_query="""
                        select order_id, placed_at, placed_date
                        from {batch}
                        where placed_date is distinct from cast(placed_at as date)
                    """,
                    meta=meta(
                        rule="Revenue is booked on the day the order was placed",
                        dimension="accuracy",
                        severity="critical",
                        runbook=WRONG_STATUS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=(
                        "Status history in lifecycle order (placed ≤ paid ≤ shipped ≤ delivered ≤ returned, "
                        "placed ≤ cancelled) and the current status reached (a cancelled order never paid)"
                    ),
                    unexpected_rows_query="""
                        select order_id, order_status, placed_at, paid_at, shipped_at, delivered_at,
                            cancelled_at, returned_at
                        from {batch}
                        where paid_at < placed_at
                            or shipped_at < paid_at
                            or delivered_at < shipped_at
                            or returned_at < delivered_at
                            or cancelled_at < placed_at
                            or (order_status = 'paid' and paid_at is null)
                            or (order_status = 'shipped' and shipped_at is null)
                            or (order_status = 'delivered' and delivered_at is null)
                            or (order_status = 'cancelled' and (cancelled_at is null or paid_at is not null))
                            or (order_status = 'returned' and (returned_at is null or delivered_at is null))
                    """,
                    meta=meta(
                        rule="An order moves placed → paid → shipped → delivered, or is cancelled (never "
                        "paid), or returned after delivery (doc block order_status)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="an order's first-time-in-status columns contradict its lifecycle, so "
                            "fulfilment times (time to ship, to deliver) are wrong for it.",
                            look="the order's changes in raw.app_orders in _change_id order (a snapshot "
                            "after a full refresh loses the history before it).",
                            fix="nothing is blocked; a lost history is accepted, a new path through the "
                            "lifecycle is added to the doc block order_status and this rule.",
                        ),
                    ),
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="item_count",
                    min_value=1,
                    meta=meta(
                        rule="Every order has at least one item",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="an order without lines counts in order volume but adds no revenue.",
                            look="stg_app__order_items for the order_id; lines may arrive a change later.",
                            fix="nothing is blocked; it clears when the lines arrive.",
                        ),
                    ),
                ),
                gxe.ExpectColumnMaxToBeBetween(
                    column="placed_date",
                    max_value=ctx.as_of_date,
                    meta=meta(
                        rule="No order is placed after the day the data is current at (as_of)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="orders dated after the as-of date: a clock or time-zone error in the "
                            "application, or a run with an as-of earlier than its data.",
                            look="the newest placed_at values against --as-of.",
                            fix="rerun with the right --as-of, or report the clock error to the shop.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=1,
                    meta=meta(
                        rule="The shop has orders",
                        dimension="completeness",
                        severity="critical",
                        runbook=MISSING,
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every order has a {column}",
                            dimension="completeness",
                            severity="critical",
                            runbook=MISSING,
                        ),
                    )
                    for column in REQUIRED
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="placed_date",
                    min_value=ctx.as_of_date - datetime.timedelta(days=1),
                    meta=meta(
                        rule="Orders arrive up to yesterday (as_of - 1 day); a quiet day trips it, so it "
                        "only warns: marts.fct_revenue_daily.timeliness is the check that blocks",
                        dimension="timeliness",
                        severity="warning",
                        runbook=runbook(
                            means="no order was placed yesterday: a quiet day, or the change log is late.",
                            look="raw.app_orders timeliness and fct_revenue_daily.timeliness in this report.",
                            fix="nothing is blocked here; if the change log is late, that check blocks.",
                        ),
                    ),
                ),
            ],
        ),
    ]
