"""The benchmark's results: the ratios against their targets, ``results.json`` and ``results.md``.

Everything here is a pure function of the measurements, except ``write_results`` at the edge.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.bench.harness import HistoryRuns, ScaleRuns, Step

#: Targets: (comparison, threshold). ``<=`` means lower is better.
TARGETS: dict[str, tuple[str, float]] = {
    "ingest_vs_native": (">=", 0.8),
    "dbt_vs_raw_sql": ("<=", 1.3),
    "incremental_vs_full": ("<=", 0.1),
    "ge_vs_sql": ("<=", 2.0),
    "scaling_exponent": ("<=", 1.1),
    "scaling_exponent_cpu": ("<=", 1.1),
    "peak_rss_gb": ("<=", 4.0),
    "day_growth": ("<=", 1.2),
}
RATIO_MEANING = {
    "ingest_vs_native": "our events ingestion rows/s ÷ DuckDB read_json of the same files into a table",
    "dbt_vs_raw_sql": "`lifecycle transform --full-refresh` (`dbt build` and its records) wall time ÷ the "
    "same compiled SQL run directly in DuckDB",
    "incremental_vs_full": "`lifecycle transform` (`dbt build`) of one more day (incremental) ÷ the same "
    "with `--full-refresh`",
    "ge_vs_sql": "GE checkpoints (validate, without Data Docs) ÷ the same checks as plain SQL queries",
    "scaling_exponent": "log-log slope of total stage wall time against scale",
    "scaling_exponent_cpu": "the same slope on CPU seconds (stages and their children): robust to a busy box",
    "peak_rss_gb": "largest single-process peak RSS of any stage at the largest scale (GB)",
    "day_growth": "one more day's `lifecycle run` (ingest → publish, wall s) after the longest history ÷ "
    "after the shortest, same scale",
}
#: The row names of the history table besides the run's stages.
DAY_TOTAL = "total (ingest → publish)"
DAY_DOCS = "docs (not in the total)"
DAY_GENERATE = "generate the day (not in the total)"


def loglog_slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of log(y) against log(x): 1 is linear scaling, below 1 is sub-linear."""
    usable = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len({x for x, _ in usable}) < 2:
        raise ValueError(f"a slope needs two distinct positive x values, got {list(points)}")
    mean_x = sum(x for x, _ in usable) / len(usable)
    mean_y = sum(y for _, y in usable) / len(usable)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in usable)
    denominator = sum((x - mean_x) ** 2 for x, _ in usable)
    return numerator / denominator


def target_met(name: str, value: float | None) -> bool | None:
    """Whether ``value`` meets the target of ``name``; None when it could not be measured."""
    if value is None:
        return None
    comparison, threshold = TARGETS[name]
    return value >= threshold if comparison == ">=" else value <= threshold


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either was not measured (or the denominator is 0)."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def one_line(text: str, limit: int = 160) -> str:
    """A status fit for one Markdown table cell: one line, no pipes, at most ``limit`` characters."""
    first = " ".join(text.split()).replace("|", "/")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def fmt_rate(rows: int | None, seconds: float | None) -> str:
    if not rows or not seconds:
        return "—"
    return f"{rows / seconds:,.0f}"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 2**30:.2f} GB" if value >= 2**30 else f"{value / 2**20:,.0f} MB"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _detail_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_detail_text(v)}" for k, v in value.items())
    return str(value)


def _ratios(runs: ScaleRuns) -> dict[str, float | None]:
    """The ratios measured at one scale (the scaling exponent needs all scales: ``summarize``)."""
    ingest = runs.step("ingest").report
    ours = ratio(ingest.get("events_rows"), ingest.get("events_seconds"))
    theirs = ratio(runs.native_ingest.report.get("rows"), runs.native_ingest.report.get("call_seconds"))
    # dbt's side is the time inside `lifecycle transform` (dbt's process start, parse, build and artifacts,
    # then the platform's records of the build), as the replay's is the time inside its own call: the
    # child's interpreter start and the bench's bookkeeping (copying the artifacts the replay reads,
    # counting rows) belong to neither.
    full = runs.full_refresh.report.get("call_seconds")
    return {
        "ingest_vs_native": ratio(ours, theirs),
        "dbt_vs_raw_sql": ratio(full, runs.replay.report.get("call_seconds")),
        # The day's dbt build against the full rebuild: generating the day simulates the sources (not
        # platform work) and ingestion is incremental by construction (its own ratio is in the details).
        "incremental_vs_full": ratio(runs.step("transform_next_day").report.get("call_seconds"), full),
        "ge_vs_sql": ratio(*_ge_and_sql_seconds(runs)),
    }


