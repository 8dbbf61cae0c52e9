"""Checks on raw.app_orders (the application's order changes) before dbt runs."""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta

#: Orders change around the clock; a silent change log for a day means CDC is broken.
MAX_CHANGE_LAG = datetime.timedelta(hours=26)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every order change carries {column}",
                            dimension="completeness",
                            severity="critical",
                        ),
                    )
                    for column in ("_change_id", "order_id", "placed_at")
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="_changed_at",
                    min_value=ctx.as_of - MAX_CHANGE_LAG,
                    meta=meta(
                        rule="The application's change log is at most 26 hours behind as-of",
                        dimension="timeliness",
                        severity="critical",
                    ),
                ),
            ],
        ),
    ]
