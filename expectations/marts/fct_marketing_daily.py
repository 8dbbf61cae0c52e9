"""Checks on marts.fct_marketing_daily: per day and campaign, the ad platform's final spend beside the
orders and revenue credited to the campaign (last-touch attribution).

Spend sits on the paid channels of the seed ``marketing_channels`` (joined, not retyped), credit never
exceeds what was sold that day (fct_revenue_daily), the KPIs follow their definitions, and spend is as
fresh as the ads source's freshness limits (``config: freshness:`` in models/staging/ads/_ads__sources.yml).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.distribution import distribution_expectation
from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, hours, meta, oldest_fresh_day, runbook

KPIS = runbook(
    means="a marketing KPI disagrees with its definition, so budget decisions would rest on wrong ROAS, "
    "CAC, cost per click or click-through rate.",
    look="the listed rows' spend, clicks, impressions and attributed columns in fct_marketing_daily and "
    "the macro ratio.",
    fix="fix fct_marketing_daily (or the macro) and rebuild.",
)
CREDIT = runbook(
    means="attribution credits more orders or revenue to campaigns than the shop sold that day: orders "
    "credited twice or to the wrong day.",
    look="the day's rows in int_orders_attributed (one per order) against fct_revenue_daily.",
    fix="fix int_orders_attributed or fct_marketing_daily and rebuild; never publish inflated credit.",
)
PLATFORM = runbook(
    means="the ad platform's numbers are inconsistent or on a channel marketing does not buy, so "
    "spend reports and ROAS are wrong.",
    look="the rows in stg_ads__spend and raw.ads_spend (_source_file), and seeds/marketing_channels.csv.",
    fix="ask the partner for a corrected drop and re-land it; a new paid channel is added to the seed.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    freshness = ctx.dbt.freshness("ads_spend")
    day = ctx.last_complete_day
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Rows with spend are on a paid channel of the seed marketing_channels",
                    unexpected_rows_query="""
                        select marketing.date_day, marketing.campaign_id, marketing.channel,
                            marketing.spend
                        from {batch} as marketing
                        left join seeds.marketing_channels as channels
                            on marketing.channel = channels.channel
                        where marketing.spend > 0 and not coalesce(channels.is_paid, false)
                    """,
                    meta=meta(
                        rule="Ad spend is only bought on paid channels (seed marketing_channels)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=PLATFORM,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="clicks ≤ impressions",
                    unexpected_rows_query="""
                        select date_day, campaign_id, clicks, impressions
                        from {batch}
                        where clicks > impressions
                    """,
                    meta=meta(
                        rule="An ad is clicked only where it was shown: clicks never exceed impressions",
                        dimension="accuracy",
                        severity="critical",
                        runbook=PLATFORM,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="roas = attributed_revenue / spend and click_through_rate = clicks / "
                    "impressions (within float precision), cac = spend / attributed_new_customers and "
                    "cost_per_click = spend / clicks (within 0.01); each null exactly when its divisor is 0",
                    unexpected_rows_query="""
                        select date_day, campaign_id, spend, clicks, impressions, attributed_revenue,
                            attributed_new_customers, roas, cac, cost_per_click, click_through_rate
                        from {batch}
                        where (spend = 0) != (roas is null)
                            or abs(roas - attributed_revenue / spend) > 1e-5 * greatest(1, abs(roas))
                            or (attributed_new_customers = 0) != (cac is null)
                            or abs(cac - spend / attributed_new_customers) > 0.01
                            or (clicks = 0) != (cost_per_click is null)
                            or abs(cost_per_click - spend / clicks) > 0.01
                            or (impressions = 0) != (click_through_rate is null)
                            or abs(click_through_rate - clicks / impressions) > 1e-5
                    """,
                    meta=meta(
                        rule="ROAS, CAC, cost per click and click-through rate follow their definitions "
                        "(null without a divisor)",
                        dimension="accuracy",
                        severity="critical",
                        runbook=KPIS,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="A day's attributed orders and revenue are at most its orders and "
                    "revenue after discounts in fct_revenue_daily",
                    unexpected_rows_query="""
                        with credited as (
                            select
                                date_day,
                                sum(attributed_orders) as attributed_orders,
                                sum(attributed_revenue) as attributed_revenue
                            from {batch}
                            group by date_day
                        )
                        select credited.date_day, credited.attributed_orders, revenue.order_count,
                            credited.attributed_revenue,
                            revenue.gross_revenue - revenue.discount_amount as sold
                        from credited
                        left join marts.fct_revenue_daily as revenue
                            on credited.date_day = revenue.date_day
                        where credited.attributed_orders > coalesce(revenue.order_count, 0)
                            or credited.attributed_revenue
                                > coalesce(revenue.gross_revenue - revenue.discount_amount, 0) + 0.01
                    """,
                    meta=meta(
                        rule="Each order is credited to at most one campaign (last touch), so credit "
                        "never exceeds the day's sales",
                        dimension="accuracy",
                        severity="critical",
                        runbook=CREDIT,
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Rows the platform did not report (no campaign_name) carry no spend, "
                    "clicks or impressions",
                    unexpected_rows_query="""
                        select date_day, campaign_id, spend, clicks, impressions
                        from {batch}
                        where campaign_name is null and (spend != 0 or clicks != 0 or impressions != 0)
                    """,
                    meta=meta(
                        rule="A campaign day with credit but no report keeps zero spend",
                        dimension="accuracy",
                        severity="warning",
                        runbook=PLATFORM,
                    ),
                ),
                distribution_expectation(
                    ctx,
                    # A day's figures are new once the day has ended after the last publication: the
                    # partner reports a day only after it ends.
                    time_column="date_day + interval 1 day",
                    value="spend",
                    denominator="clicks",
                    measure="cost per click",
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description="Spend is reported for every day between the first and the last reported day",
                    unexpected_rows_query="""
                        select min(date_day) as first_day, max(date_day) as last_day,
                            count(distinct date_day) as days
                        from {batch}
                        where campaign_name is not null
                        having count(distinct date_day) != max(date_day) - min(date_day) + 1
                    """,
                    meta=meta(
                        rule="The partner reports spend for every day",
                        dimension="completeness",
                        severity="warning",
                        runbook=runbook(
                            means="days without any reported spend: drops lost for longer than a drop "
                            "restates (three days).",
                            look="the files in sources/ads/ around the missing days.",
                            fix="ask the partner to re-send the drops and rerun.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description=f"Spend of {day} within prediction limits from the 14 days before",
                    unexpected_rows_query=daily_control_query(
                        day="date_day", value="sum(spend)", checked_day=day, prediction=True
                    ),
                    meta=meta(
                        rule="Every day's spend arrives in full: spend within control limits",
                        dimension="completeness",
                        severity="warning",
                        runbook=runbook(
                            means="the day's spend is far from the last two weeks: campaigns missing "
                            "from the drop, or a budget change.",
                            look="the day's campaigns in the newest drop against the days before.",
                            fix="nothing is blocked; the next drop restates the day, or marketing "
                            "confirms the change.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"The newest day with reported spend is {fresh} or later "
                    f"({hours(limit)} before as-of)",
                    unexpected_rows_query=f"""
                        select max(date_day) as newest_reported_day
                        from {{batch}}
                        where campaign_name is not null
                        -- Before the partner's first drop there is nothing to judge (raw.ads_spend is
                        -- judged from its first delivery on).
                        having max(date_day) < date '{fresh}'
                    """,
                    meta=meta(
                        rule=f"Spend is known up to at most {hours(limit)} before as-of (ads source "
                        f"freshness {name}; a day's row counts as current to the end of that day)",
                        dimension="timeliness",
                        severity=severity,
                        runbook=runbook(
                            means="marketing reports stop before the partner's freshness limit: drops "
                            "are missing.",
                            look="raw.ads_spend timeliness in this report and sources/ads/.",
                            fix="get the missing drops from the partner and rerun.",
                        ),
                    ),
                )
                for name, severity, limit in freshness.limits()
                for fresh in [oldest_fresh_day(ctx.as_of, limit)]
            ],
        ),
    ]
