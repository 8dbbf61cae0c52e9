"""``lifecycle run``: every stage in order, with write–audit–publish (and privacy: erasure, retention).

Data is written (ingest, dbt build), audited (dbt tests, GE checkpoints), and only then published. The
first failed gate stops the run with a non-zero exit; the last good publication stays in place.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.lock import exclusive
from lifecycle.observability import history
from lifecycle.storage import write_atomic

#: How run history names runs started by ``lifecycle run`` (Dagster's are ``dagster``).
TRIGGER = "lifecycle run"


@dataclass(frozen=True)
class DemoWorld:
    """The simulated sources of a new world for `make run`: a small world ending on the as-of date.

    ``None`` fields take the demo defaults for a new world and the world's own values for an existing one.
    """

    seed: int | None = None
    scale: float | None = None
    days: int = 30

    DEFAULT_SEED = 42
    DEFAULT_SCALE = 0.05


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


def ensure_sources(
    settings: Settings, world: DemoWorld, as_of: dt.datetime, progress: Callable[[str], None]
) -> str:
    """Generate the world up to ``as_of``: a new demo world, or the existing one continued with its own
    seed, scale and defect rates (idempotent).

    The world's clock stops at the as-of: its last day is generated only up to that instant, so the
    sources hold nothing stamped after it, and a later run continues that day where this one stopped.
    """
    from lifecycle.generate import generate
    from lifecycle.generate.state import load_state

    until = as_of.replace(microsecond=0)
    if until.tzinfo is not None:
        until = until.astimezone(dt.UTC).replace(tzinfo=None)
    end = until.date()
    state = load_state(settings.sources_dir)
    if state is None:
        start, days = end - dt.timedelta(days=world.days - 1), world.days
        seed = world.DEFAULT_SEED if world.seed is None else world.seed
        scale = world.DEFAULT_SCALE if world.scale is None else world.scale
        clean, defects = False, None
    else:
        asked = {"--seed": (world.seed, state.seed), "--scale": (world.scale, state.scale)}
        different = [
            f"{k} {a} (the world has {h})" for k, (a, h) in asked.items() if a is not None and a != h
        ]
        if different:
            raise LifecycleError(
                f"{settings.sources_dir} holds a world made with other settings: {', '.join(different)}; "
                "drop those options to continue it, or use another LIFECYCLE_DATA_DIR for a new world"
            )
        clock = state.clock
        if clock is not None and clock >= until:
            return f"sources already cover {until} (the world's clock is at {clock})"
        start = state.first_day if state.last_day is None else state.last_day + dt.timedelta(days=1)
        days = (end - start).days + 1
        seed, scale, clean, defects = state.seed, state.scale, state.clean, state.defects
    generate(
        settings.sources_dir,
        seed=seed,
        scale=scale,
        start=start,
        days=days,
        clean=clean,
        defects=defects,
        progress=progress,
        until=until,
        app_database_url=settings.app_database_url,
        replication_slot=settings.replication_slot,
    )
    return f"generated {days} day(s) from {start}, up to {until}"


def run(
    settings: Settings,
    *,
    as_of: dt.datetime,
    world: DemoWorld | None = DemoWorld(),
    progress: Callable[[str], None] = print,
    accept_restatements: Sequence[dt.date] = (),
    docs: bool = True,
) -> RunReport:
    """All stages in order; raises GateFailed at the first failed gate (nothing is published then).

    ``accept_restatements``: settled days whose restated figures an operator accepts for publication.
    ``docs=False`` skips the docs site (replaying many days: only the last one's site matters).
    """
    from lifecycle.docs import build_docs
    from lifecycle.ingest import ingest
    from lifecycle.privacy import apply_privacy
    from lifecycle.publish import publish
    from lifecycle.quality.gates import audit_build, audit_raw
    from lifecycle.quality.restatements import accept
    from lifecycle.transform import transform

    report = RunReport(run_id=f"run-{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", as_of=as_of)

    @contextmanager
    def stage(name: str) -> Iterator[list[str]]:
        progress(f"==> {name}")
        started, started_at = time.perf_counter(), history.now()
        result: list[str] = []

        def record(status: str, detail: str) -> None:
            history.record_stage(
                settings,
                report.run_id,
                name,
                trigger=TRIGGER,
                as_of=as_of,
                started_at=started_at,
                status=status,
                detail=detail,
            )

        try:
            yield result
        except GateFailed as exc:
            report.stages.append((name, time.perf_counter() - started, f"FAILED: {exc}"))
            _save_report(settings, report)
            record("failed", str(exc))
            raise
        except Exception as exc:
            record("failed", f"{type(exc).__name__}: {exc}")
            raise
        report.stages.append((name, time.perf_counter() - started, "; ".join(result) or "ok"))
        record("ok", "; ".join(result))

    with exclusive(settings, "run"):
        if world is not None:
            with stage("generate") as out:
                out.append(ensure_sources(settings, world, as_of, progress))
        with stage("ingest") as out:
            results = ingest(settings, as_of=as_of, progress=progress)
            problems = [e for r in results for e in r.errors]
            # A source that failed to load is not a gate by itself: the completeness and timeliness checks
            # below decide whether what did load may be published.
            out.append(
                f"{sum(r.rows[1] for r in results)} rows loaded"
                + (f", {len(problems)} problem(s)" if problems else "")
            )
        with stage("privacy") as out:
            # Before anything is built or published from raw: erasure requests reach every store (the
            # published ones too), retention deletes what is past its period.
            out.append(apply_privacy(settings, as_of=as_of, progress=progress).summary())
        with stage("audit raw") as out:
            out.append(audit_raw(settings, as_of=as_of, run_id=report.run_id, progress=progress).summary())
        with stage("transform"):
            transform(settings, as_of=as_of, run_id=report.run_id)
        if accept_restatements:
            accept(settings, accept_restatements)
        with stage("validate") as out:
            out.append(audit_build(settings, as_of=as_of, run_id=report.run_id, progress=progress).summary())
        with stage("publish") as out:
            publication = publish(settings, progress=progress)
            out.append(
                f"{len(publication.tables)} tables ({len(publication.reused)} unchanged, taken over),"
                f" {publication.crm.rows} CRM segments"
            )
        _save_report(settings, report)
        if not docs:
            history.finish_run(settings, report.run_id)
            return report
        with stage("docs") as out:
            # The health page judges freshness against this run's as-of, like validate does.
            out.append(str(build_docs(settings, as_of=as_of)))
        _save_report(settings, report)
        history.finish_run(settings, report.run_id)
    return report


def _save_report(settings: Settings, report: RunReport) -> None:
    write_atomic(settings.state_dir / "reports" / f"{report.run_id}.md", report.to_markdown())
