"""The quality gates as blocking asset checks: ``audit raw`` on the landed sources, ``validate`` on the marts.

Each check op calls the gate function ``lifecycle run`` calls (``quality.gates``), which judges and records
its verdict; the op then shows each asset the part of that verdict about it (``gate_checks``). A failed
check is blocking: nothing downstream of its asset runs in that run, so a bad day stops before dbt or before
publication. ``publish`` would refuse the build anyway — the verdict, not the order of the steps, is what
protects the publication.
"""

# No `from __future__ import annotations`: Dagster reads the annotations of the functions it decorates
# (contexts, resources) as types.

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    Failure,
    multi_asset_check,
)

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.orchestration.gate_checks import (
    GREAT_EXPECTATIONS,
    INGESTION_CONTRACT,
    RAW_SUITES,
    SETTLED_FIGURES,
    build_check_keys,
    failures_by_check,
    raw_check_keys,
)
from lifecycle.orchestration.partitions import run_as_of, run_label
from lifecycle.orchestration.resources import LifecycleResource
from lifecycle.orchestration.retries import RETRY_POLICY, stage

#: Run tag: days (YYYY-MM-DD, comma-separated) whose restated settled figures an operator accepts, as
#: ``lifecycle run --accept-restatement`` does.
ACCEPT_RESTATEMENT_TAG = "lifecycle/accept_restatement"

DESCRIPTIONS = {
    RAW_SUITES: "Great Expectations suites of this source's raw tables (gate `audit raw`, before dbt).",
    INGESTION_CONTRACT: "Every delivery landed and no file lost more than its share to quarantine (gate "
    "`audit raw`; judged across all sources).",
    GREAT_EXPECTATIONS: "Great Expectations suites of this table (gate `validate`, before publication).",
    SETTLED_FIGURES: "No settled, published figure restated beyond its threshold unless accepted (gate "
    "`validate`; judged over fct_orders and fct_marketing_daily).",
}


def _specs(keys: Iterable[AssetCheckKey]) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(key.name, asset=key.asset_key, blocking=True, description=DESCRIPTIONS[key.name])
        for key in keys
    ]


def gate_checks(expectations_dir: Path, models: Sequence[AssetKey]) -> list[AssetChecksDefinition]:
    """The ``audit raw`` gate on the raw assets and the ``validate`` gate on the modelled tables."""
    raw_keys = raw_check_keys(expectations_dir)
    build_keys = build_check_keys(expectations_dir, models)

    @multi_asset_check(name="audit_raw", specs=_specs(raw_keys), retry_policy=RETRY_POLICY)
    def audit_raw_gate(
        context: AssetCheckExecutionContext, lifecycle: LifecycleResource
    ) -> Iterator[AssetCheckResult]:
        from lifecycle.quality.gates import audit_raw
        from lifecycle.quality.verdict import AUDIT_RAW

        settings = lifecycle.settings()
        as_of = run_as_of(context)
        yield from _judge(
            context,
            settings,
            AUDIT_RAW,
            raw_keys,
            lambda: audit_raw(
                settings, as_of=as_of, run_id=run_label(context), progress=context.log.info
            ).summary(),
        )

    @multi_asset_check(name="validate", specs=_specs(build_keys), retry_policy=RETRY_POLICY)
    def validate_gate(
        context: AssetCheckExecutionContext, lifecycle: LifecycleResource
    ) -> Iterator[AssetCheckResult]:
        from lifecycle.quality.gates import audit_build
        from lifecycle.quality.restatements import accept

        settings = lifecycle.settings()
        as_of = run_as_of(context)
        accepted = accepted_days(context.run.tags.get(ACCEPT_RESTATEMENT_TAG, ""))

        def judge() -> str:
            if accepted:
                accept(settings, accepted)
            return audit_build(
                settings, as_of=as_of, run_id=run_label(context), progress=context.log.info
            ).summary()

        yield from _judge(context, settings, "validate", build_keys, judge)

    return [audit_raw_gate, validate_gate]


def accepted_days(tag: str) -> list[dt.date]:
    try:
        return [dt.date.fromisoformat(day.strip()) for day in tag.split(",") if day.strip()]
    except ValueError as exc:
        raise Failure(
            f"{ACCEPT_RESTATEMENT_TAG}={tag!r}: expected YYYY-MM-DD[,YYYY-MM-DD...]", allow_retries=False
        ) from exc


def _judge(
    context: AssetCheckExecutionContext,
    settings: Settings,
    gate: str,
    keys: Sequence[AssetCheckKey],
    judge: Callable[[], str],
) -> Iterator[AssetCheckResult]:
    """Run ``judge`` (a gate), then yield each selected check's part of the verdict it recorded."""
    from lifecycle.quality.verdict import load_verdicts

    failed: GateFailed | None = None
    summary = ""
    with stage(context, settings, gate):
        try:
            summary = judge()
        except GateFailed as error:
            failed = error
    verdict = load_verdicts(settings).get(gate)
    lines = verdict.failed if verdict is not None and verdict.run_id == run_label(context) else ()
    by_check = failures_by_check(lines)
    shown = False
    for key in keys:
        if key not in context.selected_asset_check_keys:
            continue
        problems = by_check.get(key, [])
        shown = shown or bool(problems)
        yield AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "gate": gate,
                "gate_result": summary if failed is None else "failed",
                "failed_checks": "\n".join(problems) or "none",
            },
        )
    if failed is not None and not shown:
        # The gate failed on something no selected check shows: the step fails, nothing downstream runs.
        raise Failure(description=str(failed), allow_retries=False)
