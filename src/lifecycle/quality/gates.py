"""The quality gates as stage functions: each judges the warehouse, records its verdict on the build it
judged (``quality.verdict``), and raises GateFailed when it fails. ``lifecycle run``, the single-stage
commands and a scheduler call these same functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.quality import verdict
from lifecycle.quality.report import ValidationReport, record_history
from lifecycle.quality.validate import validate


def audit_raw(
    settings: Settings, *, as_of: dt.datetime, run_id: str, progress: Callable[[str], None] = print
) -> ValidationReport:
    """The raw suites on the landed batches, before dbt reads them: a bad delivery never reaches staging."""
    report = validate(settings, as_of=as_of, layers=["raw"], progress=progress)
    _decide(settings, verdict.AUDIT_RAW, report, run_id, judges_marts=False)
    return report


def audit_build(
    settings: Settings, *, as_of: dt.datetime, run_id: str, progress: Callable[[str], None] = print
) -> ValidationReport:
    """Every suite of every layer on the built warehouse; results kept in ``audit.quality_results``."""
    report = validate(settings, as_of=as_of, progress=progress)
    record_history(report, settings.warehouse_path, run_id)
    progress(report.to_markdown())
    _decide(settings, "validate", report, run_id, judges_marts=True)
    return report


def _decide(
    settings: Settings, gate: str, report: ValidationReport, run_id: str, *, judges_marts: bool
) -> None:
    failed = tuple(f"{o.suite}: {o.label} [{o.observed}]" for o in report.failed_critical)
    build = verdict.current_build(settings)
    verdict.record(
        settings,
        gate,
        passed=report.passed,
        run_id=run_id,
        build=build,
        failed=failed,
        judges_marts=judges_marts,
    )
    if not report.passed:
        raise GateFailed(f"{gate}: {report.summary()} ({'; '.join(failed[:10])}); nothing was published")
