"""Checks on marts.fct_cohort_retention: retention by first-order month, one row per cohort and month.

Every cohort has every month up to the as-of month, month 0 keeps everyone, and the cohorts add up to the
customers (dim_customers) and orders (fct_orders) they are built from.
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta, runbook

COHORTS = runbook(
    means="retention curves are misaligned or do not add up, so the retention dashboard would show "
    "wrong rates.",
    look="the listed cohorts in fct_cohort_retention against dim_customers.first_order_at and fct_orders.",
    fix="fix fct_cohort_retention (or the mart it reads, whose own checks say which) and rebuild.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    as_of_month = ctx.as_of_date.replace(day=1)
    next_month = (as_of_month + datetime.timedelta(days=31)).replace(day=1)
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Months are first days, activity_month ≥ cohort_month, "
                    "months_since_first_order counts the months between them, retention_rate = retained / "
                    "cohort (within float precision) and month 0 retains the whole cohort",
                    unexpected_rows_query="""
                        select cohort_month, activity_month, months_since_first_order, cohort_customers,
                            retained_customers, retention_rate
                        from {batch}
                        where day(cohort_month) != 1
                            or day(activity_month) != 1
                            or activity_month < cohort_month
                            or months_since_first_order
                                != datediff('month', cohort_month, activity_month)
                            or abs(retention_rate - retained_customers / cohort_customers) > 1e-5
                            or (months_since_first_order = 0 and retained_customers != cohort_customers)
                    """,
                    meta=meta(
                        rule="A cohort is the month of a customer's first order; month 0 is that month "
                        "(retention 100 %) and the rate is retained over cohort customers",
                        dimension="accuracy",
                        severity="critical",
                        runbook=COHORTS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="cohort_customers is the same on every row of a cohort",
                    unexpected_rows_query="""
                        select cohort_month, min(cohort_customers) as least, max(cohort_customers) as most
                        from {batch}
                        group by cohort_month
                        having min(cohort_customers) != max(cohort_customers)
                    """,
                    meta=meta(
                        rule="A cohort's size does not change from month to month",
                        dimension="accuracy",
                        severity="critical",
                        runbook=COHORTS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Cohort sizes add up to dim_customers' customers with a first order, "
                    f"orders and revenue to fct_orders' non-cancelled orders (before {next_month})",
                    unexpected_rows_query=f"""
                        with cohorts as (
                            select
                                sum(cohort_customers) filter (where months_since_first_order = 0)
                                    as customers,
                                sum(order_count) as orders,
                                sum(revenue) as revenue
                            from {{batch}}
                        ),
                        expected as (
                            select
                                (
                                    select count(*) from marts.dim_customers
                                    where first_order_at < date '{next_month}'
                                ) as customers,
                                count(*) as orders,
                                coalesce(sum(order_total), 0) as revenue
                            from marts.fct_orders
                            where not is_cancelled and placed_at < date '{next_month}'
                        )
                        select cohorts.*, expected.customers as expected_customers,
                            expected.orders as expected_orders, expected.revenue as expected_revenue
                        from cohorts
                        cross join expected
                        where coalesce(cohorts.customers, 0) != expected.customers
                            or coalesce(cohorts.orders, 0) != expected.orders
                            or coalesce(cohorts.revenue, 0) != expected.revenue
                    """,
                    meta=meta(
                        rule="Every customer with an order is in exactly one cohort, and every "
                        "non-cancelled order counts in its customer's cohort",
                        dimension="accuracy",
                        severity="critical",
                        runbook=COHORTS,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"Every cohort has one row for each month from its own to {as_of_month}",
                    unexpected_rows_query=f"""
                        select cohort_month, count(*) as months,
                            datediff('month', cohort_month, date '{as_of_month}') + 1 as expected_months
                        from {{batch}}
                        group by cohort_month
                        having count(distinct activity_month) != count(*)
                            or count(*) != datediff('month', cohort_month, date '{as_of_month}') + 1
                    """,
                    meta=meta(
                        rule="Every cohort has a row for every month up to the as-of date, zeros included",
                        dimension="completeness",
                        severity="critical",
                        runbook=COHORTS,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="activity_month",
                    min_value=as_of_month,
                    max_value=as_of_month,
                    meta=meta(
                        rule="Retention is measured up to the month of the as-of date",
                        dimension="timeliness",
                        severity="critical",
                        runbook=runbook(
                            means="the cohort table was built for another day than this run's as-of.",
                            look="the as-of dbt ran with (LIFECYCLE_AS_OF) and dim_date's last day.",
                            fix="rebuild with the run's as-of.",
                        ),
                    ),
                ),
            ],
        ),
    ]
