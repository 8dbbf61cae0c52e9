"""Checks on marts.fct_orders: one row per order with its status and amounts, the source of daily revenue.

What feeds revenue (amounts, the cancelled flag, the booking date) is critical; the rest is reported.
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta

#: The app's order lifecycle (_app__sources.yml): placed → paid → shipped → delivered, or cancelled/returned.
ORDER_STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled", "returned"]
AMOUNTS = ("gross_revenue", "discount_amount", "order_total")
REQUIRED = ("order_id", "customer_id", "order_status", "placed_at", "placed_date", "is_cancelled", *AMOUNTS)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.ExpectColumnValuesToBeUnique(
                    column="order_id",
                    meta=meta(rule="One row per order", dimension="accuracy", severity="critical"),
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="order_status",
                    value_set=ORDER_STATUSES,
                    meta=meta(
                        rule="An order's status is one of the app's order lifecycle states",
                        dimension="accuracy",
                        severity="critical",
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=amount,
                        min_value=0,
                        meta=meta(
                            rule=f"{amount} is never negative", dimension="accuracy", severity="critical"
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
                    ),
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="item_count",
                    min_value=1,
                    meta=meta(
                        rule="Every order has at least one item", dimension="accuracy", severity="warning"
                    ),
                ),
                gxe.ExpectColumnMaxToBeBetween(
                    column="placed_date",
                    max_value=ctx.as_of_date,
                    meta=meta(
                        rule="No order is placed after the day the data is current at (as_of)",
                        dimension="accuracy",
                        severity="warning",
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=1,
                    meta=meta(rule="The shop has orders", dimension="completeness", severity="critical"),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every order has a {column}", dimension="completeness", severity="critical"
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
                    ),
                ),
            ],
        ),
    ]
