"""``python -m lifecycle.bench`` (``make bench``): the lifecycle and its baselines at each scale, then the
results in ``$LIFECYCLE_DATA_DIR/bench/results.json`` and ``results.md`` (see docs/performance.md).

Scales and days come from ``--scales`` / ``--days`` or the ``BENCH_SCALES`` / ``BENCH_DAYS`` environment
variables. ``_child`` as the first argument runs one task in a child process (see ``harness``).
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
from lifecycle.bench.harness import STAGE_TASKS, ScaleRuns, Step, Task, run_child, run_task
from lifecycle.bench.report import machine, scale_result, summarize, write_results
from lifecycle.config import Settings, load_settings
from lifecycle.storage import duckdb_config

#: The simulated world's first day; any fixed day keeps runs comparable.
FIRST_DAY = dt.date(2024, 1, 1)
DEFAULT_SCALES = (1.0, 10.0)
#: Four weeks: scale 10 is then about 3.5M events and 0.3M orders (7M source rows). The ratios weigh fixed
#: costs per call (interpreter and dbt start-up, GE's per-expectation work) against data work; with one week
#: (1.8M rows) the fixed costs dominate every ratio, unlike in a warehouse with months of history.
DEFAULT_DAYS = 28
#: Every task a child process can run, by name.
TASKS: dict[str, Task] = {**STAGE_TASKS, **BASELINE_TASKS}


def parse_scales(text: str) -> list[float]:
    """``"1 10"`` or ``"0.1,1"`` -> [1.0, 10.0]; scales must be positive."""
    scales = [float(part) for part in text.replace(",", " ").split()]
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"BENCH_SCALES={text!r}: give one or more positive scales, e.g. '1 10'")
    return scales


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
    ge_sql = run_child("ge_sql", workdir, as_of)
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
    ]
    if (artifacts / "run_results.json").exists():  # kept for per-node analysis; the rest is large
        shutil.copyfile(artifacts / "run_results.json", workdir / "_bench" / "full_refresh_run_results.json")
    shutil.rmtree(artifacts, ignore_errors=True)
    return scale_result(ScaleRuns(scale, days, stages, native, ge_sql, full, replay, incremental))


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
    args = parser.parse_args(argv)
    scales = sorted(parse_scales(args.scales))
    settings = load_settings()
    root = settings.data_dir / "bench"
    root.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs = [bench_scale(root, scale, args.days) for scale in scales]
    results = {
        "started_at": started.isoformat(),
        "days": args.days,
        "scale_list": scales,
        "machine": machine(),
        "duckdb_settings": duckdb_config(settings),
        "dbt_target": settings.dbt_target,
        "scales": runs,
        "ratios": summarize(runs),
    }
    print(write_results(root, results))
    print(f"wrote {root / 'results.json'} and {root / 'results.md'}")
    return 1 if any(run["failed"] for run in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
