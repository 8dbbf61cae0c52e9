"""Checks on raw.events_clickstream before dbt runs: a missing or late clickstream delivery stops here.

Volume is judged per event day against the two weeks before it (statistical process control), over a
bounded window, so the check costs the same however long the history grows.
"""

from __future__ import annotations

import datetime

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, meta

#: Newest event may be at most this old at as-of (the site never sleeps for 6 hours).
MAX_EVENT_LAG = datetime.timedelta(hours=6)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=(
                        f"Events of {ctx.last_complete_day} within mean ± 3σ of the 14 days before (SPC)"
                    ),
                    unexpected_rows_query=daily_control_query(
                        day="event_time", value="count(distinct event_id)", checked_day=ctx.last_complete_day
                    ),
                    meta=meta(
                        rule="Every day's clickstream arrives in full: volume within control limits",
                        dimension="completeness",
                        severity="critical",
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every landed event has its {column}",
                            dimension="completeness",
                            severity="critical",
                        ),
                    )
                    for column in ("event_id", "event_type", "event_time", "anonymous_id")
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                gxe.ExpectColumnMaxToBeBetween(
                    column="event_time",
                    min_value=ctx.as_of - MAX_EVENT_LAG,
                    meta=meta(
                        rule="The clickstream is at most 6 hours behind as-of (freshness SLA)",
                        dimension="timeliness",
                        severity="critical",
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="Newest delivery ingested within 2 hours of the newest event (ingestion lag)",
                    unexpected_rows_query="""
                        select max(event_time) as newest_event, max(_ingested_at) as newest_ingest
                        from {batch}
                        having max(_ingested_at) < max(event_time) - interval 2 hour
                    """,
                    meta=meta(
                        rule="Ingestion keeps up with delivery: newest ingest not far behind newest event",
                        dimension="timeliness",
                        severity="warning",
                    ),
                ),
            ],
        ),
    ]
