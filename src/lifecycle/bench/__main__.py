"""``python -m lifecycle.bench`` (``make bench``): the lifecycle and its baselines at each scale, then the
results in ``$LIFECYCLE_DATA_DIR/bench/results.json`` and ``results.md`` (see docs/performance.md).

Scales and days come from ``--scales`` / ``--days`` or the ``BENCH_SCALES`` / ``BENCH_DAYS`` environment
variables, the history axis from ``--history-scale`` / ``--history-days`` / ``--history-repeats`` or
``BENCH_HISTORY_SCALE`` / ``BENCH_HISTORY_DAYS`` (empty: no history axis) / ``BENCH_HISTORY_REPEATS``.
``_child`` as the first argument runs one task in a child process (see ``harness``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lifecycle.bench.baselines import BASELINE_TASKS
from lifecycle.bench.harness import (
    RUN_STAGE_TASKS,
    STAGE_TASKS,
    HistoryRuns,
    ScaleRuns,
    Step,
    Task,
    run_child,
    run_task,
    task_ingest_daily,
)
from lifecycle.bench.report import (
    history_result,
    history_summary,
    machine,
    scale_result,
    summarize,
    write_results,
)
from lifecycle.config import Settings, load_settings
from lifecycle.storage import duckdb_config

#: The simulated world's first day; any fixed day keeps runs comparable.
FIRST_DAY = dt.date(2024, 1, 1)
DEFAULT_SCALES = (1.0, 10.0)
#: Four weeks: scale 10 is then about 3.5M events and 0.3M orders (7M source rows). The ratios weigh fixed
#: costs per call (interpreter and dbt start-up, GE's per-expectation work) against data work; with one week
#: (1.8M rows) the fixed costs dominate every ratio, unlike in a warehouse with months of history.
DEFAULT_DAYS = 28
#: The history axis: one scale, the day after each history length. Scale 1 keeps 112 days affordable
#: (four times the 0.6M source rows of 28 days, generated and built once) while a day still carries data.
DEFAULT_HISTORY_SCALE = 1.0
DEFAULT_HISTORY_DAYS = (28, 112)
#: Each length's day runs twice, the lengths taking turns: one run per length, minutes apart, moved
#: ``day_growth`` by as much as its margin when the machine's speed drifted between them.
DEFAULT_HISTORY_REPEATS = 2
#: Every task a child process can run, by name.
TASKS: dict[str, Task] = {
    **STAGE_TASKS,
    **RUN_STAGE_TASKS,
    **BASELINE_TASKS,
    "ingest_daily": task_ingest_daily,  # the history axis's world, landed day by day
}


def parse_scales(text: str) -> list[float]:
    """``"1 10"`` or ``"0.1,1"`` -> [1.0, 10.0]; scales must be positive."""
    scales = [float(part) for part in text.replace(",", " ").split()]
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"BENCH_SCALES={text!r}: give one or more positive scales, e.g. '1 10'")
    return scales


def parse_history_days(text: str) -> list[int]:
    """``"28 112"`` or ``"28,112"`` -> [28, 112] (sorted, distinct); ``""`` -> [] (no history axis)."""
    parts = text.replace(",", " ").split()
    if not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise ValueError(f"BENCH_HISTORY_DAYS={text!r}: give whole numbers of days >= 1, e.g. '28 112'")
    return sorted({int(part) for part in parts})


def _run_stages(workdir: Path, scale: float, days: int, as_of: dict[str, Any]) -> list[Step]:
    """The lifecycle stages in pipeline order, each in its own child process."""
    params = {
        "generate": {"scale": scale, "start": FIRST_DAY.isoformat(), "days": days},
        "ingest": as_of,
        "transform": as_of,
        "validate": as_of,
        "publish": {},
        "docs": {},
    }
    return [run_child(name, workdir, params[name]) for name in STAGE_TASKS]


def bench_scale(root: Path, scale: float, days: int) -> dict[str, Any]:
    """Run the lifecycle and the comparison runs at one scale, in a fresh working directory."""
    workdir = root / f"scale-{scale:g}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    as_of = {"as_of": last.isoformat()}
    print(f"==> scale {scale:g}, {days} days from {FIRST_DAY} ({workdir})", flush=True)
    stages = _run_stages(workdir, scale, days, as_of)

    print("  comparisons:", flush=True)
    settings = Settings(data_dir=workdir)
    native = run_child("native_ingest", workdir, {})
    floor = run_child("events_floor", workdir, {})
    ge_sql = run_child("ge_sql", workdir, as_of)
    # Both sides of ge_vs_sql once more, taking turns with the first runs: a few seconds each, so one slow
    # spell of the machine moved the ratio by more than its margin; each side counts its faster run.
    ge_again = [
        run_child("validate", workdir, as_of, label="validate_again"),
        run_child("ge_sql", workdir, as_of, label="ge_sql_again"),
    ]
    artifacts = workdir / "_bench" / "full-refresh-artifacts"
    full_params = {**as_of, "full_refresh": True, "keep_artifacts": str(artifacts)}
    full = run_child("transform", workdir, full_params, label="transform_full_refresh")
    replay_params = {"artifacts": str(artifacts), "target_dir": str(settings.dbt_target_dir)}
    replay = run_child("replay", workdir, replay_params)
    next_day = (last + dt.timedelta(days=1)).isoformat()
    incremental = [
        run_child(
            "generate", workdir, {"scale": scale, "start": next_day, "days": 1}, label="generate_next_day"
        ),
        run_child("ingest", workdir, {"as_of": next_day}, label="ingest_next_day"),
        run_child("transform", workdir, {"as_of": next_day}, label="transform_next_day"),
        # The same build again with nothing new landed: what a day costs whatever its data (dbt's fixed
        # costs and the work over all history), the floor of incremental_vs_full for these models.
        run_child("transform", workdir, {"as_of": next_day}, label="transform_nothing_new"),
    ]
    if (artifacts / "run_results.json").exists():  # kept for per-node analysis; the rest is large
        shutil.copyfile(artifacts / "run_results.json", workdir / "_bench" / "full_refresh_run_results.json")
    shutil.rmtree(artifacts, ignore_errors=True)
    return scale_result(
        ScaleRuns(scale, days, stages, native, ge_sql, full, replay, incremental, ge_again, floor)
    )


def _run_day(workdir: Path, day: dt.date, label: str) -> dict[str, Step]:
    """The stages of ``lifecycle run`` from ingest to publish for ``day`` (as-of its end), in order."""
    as_of = {"as_of": day.isoformat()}
    params = {name: {} if name == "publish" else as_of for name in RUN_STAGE_TASKS}
    params["transform"] = {**as_of, "keep_run_results": str(workdir / "_bench" / f"{label}_run_results.json")}
    return {name: run_child(name, workdir, params[name], label=f"{label}_{name}") for name in RUN_STAGE_TASKS}


def _before_day(workdir: Path, days: int | str) -> Path:
    """Where the history world is copied before the day after ``days`` days runs (``"*"``: a pattern of
    all such copies)."""
    return workdir.with_name(f"{workdir.name}.before-day-{days}")


def _kept_logs(workdir: Path) -> Path:
    """Where the bench's logs wait while a copy of the world is put back."""
    return workdir.with_name(workdir.name + ".logs")


