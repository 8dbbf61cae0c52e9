"""The code location: assets, gate checks, the daily job, its schedule and sensors, the data directory."""

from __future__ import annotations

import datetime as dt

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from lifecycle.config import Settings, load_settings
from lifecycle.orchestration.assets import dbt_build_assets, ingest_assets, serving_assets
from lifecycle.orchestration.automation import automation
from lifecycle.orchestration.gates import gate_checks
from lifecycle.orchestration.manifest import prepare_manifest
from lifecycle.orchestration.partitions import daily_partitions, partitions_start
from lifecycle.orchestration.resources import LifecycleResource

DAILY_JOB = "lifecycle_daily"


def build_definitions(settings: Settings | None = None, *, today: dt.date | None = None) -> Definitions:
    """Definitions for ``settings``' data directory (default: ``LIFECYCLE_DATA_DIR`` when a run starts)."""
    configured = settings or load_settings()
    partitions = daily_partitions(partitions_start(configured, today or dt.datetime.now(dt.UTC).date()))
    dbt_build = dbt_build_assets(prepare_manifest(configured), partitions)
    models = sorted(dbt_build.keys)
    marts = [key for key in models if key.path[0] == "marts"]
    job = define_asset_job(
        DAILY_JOB,
        selection=AssetSelection.all(),
        description="Every stage of one day: ingest, audit raw, dbt build, validate, publish, docs.",
    )
    schedules, sensors = automation(DAILY_JOB)
    return Definitions(
        assets=[ingest_assets(partitions), dbt_build, *serving_assets(partitions, marts)],
        asset_checks=gate_checks(configured.project_dir / "expectations", models),
        jobs=[job],
        schedules=schedules,
        sensors=sensors,
        resources={
            "lifecycle": LifecycleResource(
                data_dir=str(settings.data_dir) if settings else None,
                dbt_target=settings.dbt_target if settings else None,
            )
        },
        # One writer per data directory: the stages of a run follow each other anyway, and steps in one
        # process start in a fraction of the time of one process each.
        executor=in_process_executor,
    )
