"""``make bench``: time every lifecycle stage at several scales and the ratios that say where time goes.

Each stage runs in its own child process (``python -m lifecycle.bench _child ...``), so its peak RSS is
its own: the child reports ``getrusage`` of itself and of its waited-for children (dbt runs as one).
Results land in ``$LIFECYCLE_DATA_DIR/bench/results.json`` and ``results.md``; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import graphlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.config import Settings, load_settings
from lifecycle.storage import connect, connect_warehouse, duckdb_config

#: The lifecycle stages, in pipeline order (``lifecycle run``).
STAGES = ("generate", "ingest", "transform", "validate", "publish", "docs")
#: The simulated world's first day; any fixed day keeps runs comparable.
FIRST_DAY = dt.date(2024, 1, 1)
SEED = 42
DEFAULT_SCALES = (1.0, 10.0)
#: Four weeks: scale 10 is then about 3.5M events and 0.3M orders (7M source rows). The ratios weigh fixed
#: costs per call (interpreter and dbt start-up, GE's per-expectation work) against data work; with one week
#: (1.8M rows) the fixed costs dominated every ratio, unlike in a warehouse with months of history.
DEFAULT_DAYS = 28
#: Targets: (comparison, threshold). ``<=`` means lower is better.
TARGETS: dict[str, tuple[str, float]] = {
    "ingest_vs_native": (">=", 0.5),
    "dbt_vs_raw_sql": ("<=", 1.5),
    "incremental_vs_full": ("<=", 0.1),
    "ge_vs_sql": ("<=", 3.0),
    "scaling_exponent": ("<=", 1.1),
    "scaling_exponent_cpu": ("<=", 1.1),
    "peak_rss_gb": ("<=", 4.0),
}
RATIO_MEANING = {
    "ingest_vs_native": "our events ingestion rows/s ÷ DuckDB read_json of the same files into a table",
    "dbt_vs_raw_sql": "`dbt build --full-refresh` wall time ÷ the same compiled SQL run directly in DuckDB",
    "incremental_vs_full": "`dbt build` of one more day (incremental) ÷ `dbt build --full-refresh`",
    "ge_vs_sql": "GE checkpoints (validate, without Data Docs) ÷ the same checks as plain SQL queries",
    "scaling_exponent": "log-log slope of total stage wall time against scale",
    "scaling_exponent_cpu": "the same slope on CPU seconds (stages and their children): robust to a busy box",
    "peak_rss_gb": "largest single-process peak RSS of any stage at the largest scale (GB)",
}


# --------------------------------------------------------------------------------------------- pure helpers


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


def dag_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes in an order where each comes after its parents (ties by name); unknown parents are ignored."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in sorted(depends_on):
        sorter.add(node, *sorted(p for p in depends_on[node] if p in depends_on))
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order


def parse_scales(text: str) -> list[float]:
    """``"1 10"`` or ``"0.1,1"`` -> [1.0, 10.0]; scales must be positive."""
    scales = [float(part) for part in text.replace(",", " ").split()]
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"BENCH_SCALES={text!r}: give one or more positive scales, e.g. '1 10'")
    return scales


def one_line(text: str, limit: int = 160) -> str:
    """A status fit for one Markdown table cell: one line, no pipes, at most ``limit`` characters."""
    first = " ".join(text.split()).replace("|", "/")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _fmt_rate(rows: int | None, seconds: float | None) -> str:
    if not rows or not seconds:
        return "—"
    return f"{rows / seconds:,.0f}"


def _fmt_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 2**30:.2f} GB" if value >= 2**30 else f"{value / 2**20:,.0f} MB"


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def render_markdown(results: Mapping[str, Any]) -> str:
    """The results as Markdown: one table of stages per scale, then the ratios against their targets."""
    lines = [
        "# Benchmark results",
        "",
        f"{results['started_at']} · {results['machine']['cpus']} CPUs · DuckDB {results['machine']['duckdb']}"
        f" · dbt {results['machine']['dbt']} · {results['days']} simulated days per scale · DuckDB "
        + ", ".join(f"{k}={v}" for k, v in results["duckdb_settings"].items() if k != "temp_directory"),
        "",
        "| scale | stage | wall s | CPU s | rows | rows/s | peak RSS | status |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["scales"]:
        for stage in run["stages"]:
            lines.append(
                f"| {run['scale']:g} | {stage['name']} | {_fmt_seconds(stage['seconds'])} | "
                f"{_fmt_seconds(stage.get('cpu_seconds'))} | {stage['rows']:,} | "
                f"{_fmt_rate(stage['rows'], stage['seconds'])} | "
                f"{_fmt_bytes(stage['peak_rss'])} | {stage['status']} |"
            )
        lines.append(
            f"| {run['scale']:g} | **total** | **{_fmt_seconds(run['total_seconds'])}** | "
            f"{_fmt_seconds(run.get('total_cpu_seconds'))} | | | "
            f"**{_fmt_bytes(run['peak_rss'])}** | |"
        )
    lines += ["", "| ratio | value | target | met | what |", "|---|---:|---:|---|---|"]
    for name, ratio in results["ratios"].items():
        met = {True: "met", False: "**missed**", None: "not measured"}[ratio["met"]]
        lines.append(
            f"| `{name}` | {_fmt_ratio(ratio['value'])} | {ratio['comparison']} {ratio['target']:g} | "
            f"{met} | {ratio['meaning']} |"
        )
    largest = results["scales"][-1] if results["scales"] else None
    if largest:
        lines += [
            "",
            f"At scale {largest['scale']:g}: total {_fmt_seconds(largest['total_seconds'])} s, "
            f"peak RSS {_fmt_bytes(largest['peak_rss'])}.",
        ]
        detail = largest.get("details", {})
        if detail:
            lines += ["", "Measurements behind the ratios (largest scale):", ""]
            lines += [f"- {key}: {_detail_text(value)}" for key, value in detail.items()]
    return "\n".join(lines) + "\n"


def _detail_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_detail_text(v)}" for k, v in value.items())
    return str(value)


# ------------------------------------------------------------------------------------------- child tasks


def _usage() -> dict[str, float]:
    """Peak RSS in bytes of this process and of its largest waited-for descendant (Linux reports KiB), and
    the CPU seconds of both: CPU time is far less disturbed than wall time by other work on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "peak_rss_self": own.ru_maxrss * 1024,
        "peak_rss_children": children.ru_maxrss * 1024,
        "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
    }


