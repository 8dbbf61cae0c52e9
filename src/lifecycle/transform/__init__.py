"""Transformation: ``dbt build`` over the warehouse (through ``lifecycle.dbt_runner``).

dbt's own output streams to the terminal as progress; a failed build raises with the failing nodes named.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from typing import Any

import duckdb

from lifecycle.config import Settings
from lifecycle.dbt_runner import DbtResult, NodeFailure, run_dbt
from lifecycle.errors import GateFailed
from lifecycle.observability import history, lineage, model_outcomes, observe_gate
from lifecycle.quality import verdict
from lifecycle.quality.dbt_tests import as_report, dbt_test_outcomes
from lifecycle.quality.report import record_history
from lifecycle.storage import connect_warehouse, ensure_raw_bookkeeping


def transform(
    settings: Settings,
    *,
    as_of: dt.datetime | None = None,
    select: Sequence[str] = (),
    full_refresh: bool = False,
    unit_tests: bool = False,
    run_id: str | None = None,
) -> DbtResult:
    """``dbt build``: seeds, snapshots, models and their tests in DAG order. Error-severity failures raise.

    Either way the gate's verdict is recorded on the build it produced, and the build's dbt artifacts are
    kept in ``state/build`` (a publication of this build keeps them as the production state).

    dbt unit tests check the SQL against fixed inputs, so they belong to CI and pull-request checks
    (``make test``, ``make ci-pr``), not to every production run: ``unit_tests=True`` includes them.
    """
    args = ["build"]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", *select]
    if full_refresh:
        args.append("--full-refresh")
    # The erasure log is a dbt source (stg_app__customers reads it): a warehouse made before it existed
    # gets an empty one rather than a failed build.
    with connect_warehouse(settings) as con:
        ensure_raw_bookkeeping(con)
    result = run_dbt(settings, args, as_of=as_of)
    failures = result.failures
    _keep_build_artifacts(settings)
    run_id = run_id or f"manual-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    _record_test_history(settings, manifest, result, run_id, as_of)
    history.record_dbt_nodes(settings, run_id, result.run_results)
    lineage.emit_dbt(settings, result.target_dir)
    observe_gate(
        settings,
        run_id,
        "dbt build",
        [*dbt_test_outcomes(manifest, result.run_results), *model_outcomes(manifest, result.run_results)],
        samples={
            f.name: _sample(settings, f.relation).removeprefix("; e.g. ") for f in failures if f.relation
        },
    )
    verdict.record(
        settings,
        "dbt build",
        passed=not failures,
        run_id=run_id,
        build=verdict.current_build(settings),
        as_of=as_of,
        failed=tuple(f"{f.name} ({f.status}): {f.message[:200]}" for f in failures),
        dbt_invocation_id=result.invocation_id,
    )
    if failures:
        lines = "\n".join(
            f"  - {f.name} ({f.status}): {f.message}{_sample(settings, f.relation)}{_owner(manifest, f)}"
            for f in failures[:10]
        )
        raise GateFailed(
            f"dbt build: {len(failures)} failing node(s); nothing was published:\n{lines}\n"
            f"  all failing rows: schema `audit` in {settings.warehouse_path}; "
            f"log: {settings.dbt_log_dir / 'dbt.log'}"
        )
    return result


def _owner(manifest: dict[str, Any], failure: NodeFailure) -> str:
    """` → owner X; runbook: …` from a failing test's meta, so the failure says who acts and how."""
    node = manifest.get("nodes", {}).get(failure.unique_id) or {}
    meta = (node.get("config") or {}).get("meta") or {}
    if not meta.get("owner"):
        return ""
    return f" → owner {meta['owner']}" + (f"; runbook: {meta['runbook']}" if meta.get("runbook") else "")


def _record_test_history(
    settings: Settings, manifest: dict[str, Any], result: DbtResult, run_id: str, as_of: dt.datetime | None
) -> None:
    """dbt's test results join the quality history (``audit.quality_results``) beside GE's."""
    outcomes = dbt_test_outcomes(manifest, result.run_results)
    if outcomes:
        record_history(as_report(outcomes, as_of), settings.warehouse_path, run_id)


def _keep_build_artifacts(settings: Settings) -> None:
    target = settings.build_state_dir
    target.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "run_results.json"):
        shutil.copyfile(settings.dbt_target_dir / name, target / name)


def _sample(settings: Settings, relation: str | None, rows: int = 3) -> str:
    """A few of a failing test's stored rows, to show in the error (dbt has exited: the file is free)."""
    if not relation:
        return ""
    try:
        with connect_warehouse(settings, read_only=True) as con:
            cursor = con.execute(f"select * from {relation} limit {rows}")
            columns = [c[0] for c in cursor.description]
            sample = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error:
        return ""
    return f"; e.g. {sample}"
