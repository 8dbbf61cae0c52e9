"""Checks on raw.ads_spend (the ad platform's drops) before dbt runs.

The channels come from the seed ``marketing_channels`` (its CSV: this check runs before dbt loads seeds),
the freshness limits from the source (``config: freshness:`` in models/staging/ads/_ads__sources.yml).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, hours, meta, oldest_fresh_day, runbook


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    freshness = ctx.dbt.freshness(ctx.table)
    paid_channels = [row["channel"] for row in ctx.dbt.seed("marketing_channels") if row["is_paid"] == "true"]
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=["_source_file", "date", "campaign_id"],
                    meta=meta(
                        rule="A drop reports each (day, campaign) once; a duplicate is ambiguous",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="one drop holds two rows for the same day and campaign, so nobody can "
                            "tell which spend is right.",
                            look="the duplicated (date, campaign_id) rows of that _source_file.",
                            fix="ask the partner for a corrected drop and re-land it; do not pick a row.",
                        ),
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column,
                        min_value=0,
                        meta=meta(
                            rule=f"{column} is never negative",
                            dimension="accuracy",
                            severity="critical",
                            runbook=runbook(
                                means=f"the drop reports a negative {column}, which the platform cannot "
                                "have measured.",
                                look="the rows with _source_file; compare with the partner's dashboard.",
                                fix="ask the partner for a corrected drop and re-land it.",
                            ),
                        ),
                    )
                    for column in ("impressions", "clicks", "spend")
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="channel",
                    value_set=paid_channels,
                    meta=meta(
                        rule="Spend is reported on the paid channels of the seed marketing_channels",
                        dimension="accuracy",
                        severity="critical",
                        runbook=runbook(
                            means="the drop names a channel marketing does not attribute to, so its "
                            "spend would fall out of every channel report.",
                            look="the unexpected channel values and seeds/marketing_channels.csv.",
                            fix="a renamed or new channel: add it to the seed (reviewed) and rerun; a "
                            "typo in the feed: ask the partner for a corrected drop.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=f"the newest ad day is at least {oldest_fresh_day(ctx.as_of, limit)}",
                    # Stale only once the platform has been running for longer than the limit: on the
                    # first runs of a new data directory the partner cannot have delivered yet.
                    unexpected_rows_query=f"""
                        select newest_day, first_run_as_of
                        from (
                            select
                                (select max(date) from {{batch}}) as newest_day,
                                (select min(as_of) from raw._ingest_log) as first_run_as_of
                        )
                        where (newest_day is null or newest_day < date '{oldest_fresh_day(ctx.as_of, limit)}')
                            and first_run_as_of < timestamp '{ctx.as_of - limit}'
                    """,
                    meta=meta(
                        rule=f"Ad spend is known up to at most {hours(limit)} before as-of (a day's row "
                        f"counts as current to the end of that day; source freshness {name}), counted "
                        "from the first run of this data directory",
                        dimension="timeliness",
                        severity=severity,
                        runbook=runbook(
                            means="the partner's daily drops stopped, so spend, ROAS and CAC would be "
                            "published stale.",
                            look="the newest files in sources/ads/ and raw._ingest_log for the ads source.",
                            fix="get the missing drops from the partner and rerun; each drop restates "
                            "the days before it, so the next drop also repairs late days.",
                        ),
                    ),
                )
                for name, severity, limit in freshness.limits()
            ],
        ),
    ]