class _Clock:
    """Timestamps of progress messages, to split one call's time into its phases."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        self.marks.append((time.perf_counter() - self.start, message))
        print(message, flush=True)

    def between(self, first: str, after_first: bool = True) -> float | None:
        """Seconds from the first message starting with ``first`` to the next message (or now)."""
        for index, (at, message) in enumerate(self.marks):
            if message.startswith(first):
                following = self.marks[index + 1 :] if after_first else []
                end = following[0][0] if following else time.perf_counter() - self.start
                return end - at
        return None

    def at(self, prefix: str) -> float | None:
        return next((at for at, message in self.marks if message.startswith(prefix)), None)


def _as_of(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59))


def _raw_rows(settings: Settings) -> int:

    with connect_warehouse(settings, read_only=True) as con:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' and table_name not like '\\_%'"
            " escape '\\'"
        ).fetchall()
        return sum(con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for (t,) in tables)  # type: ignore[index]


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

    clock = _Clock()
    results = ingest(settings, as_of=_as_of(params["as_of"]), progress=clock)
    by_source = {r.source: r for r in results}
    events = by_source.get("events")
    return {
        "rows": sum(r.rows[0] for r in results),
        "call_seconds": time.perf_counter() - clock.start,
        "errors": [e for r in results for e in r.errors],
        "events_rows": events.rows[0] if events else 0,
        "events_seconds": clock.between("ingest: events"),
    }


def task_transform(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.errors import GateFailed
    from lifecycle.transform import transform

    started = time.perf_counter()
    status = "ok"
    try:
        transform(settings, as_of=_as_of(params["as_of"]), full_refresh=params.get("full_refresh", False))
    except GateFailed as exc:  # failing dbt tests still timed the whole build
        status = f"gate failed: {str(exc)[:200]}"
    seconds = time.perf_counter() - started
    if params.get("keep_artifacts"):
        keep = Path(params["keep_artifacts"])
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        for name in ("manifest.json", "run_results.json"):
            shutil.copyfile(settings.dbt_target_dir / name, keep / name)
        shutil.copytree(settings.dbt_target_dir / "run", keep / "run")
    results_file = settings.dbt_target_dir / "run_results.json"
    statuses: dict[str, int] = {}
    if results_file.exists():
        for node in json.loads(results_file.read_text())["results"]:
            statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    if statuses.get("skipped"):
        status += f" ({statuses['skipped']} nodes skipped)"
    return {"rows": _raw_rows(settings), "call_seconds": seconds, "status": status, "node_statuses": statuses}


def task_validate(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.errors import GateFailed
    from lifecycle.quality.gates import audit_build

    clock = _Clock()
    try:
        report = audit_build(settings, as_of=_as_of(params["as_of"]), run_id="bench", progress=clock)
        status = "ok"
    except GateFailed as exc:  # a failed gate still timed every check
        report, status = None, f"gate failed: {str(exc)[:200]}"
    call = time.perf_counter() - clock.start
    checks = clock.at("building Data Docs")
    return {
        "rows": _checked_rows(settings, params["as_of"]),
        "call_seconds": call,
        "checks_seconds": checks if checks is not None else call,
        "status": status,
        "expectations": len(report.outcomes) if report else None,
    }


def _checked_rows(settings: Settings, as_of: str) -> int:
    import duckdb

    from lifecycle.quality.suites import load_suites

    tables = load_suites(settings.project_dir / "expectations", as_of=_as_of(as_of))
    total = 0
    with connect_warehouse(settings, read_only=True) as con:
        for table in tables:
            try:
                total += con.execute(f'select count(*) from "{table.layer}"."{table.table}"').fetchone()[0]  # type: ignore[index]
            except duckdb.CatalogException:
                continue
    return total


def task_publish(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.publish import publish

    started = time.perf_counter()
    publication = publish(settings)
    return {"rows": sum(publication.tables.values()), "call_seconds": time.perf_counter() - started}


def task_docs(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.docs import build_docs

    started = time.perf_counter()
    build_docs(settings)
    return {"rows": _raw_rows(settings), "call_seconds": time.perf_counter() - started}


def task_native_ingest(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB alone: read_json over the event files our ingestion loaded, into a table of a fresh file."""

    from lifecycle.ingest.schemas import EVENT_FIELDS

    with connect_warehouse(settings, read_only=True) as con:
        relative = [
            r[0] for r in con.execute("select path from raw._manifest where source = 'events'").fetchall()
        ]
    files = [str(settings.sources_dir / path) for path in sorted(relative)]
    target = settings.data_dir / "native.duckdb"
    target.unlink(missing_ok=True)
    columns = "{" + ", ".join(f"'{name}': '{type_}'" for name, type_ in EVENT_FIELDS.items()) + "}"
    started = time.perf_counter()
    with connect(target, settings=settings) as con:
        con.execute(
            f"""
            create table events as
            select * from read_json(?, format = 'newline_delimited', compression = 'gzip',
                columns = {columns}, ignore_errors = true)
            """,
            [files],
        )
        (rows,) = con.execute("select count(*) from events").fetchone()  # type: ignore[misc]
    seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {"rows": rows, "call_seconds": seconds, "files": len(files)}


