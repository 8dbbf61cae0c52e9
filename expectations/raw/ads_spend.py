"""Checks on raw.ads_spend (the ad platform's drops) before dbt runs."""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta

#: The partner drops daily; two missed drops in a row means marketing numbers are stale.
MAX_DROP_AGE = datetime.timedelta(days=2)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
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
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column,
                        min_value=0,
                        meta=meta(
                            rule=f"{column} is never negative", dimension="accuracy", severity="critical"
                        ),
                    )
                    for column in ("impressions", "clicks", "spend")
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="channel",
                    value_set=["paid_search", "paid_social", "display"],
                    meta=meta(
                        rule="Spend is reported on the channels marketing attributes to",
                        dimension="accuracy",
                        severity="critical",
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="date",
                    min_value=ctx.as_of_date - MAX_DROP_AGE,
                    meta=meta(
                        rule="Ad spend is known up to two days before as-of (the partner drops daily)",
                        dimension="timeliness",
                        severity="critical",
                    ),
                ),
            ],
        ),
    ]
