"""Checks on raw.events_clickstream before dbt runs: a missing or late clickstream delivery stops here.

Volume is judged per event day against the two weeks before it (statistical process control), over a
bounded window, so the check costs the same however long the history grows. Freshness limits are the
source's own (``config: freshness:`` in models/staging/events/_events__sources.yml).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.spc import daily_control_query
from lifecycle.quality.suites import SuiteContext, hours, meta, runbook

LATE_OR_MISSING = runbook(
    means="clickstream deliveries stopped or arrived incomplete, so sessions, the funnel and attribution "
    "would be published short.",
    look="the newest folders under sources/events/ (hourly, by arrival), raw._ingest_log and "
    "raw._quarantine for the events source, and the producer's status.",
    fix="have the missing hours re-delivered and rerun (ingestion lands them exactly once); a real outage "
    "of the site is accepted by rerunning once later deliveries show it is over.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    freshness = ctx.dbt.freshness(ctx.table)
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.UnexpectedRowsExpectation(
                    description=(
                        f"Events of {ctx.last_complete_day} within ± 3σ of the 28 prior days by weekday (SPC)"
                    ),
                    unexpected_rows_query=daily_control_query(
                        day="event_time",
                        value="count(distinct event_id)",
                        checked_day=ctx.last_complete_day,
                        weekly=True,
                    ),
                    meta=meta(
                        rule="Every day's clickstream arrives in full: volume within control limits",
                        dimension="completeness",
                        severity="critical",
                        runbook=LATE_OR_MISSING,
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every landed event has its {column}",
                            dimension="completeness",
                            severity="critical",
                            runbook=runbook(
                                means=f"events without {column} were landed; staging would drop or "
                                "misplace them.",
                                look="the rows' _source_file and _line_number, and the event the producer "
                                "sent there.",
                                fix="the producer must fill the field; have the file re-delivered and rerun.",
                            ),
                        ),
                    )
                    for column in ("event_id", "event_type", "event_time", "anonymous_id")
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("timeliness"),
            expectations=[
                *(
                    gxe.ExpectColumnMaxToBeBetween(
                        column="event_time",
                        min_value=ctx.as_of - limit,
                        meta=meta(
                            rule=f"The clickstream is at most {hours(limit)} behind as-of "
                            f"(source freshness {name})",
                            dimension="timeliness",
                            severity=severity,
                            runbook=LATE_OR_MISSING,
                        ),
                    )
                    for name, severity, limit in freshness.limits()
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
                        runbook=runbook(
                            means="the newest events claim to have happened after they were landed: "
                            "device clocks ahead of UTC, or landing times from a replay.",
                            look="the newest rows' event_time against _ingested_at and _source_file.",
                            fix="nothing is blocked; report persistent clock skew to the producer.",
                        ),
                    ),
                ),
            ],
        ),
    ]