def expectation_sql(kind: str, kwargs: Mapping[str, Any], table: str) -> tuple[str, list[Any]] | None:
    """Plain SQL for one GE expectation over ``table``: returns (query, parameters) or None if unsupported.

    The query yields one number: the count of unexpected rows, or the observed value (max, row count).
    """
    column = f'"{kwargs["column"]}"' if "column" in kwargs else None
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if kind == "expect_column_values_to_be_unique":
        return (
            f"select count(*) from {table} where {column} in "
            f"(select {column} from {table} group by all having count(*) > 1)",
            [],
        )
    if kind == "expect_compound_columns_to_be_unique":
        columns = ", ".join(f'"{c}"' for c in kwargs["column_list"])
        return (
            f"select coalesce(sum(n), 0) from (select count(*) as n from {table} group by {columns}"
            " having count(*) > 1)",
            [],
        )
    if kind == "expect_column_values_to_not_be_null":
        return f"select count(*) from {table} where {column} is null", []
    if kind == "expect_column_values_to_be_in_set":
        return (
            f"select count(*) from {table} where {column} is not null and not list_contains(?, {column})",
            [list(kwargs["value_set"])],
        )
    if kind == "expect_column_values_to_be_between":
        bounds = [f"{column} < ?" for _ in [low] if low is not None]
        bounds += [f"{column} > ?" for _ in [high] if high is not None]
        values = [v for v in (low, high) if v is not None]
        return f"select count(*) from {table} where {' or '.join(bounds) or 'false'}", values
    if kind in {"expect_column_max_to_be_between", "expect_column_min_to_be_between"}:
        function = "max" if "max" in kind else "min"
        return f"select {function}({column}) from {table}", []
    if kind == "expect_table_row_count_to_be_between":
        return f"select count(*) from {table}", []
    if kind == "unexpected_rows_expectation":
        query = str(kwargs["unexpected_rows_query"]).replace("{batch}", table)
        return f"select count(*) from ({query})", []
    return None


