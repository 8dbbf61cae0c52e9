"""Checks on marts.fct_order_items: one row per order line, the grain of product analysis.

Lines must add up to their orders (fct_orders). The model is incremental: it rebuilds the lines of orders
placed within ``var('lookback_days')`` of the newest order, so lines and orders must agree there (critical);
an older difference is a change the incremental build did not pick up (reported, with its remedy).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.suites import SuiteContext, meta, runbook

AMOUNTS = ("quantity", "unit_price", "gross_amount", "discount_amount", "net_amount")
REQUIRED = (*AMOUNTS, "placed_at", "placed_date", "is_cancelled")

#: Orders whose lines differ from them: counts, units and amounts, or the order's customer, time and flag.
LINES_AGAINST_ORDERS = """
    with lines as (
        select
            order_id,
            count(*) as item_count,
            sum(quantity) as unit_count,
            sum(gross_amount) as gross_revenue,
            sum(discount_amount) as discount_amount,
            min(customer_id) as customer_id,
            max(customer_id) as other_customer_id,
            min(placed_at) as placed_at,
            max(placed_at) as other_placed_at,
            bool_or(is_cancelled) as is_cancelled,
            bool_and(is_cancelled) as all_cancelled
        from {{batch}}
        group by order_id
    ),
    compared as (
        select
            coalesce(orders.order_id, lines.order_id) as order_id,
            coalesce(orders.placed_at, lines.placed_at) as placed_at,
            orders.item_count as order_items,
            coalesce(lines.item_count, 0) as lines,
            orders.gross_revenue as order_gross,
            lines.gross_revenue as lines_gross,
            orders.order_id is null
                or orders.item_count != coalesce(lines.item_count, 0)
                or lines.unit_count != orders.unit_count
                or lines.gross_revenue != orders.gross_revenue
                or lines.discount_amount != orders.discount_amount
                or lines.customer_id != orders.customer_id
                or lines.other_customer_id != orders.customer_id
                or lines.placed_at != orders.placed_at
                or lines.other_placed_at != orders.placed_at
                or lines.is_cancelled != orders.is_cancelled
                or lines.all_cancelled != orders.is_cancelled as differs
        from marts.fct_orders as orders
        full outer join lines
            on orders.order_id = lines.order_id
    )
    select order_id, placed_at, order_items, lines, order_gross, lines_gross
    from compared
    where differs {window}
"""


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    lookback = int(ctx.dbt.var("lookback_days"))
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                distribution_expectation(
                    ctx, time_column="placed_at", value="quantity", measure="quantity per order line"
                ),
                distribution_expectation(
                    ctx, time_column="placed_at", value="unit_price", measure="unit price"
                ),
                distribution_expectation(
                    ctx, time_column="placed_at", value="discount_amount", measure="discount per order line"
                ),
                gxe.UnexpectedRowsExpectation(
                    description="gross_amount = quantity × unit_price and net_amount = gross_amount − "
                    "discount_amount (within 0.01)",
                    unexpected_rows_query="""
                        select order_item_id, quantity, unit_price, gross_amount, discount_amount, net_amount
                        from {batch}
                        where abs(gross_amount - quantity * unit_price) > 0.01
                            or abs(net_amount - (gross_amount - discount_amount)) > 0.01
                    """,
                    meta=meta(
                        rule="A line's gross is quantity × unit price and its net is gross minus discount",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="line amounts break their definition, so revenue by product is wrong.",
                            look="the lines in stg_app__order_items and raw.app_order_items.",
                            fix="fix the model (or the feed's line) and rebuild with --full-refresh -s "
                            "fct_order_items so older lines are recomputed too.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=f"Lines of orders placed within {lookback} days of the newest order add up "
                    "to their order in fct_orders (items, units, gross, discount; customer, time, "
                    "cancellation)",
                    unexpected_rows_query=LINES_AGAINST_ORDERS.format(
                        window=f"and placed_at >= (select max(placed_at) from marts.fct_orders) "
                        f"- interval {lookback} day"
                    ),
                    meta=meta(
                        rule="Revenue by product and revenue by order are the same revenue: the lines "
                        "the incremental build refreshed add up to their orders",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="recent lines and orders disagree, so product and order reports "
                            "would show different revenue for the same days.",
                            look="the listed orders in fct_orders, fct_order_items and "
                            "stg_app__order_items (a line missing, doubled or with another amount).",
                            fix="rebuild fct_order_items (dbt build -s fct_order_items --full-refresh); "
                            "if the difference stays, fix the model.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Lines of every order add up to their order in fct_orders",
                    unexpected_rows_query=LINES_AGAINST_ORDERS.format(window=""),
                    meta=meta(
                        rule="Older lines agree with their orders too; the incremental build only "
                        f"refreshes the last {lookback} days",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="an order older than the incremental window changed (a late "
                            "correction or an accepted restatement) and its lines still show the old "
                            "figures.",
                            look="the listed orders' placed_at and their changes in raw.app_orders and "
                            "raw.app_order_items.",
                            fix="lifecycle transform with a full refresh of fct_order_items "
                            "(dbt build -s fct_order_items --full-refresh) brings them in line.",
                        ),
                    ),
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="quantity",
                    min_value=1,
                    meta=meta(
                        rule="An order line orders at least one unit",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="lines with no units add nothing and inflate item counts.",
                            look="the lines in raw.app_order_items.",
                            fix="nothing is blocked; report them to the shop.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every order line has its {column}",
                            dimension="completeness",
                            severity="critical",
                            runbook=runbook(
                                means=f"lines without {column} drop out of revenue by product.",
                                look="the lines in stg_app__order_items and their order in fct_orders.",
                                fix="have the application resend the line, or fix the model, and rebuild "
                                "fct_order_items with --full-refresh.",
                            ),
                        ),
                    )
                    for column in REQUIRED
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="The newest line is from the newest order that has lines",
                    unexpected_rows_query="""
                        select
                            max(placed_at) as newest_line,
                            (select max(placed_at) from marts.fct_orders where item_count > 0)
                                as newest_order
                        from {batch}
                        having max(placed_at) is distinct from (
                            select max(placed_at) from marts.fct_orders where item_count > 0
                        )
                    """,
                    meta=meta(
                        rule="The incremental line fact keeps up with the orders",
                        dimension="timeliness",
                        severity="critical",
                        runbook=runbook(
                            means="the incremental build stopped adding lines, so product reports end "
                            "before order reports.",
                            look="fct_order_items' newest placed_at against fct_orders', and the dbt log "
                            "of the last build of fct_order_items.",
                            fix="rebuild it (dbt build -s fct_order_items --full-refresh) and rerun.",
                        ),
                    ),
                ),
            ],
        ),
    ]
