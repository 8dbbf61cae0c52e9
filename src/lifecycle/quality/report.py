"""The outcome of one ``lifecycle validate``: one record per expectation, the gate decision, and its history.

Critical failures (and expectations that could not be evaluated) fail the gate; warnings are only reported.
Every failure is printed with its owner and runbook, so whoever reads it knows who acts and how. History is
appended to ``audit.quality_results`` in the warehouse, one row per expectation per run.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from lifecycle.errors import LifecycleError
from lifecycle.storage import connect

Status = Literal["passed", "failed", "error", "skipped"]

#: Columns of ``audit.quality_results``, in order; ``to_rows()`` yields all but ``run_id``.
HISTORY_COLUMNS: dict[str, str] = {
    "run_id": "varchar",
    "checked_at": "timestamp",
    "suite": "varchar",
    "layer": "varchar",
    "dimension": "varchar",
    "severity": "varchar",
    "expectation": "varchar",
    "success": "boolean",
    "observed": "varchar",
}


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, with the business rule, consequence, owner and runbook its suite declared."""

    suite: str
    table: str
    layer: str
    dimension: str
    severity: str
    expectation: str
    column: str | None
    description: str | None
    rule: str
    status: Status
    observed: str
    owner: str = ""
    runbook: str = ""

    @property
    def success(self) -> bool | None:
        """True passed, False failed or could not be evaluated, None skipped."""
        return None if self.status == "skipped" else self.status == "passed"

    @property
    def label(self) -> str:
        """Expectation type with its column, or its description when it has none (custom SQL)."""
        if self.column:
            return f"{self.expectation}({self.column})"
        return f"{self.expectation}: {self.description}" if self.description else self.expectation


@dataclass(frozen=True)
class ValidationReport:
    """Every expectation of one ``validate`` call, in suite order, and where its Data Docs are."""

    as_of: datetime.datetime
    checked_at: datetime.datetime
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs: Path | None = None

    @property
    def passed(self) -> bool:
        """The gate: no critical expectation failed or errored (skipped suites do not count)."""
        return not self.failed_critical

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == "critical" and o.success is False]

    @property
    def warned(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == "warning" and o.success is False]

    @property
    def skipped(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    def summary(self) -> str:
        """One line, e.g. ``quality gate failed: 2 critical failures, 1 warning, 40 passed, 6 skipped``, then
        for a failed gate who acts on each failed critical check and its runbook."""
        if self.passed:
            return self._counts()
        actions = dict.fromkeys(
            f"{o.suite}: {o.label} → owner {o.owner or 'unknown'}; runbook: {o.runbook or 'none'}"
            for o in self.failed_critical
        )
        return f"{self._counts()} — {' | '.join(actions)}"

    def _counts(self) -> str:
        counts = [
            f"{len(self.failed_critical)} critical failure" + ("" if len(self.failed_critical) == 1 else "s"),
            f"{len(self.warned)} warning" + ("" if len(self.warned) == 1 else "s"),
            f"{sum(o.status == 'passed' for o in self.outcomes)} passed",
            f"{len(self.skipped)} skipped",
        ]
        return f"quality gate {'passed' if self.passed else 'failed'}: {', '.join(counts)}"

    def to_markdown(self) -> str:
        """Suites with their counts, then every failure and warning with the rule it protects."""
        lines = [f"## Data quality as of {self.as_of:%Y-%m-%d %H:%M}", "", self._counts(), ""]
        lines += ["| suite | passed | failed | skipped |", "|---|---:|---:|---:|"]
        for suite in dict.fromkeys(o.suite for o in self.outcomes):
            statuses = [o.status for o in self.outcomes if o.suite == suite]
            failed = statuses.count("failed") + statuses.count("error")
            lines.append(f"| {suite} | {statuses.count('passed')} | {failed} | {statuses.count('skipped')} |")
        problems = self.failed_critical + self.warned
        if problems:
            lines += [
                "",
                "| severity | suite | expectation | rule | observed | owner | runbook |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {o.severity} | {o.suite} | {_cell(o.label)} | {_cell(o.rule)} | {_cell(o.observed)} "
                f"| {_cell(o.owner)} | {_cell(o.runbook)} |"
                for o in problems
            ]
        if self.data_docs is not None:
            lines += ["", f"Data Docs: {self.data_docs}"]
        return "\n".join(lines) + "\n"

    def to_rows(self) -> list[dict[str, object]]:
        """One history row per expectation (the ``audit.quality_results`` columns but ``run_id``)."""
        return [
            {
                "checked_at": self.checked_at,
                "suite": o.suite,
                "layer": o.layer,
                "dimension": o.dimension,
                "severity": o.severity,
                "expectation": o.label,
                "success": o.success,
                "observed": o.observed,
            }
            for o in self.outcomes
        ]


def record_history(report: ValidationReport, warehouse_path: Path, run_id: str) -> int:
    """Append the report to ``audit.quality_results``; recording a run id again replaces its rows.

    Opens its own short read-write connection: call it once ``validate`` has returned (GE's are closed then).
    """
    rows = report.to_rows()
    suites = sorted({o.suite for o in report.outcomes})
    columns = ", ".join(f"{name} {type_}" for name, type_ in HISTORY_COLUMNS.items())
    names = ", ".join(HISTORY_COLUMNS)
    placeholders = ", ".join("?" for _ in HISTORY_COLUMNS)
    try:
        with connect(warehouse_path) as con:
            con.execute("create schema if not exists audit")
            con.execute(f"create table if not exists audit.quality_results ({columns})")
            con.begin()
            con.execute(
                "delete from audit.quality_results where run_id = ? and list_contains(?, suite)",
                [run_id, suites],
            )
            if rows:
                con.executemany(
                    f"insert into audit.quality_results ({names}) values ({placeholders})",
                    [[run_id, *(row[name] for name in list(HISTORY_COLUMNS)[1:])] for row in rows],
                )
            con.commit()
    except duckdb.Error as error:
        raise LifecycleError(
            f"Could not record quality results in {warehouse_path} (audit.quality_results): {error}"
        ) from error
    return len(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
