"""The benchmark's measuring harness: each lifecycle stage as a task run in its own child process, timed,
with its peak RSS and CPU seconds.

A child (``python -m lifecycle.bench _child <task> <params> <result file>``) runs one task and writes what
it measured plus ``getrusage`` of itself and of its waited-for children (dbt runs as one), so the peak RSS
of a stage is its own and not the parent's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lifecycle.bench.report import fmt_bytes, one_line
from lifecycle.config import Settings, load_settings
from lifecycle.storage import connect_warehouse, quote_ident

#: The simulated world's seed; a fixed one keeps runs comparable.
SEED = 42

#: A task: settings of the child's data directory and the task's JSON parameters -> what it measured.
Task = Callable[[Settings, dict[str, Any]], dict[str, Any]]


def end_of_day(day: str) -> dt.datetime:
    """The as-of time of a benchmark day (``YYYY-MM-DD``): its last second."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59))


def usage() -> dict[str, float]:
    """Peak RSS in bytes of this process and of its largest waited-for descendant (Linux reports KiB), and
    the CPU seconds of both: CPU time is far less disturbed than wall time by other work on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "peak_rss_self": own.ru_maxrss * 1024,
        "peak_rss_children": children.ru_maxrss * 1024,
        "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
    }


class Clock:
    """Timestamps of progress messages, to split one call's time into its phases."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        self.marks.append((time.perf_counter() - self.start, message))
        print(message, flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def between(self, first: str) -> float | None:
        """Seconds from the first message starting with ``first`` to the next message (or to now)."""
        for index, (at, message) in enumerate(self.marks):
            if message.startswith(first):
                following = self.marks[index + 1 :]
                return (following[0][0] if following else self.elapsed()) - at
        return None

    def at(self, prefix: str) -> float | None:
        """Seconds from the start to the first message starting with ``prefix``."""
        return next((at for at, message in self.marks if message.startswith(prefix)), None)


def tables_present(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, table) of every table in the database."""
    return {(s, t) for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}


def _count(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    row = con.execute(f"select count(*) from {quote_ident(schema)}.{quote_ident(table)}").fetchone()
    return int(row[0]) if row else 0


def _raw_rows(settings: Settings) -> int:
    """Rows in the raw tables (bookkeeping tables, named ``_...``, left out): the size of the data."""
    with connect_warehouse(settings, read_only=True) as con:
        tables = [t for s, t in tables_present(con) if s == "raw" and not t.startswith("_")]
        return sum(_count(con, "raw", t) for t in tables)


def _checked_rows(settings: Settings, as_of: str) -> int:
    """Rows in the tables the expectation suites check (tables not built yet count nothing)."""
    from lifecycle.quality.suites import load_suites

    tables = load_suites(settings.project_dir / "expectations", as_of=end_of_day(as_of))
    with connect_warehouse(settings, read_only=True) as con:
        present = tables_present(con)
        return sum(_count(con, t.layer, t.table) for t in tables if (t.layer, t.table) in present)


def task_generate(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.generate import generate

    started = time.perf_counter()
    summary = generate(
        settings.sources_dir,
        seed=SEED,
        scale=params["scale"],
        start=dt.date.fromisoformat(params["start"]),
        days=params["days"],
        progress=print,
    )
    return {"rows": sum(summary.rows.values()), "call_seconds": time.perf_counter() - started}


def task_ingest(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.ingest import ingest

    clock = Clock()
    results = ingest(settings, as_of=end_of_day(params["as_of"]), progress=clock)
    events = next((r for r in results if r.source == "events"), None)
    return {
        "rows": sum(r.rows[0] for r in results),
        "call_seconds": clock.elapsed(),
        "errors": [e for r in results for e in r.errors],
        "events_rows": events.rows[0] if events else 0,
        "events_seconds": clock.between("ingest: events"),
    }


def task_ingest_daily(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """Ingest day by day from ``first`` to ``last`` (inclusive), each as of its day's end, as a warehouse
    fed daily does: raw and the lake then hold one batch per source and day, not one large batch for a
    stretch of days (which every later erasure of a person in it would write again whole)."""
    from lifecycle.ingest import ingest

    first, last = dt.date.fromisoformat(params["first"]), dt.date.fromisoformat(params["last"])
    started, rows, errors = time.perf_counter(), 0, []
    for offset in range((last - first).days + 1):
        day = (first + dt.timedelta(days=offset)).isoformat()
        results = ingest(settings, as_of=end_of_day(day))
        landed = sum(r.rows[0] for r in results)
        rows += landed
        errors += [f"{day}: {e}" for r in results for e in r.errors]
        print(f"ingested {day}: {landed:,} rows", flush=True)
    return {"rows": rows, "call_seconds": time.perf_counter() - started, "errors": errors}


def _keep_artifacts(settings: Settings, keep: Path) -> None:
    """Copy what replaying the build needs (manifest, run results, the run/ SQL) out of dbt's target dir."""
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    for name in ("manifest.json", "run_results.json"):
        shutil.copyfile(settings.dbt_target_dir / name, keep / name)
    shutil.copytree(settings.dbt_target_dir / "run", keep / "run")


def _node_statuses(settings: Settings) -> dict[str, int]:
    """How many nodes of the last dbt build ended in each status."""
    results_file = settings.dbt_target_dir / "run_results.json"
    statuses: dict[str, int] = {}
    if results_file.exists():
        for node in json.loads(results_file.read_text())["results"]:
            statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    return statuses


def task_transform(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.errors import GateFailed
    from lifecycle.transform import transform

    started = time.perf_counter()
    status = "ok"
    try:
        transform(settings, as_of=end_of_day(params["as_of"]), full_refresh=params.get("full_refresh", False))
    except GateFailed as exc:  # failing dbt tests still timed the whole build
        status = f"gate failed: {str(exc)[:200]}"
    seconds = time.perf_counter() - started
    if params.get("keep_artifacts"):
        _keep_artifacts(settings, Path(params["keep_artifacts"]))
    results = settings.dbt_target_dir / "run_results.json"
    if params.get("keep_run_results") and results.exists():  # each node's time, to compare two builds
        shutil.copyfile(results, params["keep_run_results"])
    statuses = _node_statuses(settings)
    if statuses.get("skipped"):
        status += f" ({statuses['skipped']} nodes skipped)"
    return {"rows": _raw_rows(settings), "call_seconds": seconds, "status": status, "node_statuses": statuses}


def _timed_gate(
    gate: Callable[..., Any], settings: Settings, params: dict[str, Any]
) -> tuple[Clock, dict[str, Any]]:
    """Run a gate as of the benchmark day, timing its progress; a failing gate has still timed every check."""
    from lifecycle.errors import GateFailed

    clock = Clock()
    try:
        report = gate(settings, as_of=end_of_day(params["as_of"]), run_id="bench", progress=clock)
        status = "ok"
    except GateFailed as exc:
        report, status = None, f"gate failed: {str(exc)[:200]}"
    return clock, {"status": status, "expectations": len(report.outcomes) if report else None}


def task_validate(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.quality.gates import audit_build

    clock, outcome = _timed_gate(audit_build, settings, params)
    call = clock.elapsed()
    checks = clock.at("building Data Docs")
    return {
        "rows": _checked_rows(settings, params["as_of"]),
        "call_seconds": call,
        "checks_seconds": checks if checks is not None else call,
        **outcome,
    }


def task_privacy(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.privacy import apply_privacy

    started = time.perf_counter()
    report = apply_privacy(settings, as_of=end_of_day(params["as_of"]), progress=print)
    seconds = time.perf_counter() - started
    return {"rows": _raw_rows(settings), "call_seconds": seconds, "summary": report.summary()}


def task_audit_raw(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.quality.gates import audit_raw

    clock, outcome = _timed_gate(audit_raw, settings, params)
    return {"rows": _raw_rows(settings), "call_seconds": clock.elapsed(), **outcome}


def task_publish(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.publish import publish

    started = time.perf_counter()
    publication = publish(settings)
    return {"rows": sum(publication.tables.values()), "call_seconds": time.perf_counter() - started}


def task_docs(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.docs import build_docs

    started = time.perf_counter()
    # Freshness on the health page is judged against the run's as-of, as ``lifecycle run`` does.
    build_docs(settings, as_of=end_of_day(params["as_of"]) if "as_of" in params else None)
    return {"rows": _raw_rows(settings), "call_seconds": time.perf_counter() - started}


#: The lifecycle stages, in pipeline order (``lifecycle run``), each as a benchmark task.
STAGE_TASKS: dict[str, Task] = {
    "generate": task_generate,
    "ingest": task_ingest,
    "transform": task_transform,
    "validate": task_validate,
    "publish": task_publish,
    "docs": task_docs,
}

#: The stages of a day's ``lifecycle run`` from ingestion to publication, in its order (generate simulates
#: the sources and docs builds the site: the history axis times those apart).
RUN_STAGE_TASKS: dict[str, Task] = {
    "ingest": task_ingest,
    "privacy": task_privacy,
    "audit_raw": task_audit_raw,
    "transform": task_transform,
    "validate": task_validate,
    "publish": task_publish,
}


def run_task(tasks: Mapping[str, Task], task: str, params_json: str, result_path: str) -> int:
    """The child's side: run one task on the data directory of the environment, write what it measured."""
    result = tasks[task](load_settings(), json.loads(params_json))
    result.update(usage())
    Path(result_path).write_text(json.dumps(result, default=str))
    return 0


@dataclass
class Step:
    """One child process: its wall time (spawn to exit), what it reported, and whether it succeeded."""

    name: str
    seconds: float
    rows: int
    peak_rss: int
    status: str
    report: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float | None = None


def run_child(task: str, workdir: Path, params: dict[str, Any], label: str | None = None) -> Step:
    """Run ``task`` in a child process on the data directory ``workdir`` (log: ``_bench/<label>.log``)."""
    label = label or task
    logs = workdir / "_bench"
    logs.mkdir(parents=True, exist_ok=True)
    result_file = logs / f"{label}.json"
    result_file.unlink(missing_ok=True)
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(workdir)}
    command = [sys.executable, "-m", "lifecycle.bench", "_child", task, json.dumps(params), str(result_file)]
    started = time.perf_counter()
    with (logs / f"{label}.log").open("w") as log:
        completed = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0 or not result_file.exists():
        tail = (logs / f"{label}.log").read_text().strip().splitlines()[-1:] or ["no output"]
        print(f"    {label}: FAILED (exit {completed.returncode}): {tail[0]}", flush=True)
        return Step(label, seconds, 0, 0, one_line(f"error: {tail[0]}"))
    report = json.loads(result_file.read_text())
    peak = max(report["peak_rss_self"], report["peak_rss_children"])
    status = one_line(report.get("status", "ok"))
    step = Step(label, seconds, int(report.get("rows", 0)), peak, status, report, report.get("cpu_seconds"))
    print(
        f"    {label}: {seconds:.1f} s (CPU {step.cpu_seconds or 0:.1f} s), {step.rows:,} rows, "
        f"peak RSS {fmt_bytes(peak)}, {status}",
        flush=True,
    )
    return step


@dataclass
class ScaleRuns:
    """Every child run at one scale: the stages in order, the baselines, and the day after (incremental)."""

    scale: float
    days: int
    stages: list[Step]
    native_ingest: Step
    ge_sql: Step
    full_refresh: Step
    replay: Step
    next_day: list[Step]
    #: The GE checkpoints (``validate_again``) and their plain-SQL twin (``ge_sql_again``) run once more.
    ge_again: list[Step] = field(default_factory=list)
    #: The floor of our events loading: its reading and numbering of lines, one parse per line, no judging.
    events_floor: Step | None = None

    @property
    def comparisons(self) -> list[Step]:
        ge = [self.ge_sql, *self.ge_again]
        floor = [self.events_floor] if self.events_floor else []
        return [self.native_ingest, *floor, *ge, self.full_refresh, self.replay, *self.next_day]

    def step(self, name: str) -> Step:
        """The run labelled ``name``: a stage (``ingest``) or a comparison (``transform_next_day``)."""
        return next(s for s in [*self.stages, *self.comparisons] if s.name == name)


@dataclass
class HistoryRuns:
    """One point of the history axis: the world holds ``history_days`` days, built by ``build``; then one
    more day is generated (``generate_day``) and run, once per repeat from the same state: each of
    ``repeats`` maps each run stage to its child run."""

    history_days: int
    day_date: str
    build: list[Step]
    generate_day: Step
    repeats: list[dict[str, Step]]
    docs: Step

    @property
    def day(self) -> dict[str, Step]:
        """Each stage's fastest run among the repeats: other work on the machine only ever adds time, so
        the fastest is the closest to the stage's own cost (a failed run, however fast, is shown)."""
        return {
            stage: min((repeat[stage] for repeat in self.repeats), key=_fastest_failed_first)
            for stage in self.repeats[0]
        }

    @property
    def steps(self) -> list[Step]:
        return [*self.build, self.generate_day, *(s for r in self.repeats for s in r.values()), self.docs]


def _fastest_failed_first(step: Step) -> tuple[bool, float]:
    return (step.status == "ok", step.seconds)
