"""The lifecycle's stages as assets: each source's raw tables, dbt's models, the publication, the docs site.

Every asset calls the stage function that ``lifecycle run`` calls (``ingest``, ``transform``, ``publish``,
``build_docs``); none re-implements one. dbt runs through ``transform``, the project's one dbt runner with
its environment (as-of, audit window, PII salt check), its kept artifacts and its "dbt build" verdict; the
models it built and the tests it ran are then reported from its ``run_results.json`` as materialisations
and asset checks. ``publish`` keeps the write–audit–publish rule: it publishes only a build whose every
gate passed, whoever calls it.
"""

# No `from __future__ import annotations`: Dagster reads the annotations of the functions it decorates
# (contexts, resources) as types.

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
    multi_asset,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from lifecycle.errors import GateFailed
from lifecycle.orchestration.clock import require_forward
from lifecycle.orchestration.gate_checks import SOURCES, raw_key
from lifecycle.orchestration.partitions import run_as_of, run_label
from lifecycle.orchestration.resources import LifecycleResource
from lifecycle.orchestration.retries import RETRY_POLICY, SourcesNotReady, stage

#: One run per day. Days run in order because the instance runs one run at a time, first queued first
#: (``run_queue.max_concurrent_runs: 1``, see ``serve``), and a backfill queues its days in date order;
#: ``clock.require_forward`` refuses a day that comes after a later one.
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)

PUBLICATION = AssetKey("publication")
DOCS_SITE = AssetKey("docs_site")
#: The dbt source ``privacy.erasure_requests`` (``raw._erasure_requests``), kept by the privacy stage.
ERASURE_LOG = raw_key("privacy")

#: dbt nodes that are assets; tests are asset checks.
_DBT_ASSETS = ("model", "seed", "snapshot")