def _fastest(steps: list[Step], key: str) -> float | None:
    """The least ``key`` the steps reported (other work on the machine only ever adds time)."""
    values = [s.report[key] for s in steps if s.report.get(key) is not None]
    return min(values) if values else None


def _ge_and_sql_seconds(runs: ScaleRuns) -> tuple[float | None, float | None]:
    """The GE checkpoints' seconds and their plain-SQL twin's, each the faster of its runs."""
    checks = [runs.step("validate"), *(s for s in runs.ge_again if s.name == "validate_again")]
    sql = [runs.ge_sql, *(s for s in runs.ge_again if s.name == "ge_sql_again")]
    return _fastest(checks, "checks_seconds"), _fastest(sql, "call_seconds")


def _floor(runs: ScaleRuns) -> dict[str, Any] | None:
    """The events loading floor's rows/s, and its ratio to ``read_json``'s: what ``ingest_vs_native`` could
    reach with the loader's reading and numbering of lines if judging cost nothing."""
    if runs.events_floor is None:
        return None
    floor, native = runs.events_floor.report, runs.native_ingest.report
    rows_per_s = ratio(floor.get("rows"), floor.get("call_seconds"))
    return {
        "rows": floor.get("rows"),
        "seconds": floor.get("call_seconds"),
        "rows_per_s": rows_per_s,
        "vs_read_json": ratio(rows_per_s, ratio(native.get("rows"), native.get("call_seconds"))),
    }


def _details(runs: ScaleRuns) -> dict[str, Any]:
    """The measurements behind the ratios, for the report's reader."""
    ingest, native, replay = runs.step("ingest"), runs.native_ingest.report, runs.replay.report
    full = runs.full_refresh
    again = [s for s in runs.next_day if s.name == "transform_nothing_new"]
    nothing_new = again[0].report.get("call_seconds") if again else None
    validate, ge_sql = runs.step("validate"), runs.ge_sql
    return {
        "events ingestion (ours)": {
            "rows": ingest.report.get("events_rows"),
            "seconds": ingest.report.get("events_seconds"),
            "rows_per_s": ratio(ingest.report.get("events_rows"), ingest.report.get("events_seconds")),
        },
        "events read_json (DuckDB)": {
            "rows": native.get("rows"),
            "seconds": native.get("call_seconds"),
            "rows_per_s": ratio(native.get("rows"), native.get("call_seconds")),
            "files": native.get("files"),
        },
        "events loading floor (our reading and numbered lines, one parse per line, nothing judged)": _floor(
            runs
        ),
        "dbt build --full-refresh (process wall s)": full.seconds,
        "dbt build --full-refresh (`lifecycle transform` call s)": full.report.get("call_seconds"),
        "dbt build --full-refresh (dbt elapsed s)": replay.get("dbt_elapsed"),
        "same SQL in DuckDB": {
            "seconds": replay.get("call_seconds"),
            "sql_seconds": replay.get("sql_seconds"),
            "snapshot/unit-test node seconds charged": replay.get("charged_node_seconds"),
            "nodes": replay.get("nodes"),
        },
        "next day (process wall s)": {s.name: s.seconds for s in runs.next_day},
        "next day's `lifecycle transform` call s": runs.step("transform_next_day").report.get("call_seconds"),
        "the same with nothing new landed (call s)": nothing_new,
        "nothing new ÷ full refresh (incremental_vs_full's floor with these models)": ratio(
            nothing_new, full.report.get("call_seconds")
        ),
        "next day ingest ÷ ingest of all days": ratio(runs.step("ingest_next_day").seconds, ingest.seconds),
        "GE checkpoints and plain SQL, the faster run of each (s)": dict(
            zip(("checkpoints", "plain_sql"), _ge_and_sql_seconds(runs), strict=True)
        ),
        "ge_vs_sql's runs: checkpoints or plain SQL (s)": {
            s.name: s.report.get("checks_seconds", s.report.get("call_seconds"))
            for s in [validate, ge_sql, *runs.ge_again]
        },
        "GE validate": {
            "checkpoints_seconds": validate.report.get("checks_seconds"),
            "with_data_docs_seconds": validate.report.get("call_seconds"),
            "process_wall_seconds": validate.seconds,
            "expectations": validate.report.get("expectations"),
        },
        "plain SQL checks": {
            "seconds": ge_sql.report.get("call_seconds"),
            "queries": ge_sql.rows,
            "unsupported": ge_sql.report.get("unsupported"),
        },
    }


