"""Checks on raw.app_orders (the application's order changes) before dbt runs.

Freshness limits are the source's own (``config: freshness:`` in models/staging/app/_app__sources.yml).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, hours, meta, runbook


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    freshness = ctx.dbt.freshness(ctx.table)
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
                            runbook=runbook(
                                means=f"the change log delivered order changes without {column}; staging "
                                "cannot place them in the order's history.",
                                look="those rows of raw.app_orders (_batch_id, _change_id) and the "
                                "application's change_log trigger.",
                                fix="fix the trigger or the reader, then re-land the batch; never patch raw.",
                            ),
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
                    min_value=ctx.as_of - limit,
                    meta=meta(
                        rule=f"The application's change log is at most {hours(limit)} behind as-of "
                        f"(source freshness {name})",
                        dimension="timeliness",
                        severity=severity,
                        runbook=runbook(
                            means="no order change arrived for longer than the limit: CDC from the "
                            "application stopped, so orders and revenue would be published stale.",
                            look="raw._ingest_log for the app source (watermark, rows read), the newest "
                            "_changed_at in raw.app_orders and the application's change_log.",
                            fix="restart the change-log reader and rerun; a shop that really took no "
                            "orders is accepted by rerunning once its next change has landed.",
                        ),
                    ),
                )
                for name, severity, limit in freshness.limits()
            ],
        ),
    ]
