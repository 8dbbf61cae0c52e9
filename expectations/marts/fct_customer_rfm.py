"""Checks on marts.fct_customer_rfm: recency, frequency and monetary scores per customer as of the run's
date, read by the reverse-ETL customer segments export.

Scores must order customers the way their measures do (without retyping the thresholds, which live in
the model and its doc block rfm), the rows must be exactly the scorable customers of dim_customers, and a
deleted or erased account must never reach the export.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta, runbook

SCORES = runbook(
    means="scores or segments do not follow the customers' measures, so the CRM would target the wrong "
    "customers.",
    look="the listed scores in fct_customer_rfm against recency_days, frequency and monetary, and the "
    "model's case expressions against the doc blocks rfm and rfm_segment.",
    fix="fix fct_customer_rfm and rebuild; a deliberate change of thresholds goes into the model and the "
    "doc block together.",
)
CUSTOMERS = runbook(
    means="the scored customers differ from dim_customers, so the export would miss customers or carry "
    "stale values.",
    look="the listed customer_ids in dim_customers (order_count, is_deleted) and fct_customer_rfm.",
    fix="rebuild both (they are built in one dbt run); if it persists, fix fct_customer_rfm's filter.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    as_of = ctx.as_of_date
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="A higher recency score never has more days since the last order, a "
                    "higher frequency or monetary score never fewer orders or less value",
                    unexpected_rows_query="""
                        with bands as (
                            select 'recency' as score, recency_score as value,
                                -max(recency_days) as least, -min(recency_days) as most
                            from {batch} group by recency_score
                            union all
                            select 'frequency', frequency_score, min(frequency), max(frequency)
                            from {batch} group by frequency_score
                            union all
                            select 'monetary', monetary_score, min(monetary), max(monetary)
                            from {batch} group by monetary_score
                        )
                        select higher.score, higher.value as higher_score, lower.value as lower_score,
                            higher.least as higher_least, lower.most as lower_most
                        from bands as higher
                        inner join bands as lower
                            on higher.score = lower.score and higher.value > lower.value
                        where higher.least < lower.most
                            or (higher.score != 'monetary' and higher.least = lower.most)
                    """,
                    meta=meta(
                        rule="Scores rank customers by their measures: 5 is the most recent, most "
                        "frequent, most valuable (doc block rfm)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=SCORES,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="rfm_score is the three scores, recency first; one segment per (R, F) pair",
                    unexpected_rows_query="""
                        select customer_id, recency_score, frequency_score, monetary_score, rfm_score,
                            rfm_segment
                        from {batch}
                        where rfm_score is distinct from
                                concat(recency_score, frequency_score, monetary_score)
                            or (recency_score, frequency_score) in (
                                select (recency_score, frequency_score)
                                from {batch}
                                group by recency_score, frequency_score
                                having count(distinct rfm_segment) > 1
                            )
                    """,
                    meta=meta(
                        rule="A segment follows from the recency and frequency scores alone (doc block "
                        "rfm_segment)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=SCORES,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=f"recency_days counts the days from the last order's date to {as_of}",
                    unexpected_rows_query=f"""
                        select customer_id, last_order_at, recency_days
                        from {{batch}}
                        where recency_days
                            is distinct from greatest(date '{as_of}' - cast(last_order_at as date), 0)
                    """,
                    meta=meta(
                        rule="Recency is measured to the run's as-of date",
                        dimension="accuracy",
                        severity="critical",
                        runbook=SCORES,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="frequency, monetary, last_order_at and is_active equal dim_customers'",
                    unexpected_rows_query="""
                        select rfm.customer_id, rfm.frequency, customers.order_count, rfm.monetary,
                            customers.lifetime_value
                        from {batch} as rfm
                        inner join marts.dim_customers as customers
                            on rfm.customer_id = customers.customer_id
                        where rfm.frequency != customers.order_count
                            or rfm.monetary != customers.lifetime_value
                            or rfm.last_order_at is distinct from customers.last_order_at
                            or rfm.is_active is distinct from customers.is_active
                    """,
                    meta=meta(
                        rule="A customer's RFM measures are their activity in dim_customers",
                        dimension="accuracy",
                        severity="critical",
                        runbook=CUSTOMERS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="No deleted or erased account is scored",
                    unexpected_rows_query="""
                        select rfm.customer_id, customers.is_deleted, customers.is_erased
                        from {batch} as rfm
                        inner join marts.dim_customers as customers
                            on rfm.customer_id = customers.customer_id
                        where customers.is_deleted or customers.is_erased
                    """,
                    meta=meta(
                        rule="Closed and erased accounts never reach the customer segments export",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="a closed or erased account would be sent to the CRM: a privacy "
                            "breach, never acceptable.",
                            look="the listed customer_ids in dim_customers and stg_app__customers.",
                            fix="fix fct_customer_rfm's filter (is_deleted) and rebuild before publishing.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Monetary quintiles differ in size by at most one customer",
                    unexpected_rows_query="""
                        select monetary_score, count(*) as customers
                        from {batch}
                        group by monetary_score
                        having count(*) > (select ceil(count(*) / 5) from {batch})
                            or count(*) < (select floor(count(*) / 5) from {batch})
                    """,
                    meta=meta(
                        rule="The monetary score is a quintile of lifetime value (doc block rfm)",
                        dimension="accuracy",
                        severity="warning",
                        runbook=SCORES,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Every customer of dim_customers with an order and an open account is scored",
                    unexpected_rows_query="""
                        select customers.customer_id, customers.order_count
                        from marts.dim_customers as customers
                        left join {batch} as rfm
                            on customers.customer_id = rfm.customer_id
                        where customers.order_count > 0
                            and not customers.is_deleted
                            and rfm.customer_id is null
                    """,
                    meta=meta(
                        rule="Every open account with at least one non-cancelled order has scores",
                        dimension="completeness",
                        severity="critical",
                        runbook=CUSTOMERS,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnValuesToBeBetween(
                    column="as_of_date",
                    min_value=as_of,
                    max_value=as_of,
                    meta=meta(
                        rule="Scores are as of the run's as-of date",
                        dimension="timeliness",
                        severity="critical",
                        runbook=runbook(
                            means="the scores were computed for another day, so recency is off for "
                            "every customer.",
                            look="the as-of dbt ran with (LIFECYCLE_AS_OF) and as_of_date in the table.",
                            fix="rebuild with the run's as-of.",
                        ),
                    ),
                ),
            ],
        ),
    ]