class LifecycleTranslator(DagsterDbtTranslator):
    """dbt's sources are the raw tables that a source's ingestion lands (all of ``app.*`` are ``raw/app``);
    models are grouped by layer (staging, intermediate, marts)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_key(dbt_resource_props["source_name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        kind = dbt_resource_props["resource_type"]
        if kind == "model":
            return str(dbt_resource_props["fqn"][1])
        if kind in ("seed", "snapshot"):
            return f"{kind}s"
        return super().get_group_name(dbt_resource_props)


def translator() -> LifecycleTranslator:
    return LifecycleTranslator(settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True))


def ingest_assets(partitions: PartitionsDefinition) -> AssetsDefinition:
    """One asset per source; one ``ingest`` call lands all three (it loads each source independently)."""

    @multi_asset(
        name="ingest",
        specs=[
            AssetSpec(
                raw_key(source),
                group_name="ingestion",
                description=f"The `{source}` source landed in the warehouse's append-only raw schema.",
                kinds={"duckdb"},
            )
            for source in SOURCES
        ]
        + [
            AssetSpec(
                ERASURE_LOG,
                group_name="ingestion",
                description="The erasure requests (from the shop's deletions and `lifecycle erase`) that the "
                "privacy stage applied to every copy of the data; staging reads them.",
                kinds={"duckdb"},
            )
        ],
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        retry_policy=RETRY_POLICY,
    )
    def ingest_sources(
        context: AssetExecutionContext, lifecycle: LifecycleResource
    ) -> Iterator[MaterializeResult[None]]:
        from lifecycle.ingest import ingest

        settings = lifecycle.settings()
        as_of = run_as_of(context)
        with stage(context, settings, "ingest"):
            require_forward(settings, as_of)
            results = ingest(settings, as_of=as_of, progress=context.log.info)
        problems = [f"{r.source}: {e}" for r in results for e in r.errors]
        # A file still being written cannot be read yet: land it on a later attempt. After the last one the
        # run goes on, and the raw gate judges what could not be landed (as `lifecycle run` does).
        if problems and context.retry_number < RETRY_POLICY.max_retries:
            raise SourcesNotReady(f"{len(problems)} source(s) could not be landed yet: {problems[0]}")
        # Erasure and retention before anything is built from raw, as in `lifecycle run`.
        from lifecycle.privacy import apply_privacy

        with stage(context, settings, "privacy"):
            applied = apply_privacy(settings, as_of=as_of, progress=context.log.info).summary()
            context.log.info(applied)
        yield MaterializeResult(
            asset_key=ERASURE_LOG, metadata={"as_of": as_of.isoformat(), "applied": applied}
        )
        for result in results:
            read, loaded, quarantined = result.rows
            yield MaterializeResult(
                asset_key=raw_key(result.source),
                metadata={
                    "as_of": as_of.isoformat(),
                    "batches": len(result.batches),
                    "rows_read": read,
                    "rows_loaded": loaded,
                    "rows_quarantined": quarantined,
                    "errors": "\n".join(result.errors) or "none",
                },
            )

    return ingest_sources


def dbt_build_assets(manifest_path: Path, partitions: PartitionsDefinition) -> AssetsDefinition:
    """dbt's models, seeds and snapshots as assets and its tests as asset checks, built by ``transform``.

    The whole project is built whatever subset is selected: the "dbt build" verdict that publication
    requires is a verdict on every test of a build, and only the selected assets are reported.
    """
    manifest = json.loads(manifest_path.read_text())
    dbt_translator = translator()

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=dbt_translator,
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        retry_policy=RETRY_POLICY,
        name="dbt_build",
    )
    def dbt_build(context: AssetExecutionContext, lifecycle: LifecycleResource) -> Iterator[Any]:
        from lifecycle.transform import transform

        settings = lifecycle.settings()
        as_of = run_as_of(context)
        failed: GateFailed | None = None
        with stage(context, settings, "dbt build"):
            try:
                transform(settings, as_of=as_of, run_id=run_label(context))
            except GateFailed as error:  # reported below, test by test, before the step fails
                failed = error
        run_results = json.loads((settings.build_state_dir / "run_results.json").read_text())
        yield from dbt_results(
            run_results,
            manifest,
            dbt_translator,
            context.selected_asset_keys,
            context.selected_asset_check_keys,
        )
        if failed is not None:
            raise Failure(description=str(failed), allow_retries=False)

    return dbt_build


def dbt_results(
    run_results: Mapping[str, Any],
    manifest: Mapping[str, Any],
    dbt_translator: DagsterDbtTranslator,
    assets: Any,
    checks: Any,
) -> Iterator[MaterializeResult[None] | AssetCheckResult]:
    """A materialisation per built model, seed or snapshot and a check result per test, of those selected."""
    for node in run_results.get("results", []):
        unique_id, status = node["unique_id"], node["status"]
        metadata = {
            "status": status,
            "execution_time": float(node.get("execution_time") or 0.0),
            "message": str(node.get("message") or ""),
        }
        if unique_id.split(".")[0] in _DBT_ASSETS:
            key = dbt_translator.get_asset_spec(manifest, unique_id, None).key
            if key in assets and status == "success":
                yield MaterializeResult(asset_key=key, metadata=metadata)
        elif unique_id.startswith("test."):
            check = get_asset_check_key_for_test(manifest, dbt_translator, unique_id, None)
            if check is not None and check in checks and status in ("pass", "warn", "fail", "error"):
                yield AssetCheckResult(
                    asset_key=check.asset_key,
                    check_name=check.name,
                    passed=status == "pass",
                    severity=AssetCheckSeverity.WARN if status == "warn" else AssetCheckSeverity.ERROR,
                    metadata={**metadata, "failures": int(node.get("failures") or 0)},
                )


def serving_assets(partitions: PartitionsDefinition, marts: Sequence[AssetKey]) -> list[AssetsDefinition]:
    """The publication (downstream of every mart and its blocking checks) and the docs site."""

    @asset(
        key=PUBLICATION,
        deps=list(marts),
        group_name="serving",
        description="The analyst database, Parquet and CRM exports: published only when every gate passed.",
        kinds={"duckdb"},
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        retry_policy=RETRY_POLICY,
    )
    def publication(context: AssetExecutionContext, lifecycle: LifecycleResource) -> MaterializeResult[None]:
        from lifecycle.publish import publish

        settings = lifecycle.settings()
        with stage(context, settings, "publish"):
            published = publish(settings, progress=context.log.info)
        return MaterializeResult(
            metadata={
                "publication_id": published.publication_id,
                "audited_run": published.run_id,
                "tables": len(published.tables),
                "tables_reused": len(published.reused),
                "rows": sum(published.tables.values()),
                "crm_segments": published.crm.rows,
                "analytics_db": MetadataValue.path(str(published.path)),
            }
        )

    @asset(
        key=DOCS_SITE,
        deps=[PUBLICATION],
        group_name="serving",
        description="The static docs site: dbt docs, Data Docs, quality report, pipeline health, analyses.",
        kinds={"html"},
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        retry_policy=RETRY_POLICY,
    )
    def docs_site(context: AssetExecutionContext, lifecycle: LifecycleResource) -> MaterializeResult[None]:
        from lifecycle.docs import build_docs

        settings = lifecycle.settings()
        with stage(context, settings, "docs"):
            index = build_docs(settings, as_of=run_as_of(context))
        return MaterializeResult(metadata={"index": MetadataValue.path(str(index))})

    return [publication, docs_site]
