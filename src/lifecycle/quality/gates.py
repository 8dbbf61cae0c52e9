"""The quality gates as stage functions: each judges the warehouse, records its verdict on the build it
judged (``quality.verdict``), and raises GateFailed when it fails. ``lifecycle run``, the single-stage
commands and a scheduler call these same functions.

Besides the Great Expectations suites, a gate judges the pipeline's own records: files that lost too much
to quarantine or could not be landed (``quality.quarantine``) and restated history
(``quality.restatements``); their outcomes join the same report, history and verdict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.observability import lineage, monitoring, observe_gate, replication
from lifecycle.publish import read_publication
from lifecycle.quality import verdict
from lifecycle.quality.quarantine import MAX_SHARE, failed_loads, landed_files
from lifecycle.quality.report import ExpectationOutcome, ValidationReport, record_history
from lifecycle.quality.restatements import RELATIVE_CHANGE, accepted_days, find_restatements
from lifecycle.quality.suites import LAYERS, runbook
from lifecycle.quality.validate import validate

#: Who answers for the gates on the pipeline's own records (the owner of raw and staging in dbt_project.yml).
PIPELINE_OWNER = "data-platform"


def audit_raw(
    settings: Settings, *, as_of: dt.datetime, run_id: str, progress: Callable[[str], None] = print
) -> ValidationReport:
    """The raw suites on the landed batches, before dbt reads them: a bad delivery never reaches staging."""
    report = validate(settings, as_of=as_of, layers=["raw"], progress=progress)
    report = _with(report, pipeline_checks(settings, marts=False))
    # The replication slot is watched whatever the gate decides: a slot holding back the source server's
    # WAL does not make the landed data wrong, but its owner must hear before that server's disk fills.
    replication.watch_slot(settings, run_id)
    _decide(settings, verdict.AUDIT_RAW, report, run_id, as_of, judges_marts=False)
    return report


def audit_build(
    settings: Settings, *, as_of: dt.datetime, run_id: str, progress: Callable[[str], None] = print
) -> ValidationReport:
    """Every suite of every layer on the built warehouse; results kept in ``audit.quality_results``."""
    with lineage.job(settings, "validate") as job:
        report = validate(settings, as_of=as_of, progress=progress)
        report = _with(report, pipeline_checks(settings, marts=True))
        job.inputs += [
            lineage.warehouse_table(settings, o.layer, o.table) for o in report.outcomes if o.layer in LAYERS
        ]
    record_history(report, settings.warehouse_path, run_id)
    # The watch on the marts' figures runs whatever the gate decides: an anomaly is worth knowing either way.
    monitoring.watch(settings, run_id, as_of)
    progress(report.to_markdown())
    _decide(settings, "validate", report, run_id, as_of, judges_marts=True)
    return report


def _with(report: ValidationReport, outcomes: list[ExpectationOutcome]) -> ValidationReport:
    return dataclasses.replace(report, outcomes=(*report.outcomes, *outcomes))


def _decide(
    settings: Settings,
    gate: str,
    report: ValidationReport,
    run_id: str,
    as_of: dt.datetime,
    *,
    judges_marts: bool,
) -> None:
    failed = tuple(f"{o.suite}: {o.label} [{o.observed}]" for o in report.failed_critical)
    build = verdict.current_build(settings, marts=judges_marts)
    verdict.record(
        settings,
        gate,
        passed=report.passed,
        run_id=run_id,
        build=build,
        as_of=as_of,
        failed=failed,
        judges_marts=judges_marts,
    )
    observe_gate(settings, run_id, gate, report.outcomes)
    if not report.passed:
        raise GateFailed(f"{gate}: {report.summary()} ({'; '.join(failed[:10])}); nothing was published")


def pipeline_checks(settings: Settings, *, marts: bool) -> list[ExpectationOutcome]:
    """The gates on the pipeline's own records: quarantine and failed loads since the current publication
    (raw), and, when the marts are judged, restated history."""
    published = read_publication(settings)
    since = dt.datetime.fromisoformat(published["published_at"]) if published else dt.datetime.min
    files = landed_files(settings, since)
    too_many = [f for f in files if f.too_many]
    failed = failed_loads(settings, since)
    outcomes = [
        _check(
            "raw.ingestion.completeness",
            "quarantined share of each landed file",
            dimension="completeness",
            rule=f"A source file loses at most {MAX_SHARE:.0%} of its records to quarantine",
            runbook=runbook(
                means="a delivery is damaged or its format changed: publishing would silently miss records.",
                look="raw._quarantine for the named file (line, raw text, reason) and the source's recent "
                "deliveries.",
                fix="get a corrected file from the source (a redelivery lands as a new file) or fix the "
                "declared schema in src/lifecycle/ingest/schemas.py if the source changed on purpose.",
            ),
            problems=[f.describe() for f in too_many],
            fine=f"{len(files)} file(s) within the contract, {sum(f.quarantined for f in files)} record(s) "
            "quarantined",
        ),
        _check(
            "raw.ingestion.completeness",
            "source files that could not be landed",
            dimension="completeness",
            rule="Every delivered file and change-log read lands whole",
            runbook=runbook(
                means="a file or a read of the application database failed, so its data is missing.",
                look="raw._ingest_log (status failed, error) and the named file.",
                fix="replace or remove the broken delivery and rerun; a file that lands later clears this.",
            ),
            problems=[f.describe() for f in failed],
            fine="every delivery landed",
        ),
    ]
    if marts:
        accepted = accepted_days(settings)
        found = find_restatements(settings)
        blocking = [r.describe() for r in found if r.day.isoformat() not in accepted]
        waived = [r.describe() for r in found if r.day.isoformat() in accepted]
        outcomes.append(
            _check(
                "marts.restatements.accuracy",
                "settled published figures restated",
                dimension="accuracy",
                rule=f"A settled day's orders, gross revenue or final ad spend moves by at most "
                f"{RELATIVE_CHANGE:.0%} (or to zero) unless an operator accepts it "
                "(`lifecycle run --accept-restatement DAY`)",
                problems=blocking,
                runbook=runbook(
                    means="a figure finance already saw for a settled day would change: a replayed or bulk-"
                    "updated source, or the partner restating a closed day.",
                    look="the before → after figures here, the source's recent changes for that day.",
                    fix="correct the source and rerun, or accept the new figures with "
                    "`lifecycle run --accept-restatement DAY` (recorded with the publication).",
                ),
                fine="no settled figure moved"
                + (f"; accepted by an operator: {'; '.join(waived[:10])}" if waived else ""),
            )
        )
    return outcomes


def _check(
    suite: str, name: str, *, dimension: str, rule: str, runbook: str, problems: list[str], fine: str
) -> ExpectationOutcome:
    layer, table, _ = suite.split(".")
    return ExpectationOutcome(
        suite=suite,
        table=table,
        layer=layer,
        dimension=dimension,
        severity="critical",
        expectation=name,
        column=None,
        description=name,
        rule=rule,
        owner=PIPELINE_OWNER,
        runbook=runbook,
        status="failed" if problems else "passed",
        observed="; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else "")
        if problems
        else fine,
    )
