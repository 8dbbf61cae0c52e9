"""dbt's test results as quality outcomes, so the quality history and report show dbt tests beside the Great
Expectations suites and the control-limit checks, by layer and dimension.

Each test of a ``dbt build`` becomes one outcome in suite ``dbt.<layer>.<model>`` (singular tests that
span models: ``dbt.tests.<test>``). Its dimension is the test's ``meta.dimension`` if declared, else
what the kind of test checks: ``not_null`` completeness, every other kind accuracy. ``error`` severity
blocks publication (critical), ``warn`` is reported (warning).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifecycle.quality.report import ExpectationOutcome, Status, ValidationReport

#: dbt's test statuses (run_results.json) as quality statuses.
STATUSES: dict[str, Status] = {"pass": "passed", "fail": "failed", "warn": "failed", "error": "error"}


def dbt_test_outcomes(manifest: dict[str, Any], run_results: dict[str, Any]) -> list[ExpectationOutcome]:
    """One outcome per data test in ``run_results`` (unit tests and models are left out)."""
    nodes = manifest.get("nodes", {})
    outcomes = []
    for result in run_results.get("results", []):
        node = nodes.get(result.get("unique_id", ""))
        if not node or node.get("resource_type") != "test" or result.get("status") == "skipped":
            continue
        config = node.get("config") or {}
        meta = {**(node.get("meta") or {}), **(config.get("meta") or {})}
        kind = (node.get("test_metadata") or {}).get("name") or "singular"
        parent = _tested_model(node, nodes)
        layer, table = (parent["schema"], parent["name"]) if parent else ("tests", node["name"])
        failures = result.get("failures")
        dimension = meta.get("dimension") or ("completeness" if kind == "not_null" else "accuracy")
        outcomes.append(
            ExpectationOutcome(
                suite=f"dbt.{layer}.{table}",
                table=table,
                layer=layer,
                dimension=str(dimension),
                severity="warning" if str(config.get("severity", "error")).lower() == "warn" else "critical",
                expectation=node["name"],
                column=node.get("column_name"),
                description=node.get("description") or None,
                rule=node.get("description") or f"dbt {kind} test",
                status=STATUSES.get(str(result.get("status")), "error"),
                observed=f"{failures} failing row(s)" if failures is not None else str(result.get("message")),
                owner=str(meta.get("owner") or ""),
                runbook=str(meta.get("runbook") or ""),
            )
        )
    return outcomes


def as_report(outcomes: list[ExpectationOutcome], as_of: dt.datetime | None) -> ValidationReport:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return ValidationReport(as_of=as_of or now, checked_at=now, outcomes=tuple(outcomes))


def _tested_model(node: dict[str, Any], nodes: dict[str, Any]) -> dict[str, Any] | None:
    """The model a generic test is attached to (None for a singular test across models)."""
    attached = node.get("attached_node")
    if attached and attached in nodes:
        parent: dict[str, Any] = nodes[attached]
        return parent
    return None