def scale_result(runs: ScaleRuns) -> dict[str, Any]:
    """One entry of ``results.json``'s ``scales``: the stages, their totals, the ratios and their details."""
    stages, extra = runs.stages, runs.comparisons
    return {
        "scale": runs.scale,
        "days": runs.days,
        "stages": [asdict(s) | {"report": None} for s in stages],
        "total_seconds": sum(s.seconds for s in stages),
        "total_cpu_seconds": sum(s.cpu_seconds or 0.0 for s in stages),
        "peak_rss": max(s.peak_rss for s in stages),
        "ratios": _ratios(runs),
        "details": _details(runs),
        "comparison_runs": [asdict(s) | {"report": s.report} for s in extra],
        "failed": [s.name for s in [*stages, *extra] if s.status.startswith("error")],
    }


def _ratio_entry(name: str, value: float | None) -> dict[str, Any]:
    comparison, target = TARGETS[name]
    return {
        "value": value,
        "target": target,
        "comparison": comparison,
        "met": target_met(name, value),
        "meaning": RATIO_MEANING[name],
    }


def _step_entry(stage: str, step: Any) -> dict[str, Any]:
    return {"stage": stage, **asdict(step)}


def history_result(runs: HistoryRuns) -> dict[str, Any]:
    """One entry of ``results.json``'s ``history.runs``: the day's run after ``history_days`` days."""
    day = list(runs.day.values())
    return {
        "history_days": runs.history_days,
        "day": runs.day_date,
        "stages": [_step_entry(stage, step) for stage, step in runs.day.items()],
        "total_seconds": sum(s.seconds for s in day),
        "total_cpu_seconds": sum(s.cpu_seconds or 0.0 for s in day),
        "peak_rss": max(s.peak_rss for r in runs.repeats for s in r.values()),
        "repeats": [
            {
                "total_seconds": sum(s.seconds for s in repeat.values()),
                "total_cpu_seconds": sum(s.cpu_seconds or 0.0 for s in repeat.values()),
                "stages": [_step_entry(stage, step) for stage, step in repeat.items()],
            }
            for repeat in runs.repeats
        ],
        "generate_day": _step_entry("generate", runs.generate_day),
        "docs": _step_entry("docs", runs.docs),
        "history_build": [asdict(s) for s in runs.build],
        "failed": [s.name for s in runs.steps if s.status.startswith("error")],
    }


