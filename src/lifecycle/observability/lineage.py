"""OpenLineage events for the whole lifecycle: dbt's nodes through openlineage-dbt's artifact processor, the
Python stages (ingestion per source, validate, publish, reverse ETL) through the openlineage-python client.

Datasets are named the way openlineage-dbt names DuckDB tables (namespace ``duckdb://<file>``, name
``<database>.<schema>.<table>``), so a raw table that ingestion writes is the very dataset a staging model
reads, and a mart dbt builds is the one publish copies: the chain from source to export connects by name.
Events go to ``lineage/events.jsonl`` under the data directory, or wherever ``OPENLINEAGE_URL`` /
``OPENLINEAGE_CONFIG`` point the client (a Marquez or other backend).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run
from openlineage.client.transport.file import FileConfig, FileTransport

from lifecycle.config import Settings

#: The namespace of every job the lifecycle runs.
JOB_NAMESPACE = "lifecycle"
PRODUCER = "https://github.com/lifecycle/lifecycle"

log = logging.getLogger(__name__)


def client(settings: Settings) -> OpenLineageClient:
    if settings.lineage_from_environment:
        return OpenLineageClient()
    settings.lineage_path.parent.mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(
        transport=FileTransport(FileConfig(log_file_path=str(settings.lineage_path), append=True))
    )


def emit(settings: Settings, events: Sequence[RunEvent]) -> None:
    """Send ``events``; lineage that cannot be sent is logged, never a reason to fail a run."""
    if not events:
        return
    try:
        sender = client(settings)
        for event in events:
            sender.emit(event)
    except Exception as error:  # a backend that is down must not stop the data
        log.warning("OpenLineage events could not be sent: %s", error)


def warehouse_table(settings: Settings, schema: str, table: str) -> tuple[str, str]:
    """A warehouse table as openlineage-dbt names it: its database is the file's stem."""
    path = settings.warehouse_path
    return f"duckdb://{path}", f"{path.stem}.{schema}.{table}"


def analytics_table(settings: Settings, table: str) -> tuple[str, str]:
    path = settings.analytics_path
    return f"duckdb://{path}", f"{path.stem}.main.{table}"


def export_file(settings: Settings, relative: str) -> tuple[str, str]:
    return f"file://{settings.exports_dir}", relative


def source_file(settings: Settings, relative: str) -> tuple[str, str]:
    return f"file://{settings.sources_dir}", relative


@dataclass
class JobRun:
    """One run of one job: START when it begins, COMPLETE or FAIL with its datasets when it ends."""

    settings: Settings
    name: str
    job_type: str = "TASK"
    #: The job run this one is part of (a table's copy within ``publish``).
    parent: JobRun | None = None
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def event(self, state: RunState, error: str | None = None) -> RunEvent:
        facets: dict[str, Any] = {}
        if self.parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.parent.run_id),
                job=parent_run.Job(namespace=JOB_NAMESPACE, name=self.parent.name),
            )
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error[:4000], programmingLanguage="python"
            )
        return RunEvent(
            eventType=state,
            eventTime=dt.datetime.now(dt.UTC).isoformat(),
            run=Run(runId=self.run_id, facets=facets),
            job=Job(
                namespace=JOB_NAMESPACE,
                name=self.name,
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="LIFECYCLE", jobType=self.job_type
                    )
                },
            ),
            inputs=[InputDataset(namespace=ns, name=n) for ns, n in dict.fromkeys(self.inputs)],
            outputs=[OutputDataset(namespace=ns, name=n) for ns, n in dict.fromkeys(self.outputs)],
            producer=PRODUCER,
        )


@contextmanager
def job(
    settings: Settings, name: str, job_type: str = "TASK", parent: JobRun | None = None
) -> Iterator[JobRun]:
    """START now; COMPLETE with the datasets the body added, or FAIL with the error, at the end."""
    run = JobRun(settings, name, job_type, parent)
    emit(settings, [run.event(RunState.START)])
    try:
        yield run
    except BaseException as error:
        emit(settings, [run.event(RunState.FAIL, f"{type(error).__name__}: {error}")])
        raise
    emit(settings, [run.event(RunState.COMPLETE)])


def emit_dbt(settings: Settings, target_dir: Path) -> int:
    """openlineage-dbt's events for the dbt command whose artifacts are in ``target_dir``: a START and a
    COMPLETE (or FAIL) per model, seed and snapshot with its inputs and output, and the tests' assertions."""
    # openlineage-integration-common (openlineage-dbt's processor) ships no type information.
    from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor  # type: ignore[import-untyped]

    namespace = f"duckdb://{settings.warehouse_path}"

    class Processor(DbtLocalArtifactProcessor):  # type: ignore[misc]
        # The profile's path is rendered from this data directory's environment, which the dbt child had
        # and this process may not: name the warehouse directly.
        def extract_namespace(self, profile: dict[str, Any]) -> str:
            return namespace

        # openlineage-dbt names a source by its dbt name (``orders``), not the relation it reads
        # (``identifier: app_orders``): name the table itself, as ingestion's events do.
        def extract_dataset_data(self, node: Any, *args: Any, **kwargs: Any) -> tuple[str, str, Any, Any]:
            found_namespace, name, facets, input_facets = super().extract_dataset_data(node, *args, **kwargs)
            declared = node.metadata_node
            if node.type == "source" and declared.get("identifier"):
                name = self._format_dataset_name(
                    declared["database"], declared["schema"], declared["identifier"]
                )
            return found_namespace, name, facets, input_facets

    try:
        processor = Processor(
            producer=PRODUCER,
            job_namespace=JOB_NAMESPACE,
            project_dir=str(settings.project_dir),
            target=settings.dbt_target,
            target_path=str(target_dir),
            skip_errors=True,
            logger=log,
        )
        events = processor.parse().events()
    except Exception as error:  # lineage is a record, not a gate
        log.warning("openlineage-dbt could not read %s: %s", target_dir, error)
        return 0
    emit(settings, events)
    return len(events)
