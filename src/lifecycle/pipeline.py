"""``lifecycle run``: every stage in order, with write–audit–publish.

Data is written (ingest, dbt build), audited (dbt tests, GE checkpoints), and only then published. The
first failed gate stops the run with a non-zero exit; the last good publication stays in place.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lifecycle.config import Settings
from lifecycle.errors import GateFailed

if TYPE_CHECKING:
    from lifecycle.quality.report import ValidationReport


@dataclass(frozen=True)
class DemoWorld:
    """The simulated sources `make run` uses: a small world ending on the as-of date."""

    seed: int = 42
    scale: float = 0.05
    days: int = 30


@dataclass
class RunReport:
    run_id: str
    as_of: dt.datetime
    stages: list[tuple[str, float, str]] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [
            f"# Run {self.run_id}",
            "",
            f"as-of: {self.as_of.isoformat()}",
            "",
            "| stage | seconds | result |",
        ]
        lines.append("|---|---:|---|")
        lines += [f"| {name} | {seconds:.1f} | {result} |" for name, seconds, result in self.stages]
        return "\n".join(lines) + "\n"


def last_generated_day(settings: Settings) -> dt.date | None:
    truth = settings.sources_dir / "ground_truth.json"
    if not truth.exists():
        return None
    daily = json.loads(truth.read_text()).get("daily") or []
    return dt.date.fromisoformat(daily[-1]["date_day"]) if daily else None


def ensure_sources(
    settings: Settings, world: DemoWorld, end: dt.date, progress: Callable[[str], None]
) -> str:
    """Generate the demo world up to ``end``: from scratch, or continuing it day by day (idempotent)."""
    from lifecycle.generate import generate

    last = last_generated_day(settings)
    if last is None:
        start, days = end - dt.timedelta(days=world.days - 1), world.days
    elif last < end:
        start, days = last + dt.timedelta(days=1), (end - last).days
    else:
        return f"sources already cover {end} (last day {last})"
    generate(
        settings.sources_dir, seed=world.seed, scale=world.scale, start=start, days=days, progress=progress
    )
    return f"generated {days} day(s) from {start}"


def run(
    settings: Settings,
    *,
    as_of: dt.datetime,
    world: DemoWorld | None = DemoWorld(),
    progress: Callable[[str], None] = print,
) -> RunReport:
    """All stages in order; raises GateFailed at the first failed gate (nothing is published then)."""
    from lifecycle.docs import build_docs
    from lifecycle.ingest import ingest
    from lifecycle.publish import publish
    from lifecycle.quality.validate import record_history, validate
    from lifecycle.transform import transform

    report = RunReport(run_id=f"run-{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", as_of=as_of)

    @contextmanager
    def stage(name: str) -> Iterator[list[str]]:
        progress(f"==> {name}")
        started = time.perf_counter()
        result: list[str] = []
        try:
            yield result
        except GateFailed as exc:
            report.stages.append((name, time.perf_counter() - started, f"FAILED: {exc}"))
            _save_report(settings, report)
            raise
        report.stages.append((name, time.perf_counter() - started, "; ".join(result) or "ok"))

    if world is not None:
        with stage("generate") as out:
            out.append(ensure_sources(settings, world, as_of.date(), progress))
    with stage("ingest") as out:
        results = ingest(settings, as_of=as_of, progress=progress)
        problems = [e for r in results for e in r.errors]
        # A source that failed to load is not a gate by itself: the completeness and timeliness checks
        # below decide whether what did load may be published.
        out.append(
            f"{sum(r.rows[1] for r in results)} rows loaded"
            + (f", {len(problems)} problem(s)" if problems else "")
        )
    with stage("audit raw") as out:
        # Audit the landed batches before dbt reads them: a bad delivery never reaches staging.
        landed = validate(settings, as_of=as_of, layers=["raw"], progress=progress)
        _gate(landed, "audit raw")
        out.append(landed.summary())
    with stage("transform"):
        transform(settings, as_of=as_of)
    with stage("validate") as out:
        # Every layer again (raw is cheap), so one report and one set of Data Docs cover the run.
        quality = validate(settings, as_of=as_of, progress=progress)
        record_history(quality, settings.warehouse_path, report.run_id)
        progress(quality.to_markdown())
        _gate(quality, "validate")
        out.append(quality.summary())
    with stage("publish") as out:
        publication = publish(settings, run_id=report.run_id)
        (settings.state_dir / "last_publication.json").write_text(
            json.dumps(
                {
                    "run_id": report.run_id,
                    "path": str(publication.path),
                    "published_at": publication.published_at.isoformat(),
                    "tables": publication.tables,
                    # Reverse ETL (issue 7): the CRM export written from this publication.
                    "crm_segments": publication.crm
                    and {
                        "rows": publication.crm.rows,
                        "rfm_source": publication.crm.rfm_source,
                        "files": [str(publication.crm.csv), str(publication.crm.parquet)],
                    },
                },
                indent=2,
            )
        )
        keep_production_state(settings)
        out.append(f"{len(publication.tables)} tables")
        if publication.crm:  # issue 7: say what went to the CRM outbox
            out.append(f"{publication.crm.rows} CRM segments")
    _save_report(settings, report)
    with stage("docs") as out:
        # issue 7: the health page judges freshness against this run's as-of, like validate does.
        out.append(str(build_docs(settings, as_of=as_of)))
    _save_report(settings, report)
    return report


def _gate(report: ValidationReport, stage: str) -> None:
    if not report.passed:
        failed = "; ".join(f"{o.suite}: {o.label} [{o.observed}]" for o in report.failed_critical[:10])
        raise GateFailed(f"{stage}: {report.summary()} ({failed}); nothing was published")


def keep_production_state(settings: Settings) -> None:
    """Keep the artifacts of the build just published as the production state (for `make ci-pr`)."""
    target = settings.production_state_dir
    target.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "run_results.json"):
        source = settings.dbt_target_dir / name
        if source.exists():
            shutil.copyfile(source, target / name)


def _save_report(settings: Settings, report: RunReport) -> None:
    folder = settings.state_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report.run_id}.md").write_text(report.to_markdown())
