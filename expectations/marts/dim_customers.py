"""Checks on marts.dim_customers: one row per customer account, with order activity and the active flag.

Activity must agree with the orders (fct_orders), the active flag with the as-of date and the window dbt
declares (var ``active_customer_window_days``), and erased accounts must hold no personal data.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta, runbook

ACTIVITY = runbook(
    means="a customer's order activity disagrees with their orders, so active customers, lifetime value, "
    "RFM segments and cohorts built on it are wrong.",
    look="the customer's orders in fct_orders (non-cancelled) against int_customers_activity.",
    fix="fix int_customers_activity or dim_customers and rebuild; if fct_orders is wrong, its own checks "
    "say why.",
)
PERSONAL_DATA = runbook(
    means="an account carries contact data it must not: an erased account that kept attributes, or a "
    "contact value that is not a salted hash.",
    look="the rows in dim_customers and stg_app__customers, the erasure requests, and macro hash_pii.",
    fix="never accept: fix the hashing or the erasure in staging and rebuild before anything is published.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    window = int(ctx.dbt.var("active_customer_window_days"))
    as_of = ctx.as_of_date
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=(
                        f"is_active = not deleted and last order in the {window} days ending {as_of}"
                    ),
                    unexpected_rows_query=f"""
                        select customer_id, is_active, is_deleted, last_order_at
                        from {{batch}}
                        where is_active is distinct from (
                            not is_deleted
                            and coalesce(
                                cast(last_order_at as date) > date '{as_of}' - {window}
                                and cast(last_order_at as date) <= date '{as_of}',
                                false
                            )
                        )
                    """,
                    meta=meta(
                        rule="An active customer is not deleted and ordered (not cancelled) in the "
                        f"{window} days ending on the as-of date (doc block is_active)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="the active flag was computed for another day or another window, so "
                            "the active-customer count would be wrong.",
                            look="the as-of date dbt ran with (LIFECYCLE_AS_OF in run_results.json "
                            "metadata) and var active_customer_window_days.",
                            fix="rebuild with the run's as-of; change the window only in dbt_project.yml.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="order_count, lifetime_value, first and last order equal fct_orders' "
                    "non-cancelled orders per customer",
                    unexpected_rows_query="""
                        with orders as (
                            select
                                customer_id,
                                count(*) as order_count,
                                sum(order_total) as lifetime_value,
                                min(placed_at) as first_order_at,
                                max(placed_at) as last_order_at
                            from marts.fct_orders
                            where not is_cancelled
                            group by customer_id
                        )
                        select customers.customer_id, customers.order_count, orders.order_count as orders,
                            customers.lifetime_value, orders.lifetime_value as orders_value
                        from {batch} as customers
                        left join orders
                            on customers.customer_id = orders.customer_id
                        where customers.order_count != coalesce(orders.order_count, 0)
                            or customers.lifetime_value != coalesce(orders.lifetime_value, 0)
                            or customers.first_order_at is distinct from orders.first_order_at
                            or customers.last_order_at is distinct from orders.last_order_at
                    """,
                    meta=meta(
                        rule="A customer's activity is the sum of their non-cancelled orders",
                        dimension="accuracy",
                        severity="critical",
                        runbook=ACTIVITY,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Erased accounts are deleted and keep no email, phone, country or "
                    "creation time",
                    unexpected_rows_query="""
                        select customer_id, is_deleted, email_hash, phone_hash, country_code, created_at
                        from {batch}
                        where is_erased
                            and (not is_deleted or email_hash is not null or phone_hash is not null
                                or country_code is not null or created_at is not null)
                    """,
                    meta=meta(
                        rule="An erased (hard-deleted) account keeps a row without attributes",
                        dimension="accuracy",
                        severity="critical",
                        runbook=PERSONAL_DATA,
                    ),
                ),
                # GE's regex expectations do not compile for DuckDB; DuckDB's regexp_full_match does
                # (braces doubled: GE fills {batch} with str.format).
                gxe.UnexpectedRowsExpectation(
                    description="email_hash and phone_hash are 64 lower-case hex digits (SHA-256)",
                    unexpected_rows_query="""
                        select customer_id, email_hash, phone_hash
                        from {batch}
                        where not regexp_full_match(email_hash, '[0-9a-f]{{64}}')
                            or not regexp_full_match(phone_hash, '[0-9a-f]{{64}}')
                    """,
                    meta=meta(
                        rule="Contact details are salted SHA-256 hashes, never the contact itself",
                        dimension="accuracy",
                        severity="critical",
                        runbook=PERSONAL_DATA,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="country_code is two capital letters",
                    unexpected_rows_query="""
                        select customer_id, country_code
                        from {batch}
                        where not regexp_full_match(country_code, '[A-Z]{{2}}')
                    """,
                    meta=meta(
                        rule="country_code is an ISO 3166-1 alpha-2 code",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="accounts with a country that is not a two-letter code fall out of "
                            "reports by country.",
                            look="the values in stg_app__customers and raw.app_customers.",
                            fix="nothing is blocked; map the application's value in stg_app__customers.",
                        ),
                    ),
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="lifetime_value",
                    min_value=0,
                    meta=meta(
                        rule="Lifetime value sums non-negative order totals, never negative",
                        dimension="accuracy",
                        severity="critical",
                        runbook=ACTIVITY,
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Accounts that are not erased have an email hash, a country and a "
                    "creation time",
                    unexpected_rows_query="""
                        select customer_id, email_hash, country_code, created_at
                        from {batch}
                        where not is_erased
                            and (email_hash is null or country_code is null or created_at is null)
                    """,
                    meta=meta(
                        rule="Every live or closed account has its login email (hashed), country and "
                        "creation time; only erasure removes them",
                        dimension="completeness",
                        severity="warning",
                        runbook=runbook(
                            means="accounts lost attributes without an erasure: segments by country or "
                            "contact would miss them.",
                            look="the accounts in stg_app__customers and their changes in raw.app_customers.",
                            fix="nothing is blocked; have the application resend the account or fix "
                            "the staging cast.",
                        ),
                    ),
                ),
            ],
        ),
    ]