def _day_rows(run: Mapping[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """(wall s, CPU s) of each row of the history table for one history length."""
    rows = {s["stage"]: (s["seconds"], s.get("cpu_seconds")) for s in run["stages"]}
    rows[DAY_TOTAL] = (run["total_seconds"], run.get("total_cpu_seconds"))
    rows[DAY_DOCS] = (run["docs"]["seconds"], run["docs"].get("cpu_seconds"))
    rows[DAY_GENERATE] = (run["generate_day"]["seconds"], run["generate_day"].get("cpu_seconds"))
    return rows


def day_growth_details(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per stage, the total, docs and the generated day: the seconds after each history and the growth
    from the shortest history to the longest (``growth`` on wall time, ``cpu_growth`` on CPU)."""
    ordered = sorted(runs, key=lambda r: r["history_days"])
    rows = [_day_rows(run) for run in ordered]
    details: dict[str, dict[str, float | None]] = {}
    if not rows:
        return details
    for name, last in rows[-1].items():
        entry: dict[str, float | None] = {
            f"after_{run['history_days']}_days_s": row.get(name, (None, None))[0]
            for run, row in zip(ordered, rows, strict=True)
        }
        first = rows[0].get(name, (None, None)) if len(rows) > 1 else (None, None)
        entry["growth"] = ratio(last[0], first[0])
        entry["cpu_growth"] = ratio(last[1], first[1])
        details[name] = entry
    return details


def history_summary(scale: float, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``results.json``'s ``history``: each history length's day, and their growth (``day_growth`` is
    that of the total; None with fewer than two history lengths)."""
    details = day_growth_details(runs)
    return {
        "scale": scale,
        "history_days": sorted(r["history_days"] for r in runs),
        "runs": list(runs),
        "day_growth": details[DAY_TOTAL]["growth"] if details else None,
        "details": details,
        "failed": [name for r in runs for name in r["failed"]],
    }


def summarize(
    runs: list[dict[str, Any]], history: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The headline ratios: measured at the largest scale, the exponent across all scales, the day's
    growth with history on the history axis."""
    largest = runs[-1]
    ratios = {name: _ratio_entry(name, largest["ratios"][name]) for name in largest["ratios"]}
    points = [(r["scale"], r["total_seconds"]) for r in runs]
    slope = loglog_slope(points) if len({s for s, _ in points}) > 1 else None
    ratios["scaling_exponent"] = _ratio_entry("scaling_exponent", slope)
    cpu_points = [(r["scale"], r.get("total_cpu_seconds") or 0.0) for r in runs]
    cpu_slope = loglog_slope(cpu_points) if slope is not None and all(c for _, c in cpu_points) else None
    ratios["scaling_exponent_cpu"] = _ratio_entry("scaling_exponent_cpu", cpu_slope)
    ratios["peak_rss_gb"] = _ratio_entry("peak_rss_gb", largest["peak_rss"] / 2**30)
    ratios["day_growth"] = _ratio_entry("day_growth", history["day_growth"] if history else None)
    return ratios


def machine() -> dict[str, Any]:
    """What the benchmark ran on: CPUs, platform and the versions that decide the timings."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "dbt": version("dbt-core"),
        "dbt-duckdb": version("dbt-duckdb"),
        "great_expectations": version("great_expectations"),
    }


def _stage_lines(run: Mapping[str, Any]) -> list[str]:
    lines = [
        f"| {run['scale']:g} | {stage['name']} | {fmt_seconds(stage['seconds'])} | "
        f"{fmt_seconds(stage.get('cpu_seconds'))} | {stage['rows']:,} | "
        f"{fmt_rate(stage['rows'], stage['seconds'])} | "
        f"{fmt_bytes(stage['peak_rss'])} | {stage['status']} |"
        for stage in run["stages"]
    ]
    lines.append(
        f"| {run['scale']:g} | **total** | **{fmt_seconds(run['total_seconds'])}** | "
        f"{fmt_seconds(run.get('total_cpu_seconds'))} | | | "
        f"**{fmt_bytes(run['peak_rss'])}** | |"
    )
    return lines


def _ratio_line(name: str, entry: Mapping[str, Any]) -> str:
    met = {True: "met", False: "**missed**", None: "not measured"}[entry["met"]]
    return (
        f"| `{name}` | {fmt_ratio(entry['value'])} | {entry['comparison']} {entry['target']:g} | "
        f"{met} | {entry['meaning']} |"
    )


def _largest_lines(largest: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        f"At scale {largest['scale']:g}: total {fmt_seconds(largest['total_seconds'])} s, "
        f"peak RSS {fmt_bytes(largest['peak_rss'])}.",
    ]
    detail = largest.get("details", {})
    if detail:
        lines += ["", "Measurements behind the ratios (largest scale):", ""]
        lines += [f"- {key}: {_detail_text(value)}" for key, value in detail.items()]
    return lines


def history_lines(history: Mapping[str, Any]) -> list[str]:
    """The history axis as Markdown: per stage the day's seconds after each history, and the growth."""
    lengths = history["history_days"]
    header = "| stage | " + " | ".join(f"wall s after {d} d | CPU s after {d} d" for d in lengths)
    header += " | growth | CPU growth |"
    align = "|---|" + "---:|---:|" * len(lengths) + "---:|---:|"
    lines = [
        "",
        f"History axis at scale {history['scale']:g}: one more simulated day's `lifecycle run` after "
        + " and ".join(f"{d}" for d in lengths)
        + " days of history (process wall and CPU seconds; growth = longest history ÷ shortest).",
        "",
        header,
        align,
    ]
    by_days = {r["history_days"]: _day_rows(r) for r in history["runs"]}
    for name, entry in history["details"].items():
        cells = []
        for days in lengths:
            wall, cpu = by_days[days].get(name, (None, None))
            cells.append(f"{fmt_seconds(wall)} | {fmt_seconds(cpu)}")
        label = f"**{name}**" if name == DAY_TOTAL else name
        lines.append(
            f"| {label} | {' | '.join(cells)} | {fmt_ratio(entry['growth'])} | "
            f"{fmt_ratio(entry['cpu_growth'])} |"
        )
    problems = [
        f"{s['name']}: {s['status']}"
        for r in history["runs"]
        for s in [*r["stages"], r["docs"], r["generate_day"]]
        if s["status"] != "ok"
    ]
    peaks = ", ".join(f"{fmt_bytes(r['peak_rss'])} after {r['history_days']} d" for r in history["runs"])
    lines += _repeat_lines(history["runs"])
    lines += ["", f"Peak RSS of the day's stages: {peaks}."]
    if problems:
        lines += ["", "Not ok: " + "; ".join(problems) + "."]
    return lines


def _repeat_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """How often each day ran and the total of each run, when it ran more than once."""
    repeats = [r.get("repeats", []) for r in runs]
    if max((len(r) for r in repeats), default=0) < 2:
        return []
    order = ", ".join(str(r["history_days"]) for r in runs)
    totals = "; ".join(
        f"after {run['history_days']} d "
        + ", ".join(f"{fmt_seconds(r['total_seconds'])} s" for r in run_repeats)
        for run, run_repeats in zip(runs, repeats, strict=True)
    )
    return [
        "",
        f"Each day ran {len(repeats[0])} times from the same state, the history lengths taking turns "
        f"({order}, then again); each stage's row is its fastest run. The day's totals run by run: {totals}.",
    ]


def render_markdown(results: Mapping[str, Any]) -> str:
    """The results as Markdown: one table of stages per scale, then the ratios against their targets."""
    settings = ", ".join(f"{k}={v}" for k, v in results["duckdb_settings"].items() if k != "temp_directory")
    host = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"{results['started_at']} · {host['cpus']} CPUs · DuckDB {host['duckdb']} · dbt {host['dbt']}"
        f" · {results['days']} simulated days per scale · DuckDB {settings}",
        "",
        "| scale | stage | wall s | CPU s | rows | rows/s | peak RSS | status |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["scales"]:
        lines += _stage_lines(run)
    lines += ["", "| ratio | value | target | met | what |", "|---|---:|---:|---|---|"]
    lines += [_ratio_line(name, entry) for name, entry in results["ratios"].items()]
    if results["scales"]:
        lines += _largest_lines(results["scales"][-1])
    if results.get("history"):
        lines += history_lines(results["history"])
    if results.get("history_error"):
        lines += ["", f"History axis not measured: {results['history_error']}."]
    return "\n".join(lines) + "\n"


def write_results(root: Path, results: Mapping[str, Any]) -> str:
    """Write ``results.json`` and ``results.md`` under ``root``; returns the Markdown."""
    from lifecycle.storage import write_atomic

    markdown = render_markdown(results)
    write_atomic(root / "results.json", json.dumps(results, indent=2, default=str))
    write_atomic(root / "results.md", markdown)
    return markdown