def _snapshot(workdir: Path, snapshot: Path) -> None:
    """Copy the world (all but the bench's own logs) to ``snapshot``, replacing an older copy."""
    shutil.rmtree(snapshot, ignore_errors=True)

    def logs(folder: str, _: list[str]) -> list[str]:
        return ["_bench"] if Path(folder) == workdir else []

    shutil.copytree(workdir, snapshot, symlinks=True, ignore=logs)


def _restore(snapshot: Path, workdir: Path, *, consume: bool) -> None:
    """Put the world of ``snapshot`` back at ``workdir``'s own path (dbt's partial parse and the links
    inside the world then stay valid), keeping the bench's logs; ``consume`` moves the copy instead of
    copying it again."""
    logs, kept = workdir / "_bench", _kept_logs(workdir)
    shutil.rmtree(kept, ignore_errors=True)
    logs.rename(kept)
    shutil.rmtree(workdir)
    if consume:
        snapshot.rename(workdir)
    else:
        shutil.copytree(snapshot, workdir, symlinks=True)
    kept.rename(logs)


def bench_history(root: Path, scale: float, history_days: Sequence[int], repeats: int = 2) -> dict[str, Any]:
    """The history axis: one world at ``scale`` grown to each history length in turn; after each, one more
    day is generated and that day's run (ingest → publish, then docs) timed stage by stage.

    One world serves every length: it holds the shorter history and the day after it when it grows to
    the next, as a warehouse does; building each length afresh would add the shorter worlds' cost.

    With ``repeats`` > 1 the world is copied after each day is generated, and once every length has run
    its day, each length's copy is put back and the day run again, the lengths taking turns (28, 112, 28,
    112): a slow spell of the machine then falls on both lengths instead of on one. The world ends as it
    would with one run, after the longest history and its day (the docs site is that day's first run's).
    """
    workdir = root / f"history-{scale:g}"
    leftovers = [_kept_logs(workdir), *root.glob(_before_day(workdir, "*").name)]
    for old in [workdir, *leftovers]:  # an interrupted bench leaves its copies
        shutil.rmtree(old, ignore_errors=True)
    workdir.mkdir(parents=True)
    lengths = " and ".join(str(d) for d in history_days)
    print(f"==> history axis: scale {scale:g}, the day after {lengths} days ({workdir})", flush=True)
    covered, points = 0, []
    for days in history_days:
        build: list[Step] = []
        if days > covered:  # the world holds fewer days: generate the rest and run up to its last day
            start = FIRST_DAY + dt.timedelta(days=covered)
            generate = {"scale": scale, "start": start.isoformat(), "days": days - covered}
            print(f"  history of {days} days:", flush=True)
            build.append(run_child("generate", workdir, generate, label=f"history_{days}_generate"))
            last = FIRST_DAY + dt.timedelta(days=days - 1)
            if last > start:  # every day but the last ingested as of its own end, as a daily feed lands it
                daily = {"first": start.isoformat(), "last": (last - dt.timedelta(days=1)).isoformat()}
                build.append(run_child("ingest_daily", workdir, daily, label=f"history_{days}_ingest_daily"))
            build += _run_day(workdir, last, f"history_{days}").values()
        day = FIRST_DAY + dt.timedelta(days=days)
        print(f"  the day after {days} days ({day}):", flush=True)
        one_day = {"scale": scale, "start": day.isoformat(), "days": 1}
        generate_day = run_child("generate", workdir, one_day, label=f"day_after_{days}_generate")
        if repeats > 1:
            _snapshot(workdir, _before_day(workdir, days))
        stages = _run_day(workdir, day, f"day_after_{days}")
        docs = run_child("docs", workdir, {"as_of": day.isoformat()}, label=f"day_after_{days}_docs")
        points.append(HistoryRuns(days, day.isoformat(), build, generate_day, [stages], docs))
        covered = days + 1
    for repeat in range(2, repeats + 1):
        for point in points:
            days, day = point.history_days, dt.date.fromisoformat(point.day_date)
            print(f"  the day after {days} days again ({repeat} of {repeats}):", flush=True)
            _restore(_before_day(workdir, days), workdir, consume=repeat == repeats)
            point.repeats.append(_run_day(workdir, day, f"day_after_{days}_repeat{repeat}"))
    return history_summary(scale, [history_result(point) for point in points])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return run_task(TASKS, *argv[1:4])
    default_scales = " ".join(f"{s:g}" for s in DEFAULT_SCALES)
    parser = argparse.ArgumentParser(prog="python -m lifecycle.bench", description=__doc__)
    parser.add_argument(
        "--scales", default=os.environ.get("BENCH_SCALES", default_scales), help="e.g. '1 10'"
    )
    parser.add_argument("--days", type=int, default=int(os.environ.get("BENCH_DAYS", DEFAULT_DAYS)))
    parser.add_argument(
        "--history-scale",
        type=float,
        default=float(os.environ.get("BENCH_HISTORY_SCALE", DEFAULT_HISTORY_SCALE)),
        help="the scale of the history axis",
    )
    parser.add_argument(
        "--history-repeats",
        type=int,
        default=int(os.environ.get("BENCH_HISTORY_REPEATS", DEFAULT_HISTORY_REPEATS)),
        help="how often each history length's day runs, the lengths taking turns",
    )
    default_history = " ".join(str(d) for d in DEFAULT_HISTORY_DAYS)
    parser.add_argument(
        "--history-days",
        default=os.environ.get("BENCH_HISTORY_DAYS", default_history),
        help="history lengths, e.g. '28 112'; empty: no history axis",
    )
    args = parser.parse_args(argv)
    scales = sorted(parse_scales(args.scales))
    history_days = parse_history_days(args.history_days)
    if args.history_scale <= 0:
        parser.error(f"BENCH_HISTORY_SCALE={args.history_scale:g}: give a positive scale, e.g. 1")
    if args.history_repeats < 1:
        parser.error(f"BENCH_HISTORY_REPEATS={args.history_repeats}: give a whole number >= 1, e.g. 2")
    settings = load_settings()
    root = settings.data_dir / "bench"
    root.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs = [bench_scale(root, scale, args.days) for scale in scales]
    history, history_error = None, None
    if history_days:
        try:
            history = bench_history(root, args.history_scale, history_days, args.history_repeats)
        except OSError as error:  # copying or restoring its world (a full disk): keep the scales' results
            history_error = f"the history axis stopped: {error}"
            print(f"  {history_error}", file=sys.stderr, flush=True)
    results = {
        "started_at": started.isoformat(),
        "days": args.days,
        "scale_list": scales,
        "machine": machine(),
        "duckdb_settings": duckdb_config(settings),
        "dbt_target": settings.dbt_target,
        "scales": runs,
        "history": history,
        "history_error": history_error,
        "ratios": summarize(runs, history),
    }
    print(write_results(root, results))
    print(f"wrote {root / 'results.json'} and {root / 'results.md'}")
    failed = any(run["failed"] for run in runs) or bool(history and history["failed"]) or bool(history_error)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
