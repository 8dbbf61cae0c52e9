"""Observability: run history in the warehouse's ``observability`` schema, monitoring of the marts on that
history, incidents with alerts routed to owners, ``lifecycle status``, and OpenLineage events of every stage.

The stage functions record themselves here (the gates their checks, ``transform`` its nodes, ``publish`` its
publication), so any caller — ``lifecycle run``, a single-stage command, Dagster — leaves the same history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifecycle.config import Settings
from lifecycle.observability.alerts import Alert
from lifecycle.observability.incidents import observe_checks, states_of
from lifecycle.quality.report import ExpectationOutcome


def observe_gate(
    settings: Settings,
    run_id: str,
    gate: str,
    outcomes: Sequence[ExpectationOutcome],
    samples: dict[str, str] | None = None,
) -> list[Alert]:
    """Record a gate's check results for ``run_id`` and open or resolve the incidents they mean."""
    return observe_checks(settings, run_id, gate, states_of(settings, outcomes, samples))


def model_outcomes(manifest: dict[str, Any], run_results: dict[str, Any]) -> list[ExpectationOutcome]:
    """Each model, seed or snapshot of a dbt command as a check that it built: an erroring model fails the
    ``dbt build`` gate like a failing test, and its owner must hear about it too."""
    nodes = manifest.get("nodes", {})
    outcomes = []
    for result in run_results.get("results", []):
        node = nodes.get(result.get("unique_id", "")) or {}
        kind = node.get("resource_type")
        if kind not in ("model", "seed", "snapshot") or result.get("status") == "skipped":
            continue
        meta = (node.get("config") or {}).get("meta") or {}
        failed = result.get("status") in ("error", "runtime error")
        outcomes.append(
            ExpectationOutcome(
                suite=f"dbt.{node.get('schema', '')}.{node['name']}",
                table=str(node["name"]),
                layer=str(node.get("schema", "")),
                dimension="completeness",
                severity="critical",
                expectation=f"{kind} builds",
                column=None,
                description=None,
                rule=f"The {kind} {node['name']} builds without error",
                status="error" if failed else "passed",
                observed=str(result.get("message") or "")[:1000],
                owner=str(meta.get("owner") or ""),
                runbook=str(
                    meta.get("runbook")
                    or f"{node.get('original_file_path', '')}: read the error "
                    "in state/dbt-logs/dbt.log, fix the SQL or its input, rerun `lifecycle run`."
                ),
            )
        )
    return outcomes