def task_ge_sql(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """The suites' checks as plain SQL, one query each, on a read-only connection (like GE's)."""

    from lifecycle.quality.suites import load_suites

    tables = load_suites(settings.project_dir / "expectations", as_of=_as_of(params["as_of"]))
    started = time.perf_counter()
    ran, unsupported = 0, []
    with connect_warehouse(settings, read_only=True) as con:
        present = {
            (s, t) for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        }
        for table in tables:
            if (table.layer, table.table) not in present:
                continue
            for suite in table.suites:
                for expectation in suite.expectations:
                    config = expectation.configuration
                    sql = expectation_sql(config.type, config.kwargs, f'"{table.layer}"."{table.table}"')
                    if sql is None:
                        unsupported.append(config.type)
                        continue
                    con.execute(*sql).fetchall()
                    ran += 1
    return {"rows": ran, "call_seconds": time.perf_counter() - started, "unsupported": unsupported}


def task_replay(settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    """dbt's own SQL, run directly: the run/ statements of the last build, in DAG order from its manifest.

    Runs on a copy of the warehouse (same file name, so the ``"warehouse"`` catalog in the SQL resolves).
    Models: the run/ file (it builds ``<name>__dbt_tmp``), then the swap dbt does. Tests: the stored
    failures table from the compiled SQL, then the run/ count. Seeds: ``read_csv``. Snapshots and unit
    tests need tables dbt creates at run time; they are charged with dbt's own node time.
    """

    artifacts = Path(params["artifacts"])
    manifest = json.loads((artifacts / "manifest.json").read_text())
    results = json.loads((artifacts / "run_results.json").read_text())
    # Nodes dbt skipped (downstream of a failure) did no work in dbt, so they are not replayed either.
    node_seconds = {
        r["unique_id"]: r["execution_time"] for r in results["results"] if r["status"] != "skipped"
    }
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed", "snapshot", "test"} and uid in node_seconds
    }
    order = dag_order({uid: node["depends_on"].get("nodes", []) for uid, node in nodes.items()})
    target_dir = Path(params["target_dir"])
    copy_dir = settings.data_dir / "replay"
    shutil.rmtree(copy_dir, ignore_errors=True)
    copy_dir.mkdir()
    shutil.copyfile(settings.warehouse_path, copy_dir / settings.warehouse_path.name)
    replay_settings = Settings(data_dir=copy_dir)
    charged = sum(
        s for uid, s in node_seconds.items() if uid not in nodes or nodes[uid]["resource_type"] == "snapshot"
    )
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with connect(replay_settings.warehouse_path, settings=settings) as con:
        for uid in order:
            node = nodes[uid]
            kind = node["resource_type"]
            if kind == "snapshot" or node["config"].get("materialized") == "ephemeral":
                continue
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "seed":
                csv = settings.project_dir / node["original_file_path"]
                con.execute(
                    f'create or replace table "{node["schema"]}"."{node["alias"]}" as '
                    f"select * from read_csv('{csv}', header = true)"
                )
                continue
            run_sql = _run_path(node, target_dir, artifacts).read_text()
            if kind == "test":
                if node.get("relation_name"):
                    con.execute(
                        f"create or replace table {node['relation_name']} as ({node['compiled_code']})"
                    )
                con.execute(run_sql).fetchall()
                continue
            con.execute(run_sql)
            if "__dbt_tmp" in run_sql:
                _swap(con, node)
    seconds = time.perf_counter() - started
    shutil.rmtree(copy_dir, ignore_errors=True)
    return {
        "rows": sum(counts.values()),
        "call_seconds": seconds + charged,
        "sql_seconds": seconds,
        "charged_node_seconds": charged,
        "nodes": counts,
        "dbt_elapsed": results.get("elapsed_time"),
    }


def _run_path(node: Mapping[str, Any], target_dir: Path, artifacts: Path) -> Path:
    compiled = Path(node["compiled_path"])
    if not compiled.is_absolute():
        compiled = target_dir.parent / compiled
    return artifacts / "run" / compiled.relative_to(target_dir / "compiled")


def _swap(con: Any, node: Mapping[str, Any]) -> None:
    """What dbt does after building ``<name>__dbt_tmp``: drop the old relation, rename the new one in."""
    schema, alias = node["schema"], node["alias"]
    kind = "view" if node["config"].get("materialized") == "view" else "table"
    existing = con.execute(
        "select 'table' from duckdb_tables() where schema_name = ? and table_name = ?"
        " union all select 'view' from duckdb_views() where schema_name = ? and view_name = ?",
        [schema, alias, schema, alias],
    ).fetchall()
    for (old,) in existing:
        con.execute(f'drop {old} "{schema}"."{alias}" cascade')
    con.execute(f'alter {kind} "{schema}"."{alias}__dbt_tmp" rename to "{alias}"')


TASKS: dict[str, Callable[[Settings, dict[str, Any]], dict[str, Any]]] = {
    "generate": task_generate,
    "ingest": task_ingest,
    "transform": task_transform,
    "validate": task_validate,
    "publish": task_publish,
    "docs": task_docs,
    "native_ingest": task_native_ingest,
    "ge_sql": task_ge_sql,
    "replay": task_replay,
}


def _child(task: str, params_json: str, result_path: str) -> int:
    settings = load_settings()
    result = TASKS[task](settings, json.loads(params_json))
    result.update(_usage())
    Path(result_path).write_text(json.dumps(result, default=str))
    return 0


# --------------------------------------------------------------------------------------------- the driver


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
        f"peak RSS {_fmt_bytes(peak)}, {status}",
        flush=True,
    )
    return step


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def bench_scale(root: Path, scale: float, days: int) -> dict[str, Any]:
    """Run the lifecycle and the comparison runs at one scale, in a fresh working directory."""
    workdir = root / f"scale-{scale:g}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    as_of = {"as_of": last.isoformat()}
    print(f"==> scale {scale:g}, {days} days from {FIRST_DAY} ({workdir})", flush=True)
    stage_params = {
        "generate": {"scale": scale, "start": FIRST_DAY.isoformat(), "days": days},
        "ingest": as_of,
        "transform": as_of,
        "validate": as_of,
        "publish": {},
        "docs": {},
    }
    stages = [run_child(name, workdir, stage_params[name]) for name in STAGES]
    by_name = {s.name: s for s in stages}

    print("  comparisons:", flush=True)
    settings = Settings(data_dir=workdir)
    native = run_child("native_ingest", workdir, {})
    ge_sql = run_child("ge_sql", workdir, as_of)
    artifacts = workdir / "_bench" / "full-refresh-artifacts"
    full = run_child(
        "transform",
        workdir,
        {**as_of, "full_refresh": True, "keep_artifacts": str(artifacts)},
        label="transform_full_refresh",
    )
    replay = run_child(
        "replay", workdir, {"artifacts": str(artifacts), "target_dir": str(settings.dbt_target_dir)}
    )
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

    ingest = by_name["ingest"].report
    ours = _ratio(ingest.get("events_rows"), ingest.get("events_seconds"))
    theirs = _ratio(native.report.get("rows"), native.report.get("call_seconds"))
    validate = by_name["validate"].report
    _, ingest_day, transform_day = incremental
    ratios = {
        "ingest_vs_native": _ratio(ours, theirs),
        "dbt_vs_raw_sql": _ratio(full.seconds, replay.report.get("call_seconds")),
        # The day's dbt build against the full rebuild: generating the day simulates the sources (not
        # platform work) and ingestion is incremental by construction (its own ratio is in the details).
        "incremental_vs_full": _ratio(transform_day.seconds, full.seconds),
        "ge_vs_sql": _ratio(validate.get("checks_seconds"), ge_sql.report.get("call_seconds")),
    }
    details = {
        "events ingestion (ours)": {
            "rows": ingest.get("events_rows"),
            "seconds": ingest.get("events_seconds"),
            "rows_per_s": ours,
        },
        "events read_json (DuckDB)": {
            "rows": native.report.get("rows"),
            "seconds": native.report.get("call_seconds"),
            "rows_per_s": theirs,
            "files": native.report.get("files"),
        },
        "dbt build --full-refresh (process wall s)": full.seconds,
        "dbt build --full-refresh (dbt elapsed s)": replay.report.get("dbt_elapsed"),
        "same SQL in DuckDB": {
            "seconds": replay.report.get("call_seconds"),
            "sql_seconds": replay.report.get("sql_seconds"),
            "snapshot/unit-test node seconds charged": replay.report.get("charged_node_seconds"),
            "nodes": replay.report.get("nodes"),
        },
        "next day": {s.name: s.seconds for s in incremental},
        "next day ingest ÷ ingest of all days": _ratio(ingest_day.seconds, by_name["ingest"].seconds),
        "GE validate": {
            "checkpoints_seconds": validate.get("checks_seconds"),
            "with_data_docs_seconds": validate.get("call_seconds"),
            "process_wall_seconds": by_name["validate"].seconds,
            "expectations": validate.get("expectations"),
        },
        "plain SQL checks": {
            "seconds": ge_sql.report.get("call_seconds"),
            "queries": ge_sql.rows,
            "unsupported": ge_sql.report.get("unsupported"),
        },
    }
    extra = [native, ge_sql, full, replay, *incremental]
    return {
        "scale": scale,
        "days": days,
        "stages": [asdict(s) | {"report": None} for s in stages],
        "total_seconds": sum(s.seconds for s in stages),
        "total_cpu_seconds": sum(s.cpu_seconds or 0.0 for s in stages),
        "peak_rss": max(s.peak_rss for s in stages),
        "ratios": ratios,
        "details": details,
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


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The headline ratios: measured at the largest scale, the exponent across all scales."""
    largest = runs[-1]
    ratios = {name: _ratio_entry(name, largest["ratios"][name]) for name in largest["ratios"]}
    points = [(r["scale"], r["total_seconds"]) for r in runs]
    slope = loglog_slope(points) if len({s for s, _ in points}) > 1 else None
    ratios["scaling_exponent"] = _ratio_entry("scaling_exponent", slope)
    cpu_points = [(r["scale"], r.get("total_cpu_seconds") or 0.0) for r in runs]
    cpu_slope = loglog_slope(cpu_points) if slope is not None and all(c for _, c in cpu_points) else None
    ratios["scaling_exponent_cpu"] = _ratio_entry("scaling_exponent_cpu", cpu_slope)
    ratios["peak_rss_gb"] = _ratio_entry("peak_rss_gb", largest["peak_rss"] / 2**30)
    return ratios


def _versions() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "dbt": version("dbt-core"),
        "dbt-duckdb": version("dbt-duckdb"),
        "great_expectations": version("great_expectations"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return _child(*argv[1:4])
    parser = argparse.ArgumentParser(prog="python -m lifecycle.bench", description=__doc__)
    parser.add_argument("--scales", default=os.environ.get("BENCH_SCALES", "1 10"), help="e.g. '1 10'")
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
        "machine": _versions(),
        "duckdb_settings": duckdb_config(settings),
        "dbt_target": settings.dbt_target,
        "scales": runs,
        "ratios": summarize(runs),
    }
    (root / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (root / "results.md").write_text(render_markdown(results))
    print(render_markdown(results))
    print(f"wrote {root / 'results.json'} and {root / 'results.md'}")
    return 1 if any(run["failed"] for run in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
