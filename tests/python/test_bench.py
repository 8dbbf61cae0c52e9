"""The benchmark harness's pure helpers: slope, targets, DAG order, check SQL and the Markdown report.

No timing assertions here: speed is measured by `make bench`, not asserted.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from lifecycle.bench.__main__ import parse_history_days, parse_scales
from lifecycle.bench.baselines import dag_order, expectation_sql
from lifecycle.bench.harness import RUN_STAGE_TASKS, HistoryRuns, Step, _timed_gate
from lifecycle.bench.report import (
    DAY_DOCS,
    DAY_GENERATE,
    DAY_TOTAL,
    history_lines,
    history_result,
    history_summary,
    loglog_slope,
    one_line,
    render_markdown,
    summarize,
    target_met,
)
from lifecycle.errors import GateFailed


def test_loglog_slope_of_a_power_law_is_its_exponent() -> None:
    assert loglog_slope([(1, 3.0), (10, 30.0)]) == pytest.approx(1.0)
    assert loglog_slope([(1, 5.0), (10, 5.0)]) == pytest.approx(0.0)
    points = [(x, 2.0 * x**0.8) for x in (0.1, 1, 10, 100)]
    assert loglog_slope(points) == pytest.approx(0.8)


def test_loglog_slope_needs_two_distinct_scales() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        loglog_slope([(1, 2.0), (1, 3.0)])


def test_targets_compare_in_the_right_direction() -> None:
    assert target_met("ingest_vs_native", 0.8) is True
    assert target_met("ingest_vs_native", 0.7) is False
    assert target_met("dbt_vs_raw_sql", 1.3) is True
    assert target_met("dbt_vs_raw_sql", 1.4) is False
    assert target_met("ge_vs_sql", 2.0) is True
    assert target_met("ge_vs_sql", 2.1) is False
    assert target_met("ge_vs_sql", None) is None


def test_dag_order_puts_parents_first_and_ignores_unknown_parents() -> None:
    order = dag_order({"c": ["b", "a"], "b": ["a", "source.x"], "a": [], "d": []})
    assert order.index("a") < order.index("b") < order.index("c")
    assert sorted(order) == ["a", "b", "c", "d"]


def test_one_line_keeps_a_table_cell_whole() -> None:
    assert one_line("gate failed: x | y\n  - detail") == "gate failed: x / y - detail"
    assert len(one_line("z" * 500)) == 160


def test_parse_history_days() -> None:
    assert parse_history_days("112 28") == [28, 112]
    assert parse_history_days("28,112,28") == [28, 112]
    assert parse_history_days("") == []
    for wrong in ("0 28", "28 1.5", "-7"):
        with pytest.raises(ValueError, match="BENCH_HISTORY_DAYS"):
            parse_history_days(wrong)


def test_parse_scales() -> None:
    assert parse_scales("1 10") == [1.0, 10.0]
    assert parse_scales("0.1,1") == [0.1, 1.0]
    with pytest.raises(ValueError, match="BENCH_SCALES"):
        parse_scales("0 1")


@pytest.mark.parametrize(
    ("kind", "kwargs", "expected"),
    [
        ("expect_column_values_to_be_unique", {"column": "id"}, 2),  # both rows of the duplicated id
        ("expect_column_values_to_not_be_null", {"column": "amount"}, 1),
        ("expect_compound_columns_to_be_unique", {"column_list": ["id", "status"]}, 2),
        ("expect_column_values_to_be_in_set", {"column": "status", "value_set": ["paid"]}, 1),
        ("expect_column_values_to_be_between", {"column": "amount", "min_value": 0}, 1),
        ("expect_column_max_to_be_between", {"column": "amount", "max_value": 100}, 7),
        ("expect_table_row_count_to_be_between", {"min_value": 1}, 4),
        (
            "unexpected_rows_expectation",
            {"unexpected_rows_query": "select * from {batch} where amount > 5"},
            1,
        ),
    ],
)
def test_expectation_sql_counts_what_ge_would(kind: str, kwargs: dict[str, object], expected: int) -> None:
    con = duckdb.connect()
    con.execute(
        "create table t as select * from (values (1, 'paid', 3), (1, 'paid', -2), (2, 'lost', 7),"
        " (3, null, null)) as v(id, status, amount)"
    )
    sql = expectation_sql(kind, kwargs, "t")
    assert sql is not None
    assert con.execute(*sql).fetchone()[0] == expected  # type: ignore[index]


def test_expectation_sql_declines_what_it_does_not_know() -> None:
    assert expectation_sql("expect_column_kl_divergence_to_be_less_than", {"column": "x"}, "t") is None


def _run(scale: float, seconds: float, peak: int) -> dict[str, object]:
    return {
        "scale": scale,
        "days": 7,
        "stages": [
            {
                "name": "generate",
                "seconds": seconds,
                "cpu_seconds": seconds / 2,
                "rows": 1000,
                "peak_rss": peak,
                "status": "ok",
            },
            {"name": "docs", "seconds": 0.0, "rows": 0, "peak_rss": peak, "status": "error: boom"},
        ],
        "total_seconds": seconds,
        "total_cpu_seconds": seconds / 2,
        "peak_rss": peak,
        "ratios": {
            "ingest_vs_native": 0.25,
            "dbt_vs_raw_sql": 1.2,
            "incremental_vs_full": None,
            "ge_vs_sql": 2,
        },
        "details": {"same SQL in DuckDB": {"seconds": 1.5}},
    }


def test_summarize_and_render_markdown() -> None:
    runs = [_run(1, 10.0, 2**29), _run(10, 80.0, 2**30)]
    ratios = summarize(runs)  # type: ignore[arg-type]
    assert ratios["day_growth"]["met"] is None  # no history axis: not measured
    assert ratios["scaling_exponent"]["value"] == pytest.approx(math.log10(8))
    assert ratios["scaling_exponent"]["met"] is True
    assert ratios["ingest_vs_native"]["met"] is False
    assert ratios["incremental_vs_full"]["met"] is None
    assert ratios["scaling_exponent_cpu"]["value"] == pytest.approx(math.log10(8))
    assert ratios["peak_rss_gb"]["value"] == pytest.approx(1.0)
    text = render_markdown(
        {
            "started_at": "2026-01-01T00:00:00+00:00",
            "machine": {"cpus": 2, "duckdb": "1.5", "dbt": "1.11"},
            "days": 7,
            "duckdb_settings": {"threads": "2", "memory_limit": "4GB", "temp_directory": "/x"},
            "scales": runs,
            "ratios": ratios,
        }
    )
    assert "| 10 | generate | 80.0 | 40.0 | 1,000 | 12 | 1.00 GB | ok |" in text
    assert "| 10 | **total** | **80.0** | 40.0 |" in text
    assert "| `ingest_vs_native` | 0.25 | >= 0.8 | **missed** |" in text
    assert "| `dbt_vs_raw_sql` | 1.20 | <= 1.3 | met |" in text
    assert "| `incremental_vs_full` | — | <= 0.1 | not measured |" in text
    assert "temp_directory" not in text
    assert "same SQL in DuckDB: seconds=1.50" in text


def _step(name: str, seconds: float, cpu: float | None = None, status: str = "ok") -> Step:
    return Step(name, seconds, 100, 2**20 * int(seconds), status, {}, cpu)


def _history(
    days: int, stage_seconds: dict[str, float], docs: float = 5.0, *again: dict[str, float]
) -> HistoryRuns:
    """One history length; ``again``: the seconds of each further run of its day."""
    label = f"day_after_{days}"
    repeats = [
        {name: _step(f"{label}_{n}_{name}", s, s / 2) for name, s in seconds.items()}
        for n, seconds in enumerate([stage_seconds, *again], start=1)
    ]
    return HistoryRuns(
        history_days=days,
        day_date="2024-01-29",
        build=[_step(f"history_{days}_generate", 30.0)],
        generate_day=_step(f"{label}_generate", 1.0, 1.0),
        repeats=repeats,
        docs=_step(f"{label}_docs", docs, docs),
    )


def test_history_result_totals_the_run_stages_only() -> None:
    result = history_result(_history(28, {"ingest": 2.0, "transform": 10.0, "publish": 1.0}))
    assert result["total_seconds"] == pytest.approx(13.0)  # neither generate (1 s) nor docs (5 s)
    assert result["total_cpu_seconds"] == pytest.approx(6.5)
    assert result["peak_rss"] == 10 * 2**20
    assert [s["stage"] for s in result["stages"]] == ["ingest", "transform", "publish"]
    assert result["failed"] == []


def test_history_summary_gives_day_growth_and_growth_per_stage() -> None:
    short = history_result(_history(28, {"ingest": 2.0, "transform": 10.0, "publish": 1.0}, docs=5.0))
    long = history_result(_history(112, {"ingest": 2.0, "transform": 15.0, "publish": 2.0}, docs=6.0))
    summary = history_summary(1.0, [long, short])  # order given does not matter: shortest is the base
    assert summary["history_days"] == [28, 112]
    assert summary["day_growth"] == pytest.approx(19.0 / 13.0)
    details = summary["details"]
    assert details["transform"] == {
        "after_28_days_s": 10.0,
        "after_112_days_s": 15.0,
        "growth": pytest.approx(1.5),
        "cpu_growth": pytest.approx(1.5),
    }
    assert details["ingest"]["growth"] == pytest.approx(1.0)
    assert details["publish"]["growth"] == pytest.approx(2.0)
    assert details[DAY_TOTAL]["growth"] == pytest.approx(19.0 / 13.0)
    assert details[DAY_DOCS]["growth"] == pytest.approx(1.2)
    assert details[DAY_GENERATE]["growth"] == pytest.approx(1.0)
    ratios = summarize([_run(1, 10.0, 2**29)], summary)  # type: ignore[list-item]
    assert ratios["day_growth"]["value"] == pytest.approx(19.0 / 13.0)
    assert ratios["day_growth"]["met"] is False
    within = history_summary(1.0, [short, history_result(_history(112, {"ingest": 2.0, "transform": 11.0}))])
    assert within["day_growth"] == pytest.approx(1.0)
    assert summarize([_run(1, 10.0, 2**29)], within)["day_growth"]["met"] is True  # type: ignore[list-item]


def test_history_with_one_length_measures_no_growth() -> None:
    summary = history_summary(1.0, [history_result(_history(28, {"ingest": 2.0}))])
    assert summary["day_growth"] is None
    assert summary["details"]["ingest"] == {"after_28_days_s": 2.0, "growth": None, "cpu_growth": None}


def test_history_failures_are_collected_and_shown() -> None:
    broken = _history(112, {"ingest": 2.0, "transform": 3.0})
    broken.repeats[0]["transform"] = _step("day_after_112_transform", 3.0, status="error: boom")
    summary = history_summary(
        1.0, [history_result(_history(28, {"ingest": 2.0, "transform": 3.0})), history_result(broken)]
    )
    assert summary["failed"] == ["day_after_112_transform"]
    text = "\n".join(history_lines(summary))
    assert "Not ok: day_after_112_transform: error: boom." in text


def test_render_markdown_shows_the_history_axis() -> None:
    short = history_result(_history(28, {"ingest": 2.0, "transform": 10.0}))
    long = history_result(_history(112, {"ingest": 3.0, "transform": 12.0}))
    history = history_summary(1.0, [short, long])
    runs = [_run(1, 10.0, 2**29)]
    text = render_markdown(
        {
            "started_at": "2026-01-01T00:00:00+00:00",
            "machine": {"cpus": 2, "duckdb": "1.5", "dbt": "1.11"},
            "days": 7,
            "duckdb_settings": {},
            "scales": runs,
            "history": history,
            "ratios": summarize(runs, history),  # type: ignore[arg-type]
        }
    )
    assert "| `day_growth` | 1.25 | <= 1.2 | **missed** |" in text
    assert "History axis at scale 1: one more simulated day's `lifecycle run` after 28 and 112 days" in text
    assert "| stage | wall s after 28 d | CPU s after 28 d | wall s after 112 d | CPU s after 112 d |" in text
    assert "| ingest | 2.0 | 1.0 | 3.0 | 1.5 | 1.50 | 1.50 |" in text
    assert f"| **{DAY_TOTAL}** | 12.0 | 6.0 | 15.0 | 7.5 | 1.25 | 1.25 |" in text
    assert f"| {DAY_DOCS} | 5.0 | 5.0 | 5.0 | 5.0 | 1.00 | 1.00 |" in text
    assert "Not ok" not in text


def test_a_timed_gate_reports_its_checks_and_a_failing_gate_its_reason() -> None:
    settings: Any = SimpleNamespace()  # the gates below do not read it
    seen: list[object] = []

    def passing(_settings: object, *, as_of: object, run_id: str, progress: object) -> object:
        seen.append(as_of)
        progress("checking")  # type: ignore[operator]
        return SimpleNamespace(outcomes=[1, 2, 3])

    def failing(_settings: object, *, as_of: object, run_id: str, progress: object) -> object:
        raise GateFailed("raw audit: 2 failing checks")

    clock, outcome = _timed_gate(passing, settings, {"as_of": "2024-01-05"})
    assert outcome == {"status": "ok", "expectations": 3}
    assert [message for _, message in clock.marks] == ["checking"]
    assert str(seen[0]).startswith("2024-01-05 23:59:59")
    _, outcome = _timed_gate(failing, settings, {"as_of": "2024-01-05"})
    assert outcome == {"status": "gate failed: raw audit: 2 failing checks", "expectations": None}


def test_a_day_run_more_than_once_counts_each_stage_at_its_fastest() -> None:
    result = history_result(
        _history(28, {"ingest": 2.0, "transform": 12.0}, 5.0, {"ingest": 3.0, "transform": 10.0})
    )
    assert [(s["stage"], s["seconds"]) for s in result["stages"]] == [("ingest", 2.0), ("transform", 10.0)]
    assert result["total_seconds"] == pytest.approx(12.0)
    assert result["total_cpu_seconds"] == pytest.approx(6.0)
    assert [r["total_seconds"] for r in result["repeats"]] == [14.0, 13.0]
    assert result["peak_rss"] == 12 * 2**20  # the largest of every run, not of the fastest ones


def test_a_failed_run_of_a_repeated_day_is_shown_however_slow() -> None:
    point = _history(28, {"ingest": 2.0, "transform": 3.0}, 5.0, {"ingest": 2.0, "transform": 3.0})
    point.repeats[1]["transform"] = _step("day_after_28_2_transform", 9.0, status="error: boom")
    result = history_result(point)
    assert [s["status"] for s in result["stages"]] == ["ok", "error: boom"]
    assert result["failed"] == ["day_after_28_2_transform"]


def test_the_markdown_gives_every_run_of_a_repeated_day() -> None:
    short = history_result(_history(28, {"ingest": 2.0}, 5.0, {"ingest": 1.5}))
    long = history_result(_history(112, {"ingest": 3.0}, 5.0, {"ingest": 4.0}))
    text = "\n".join(history_lines(history_summary(1.0, [short, long])))
    assert "| ingest | 1.5 | 0.8 | 3.0 | 1.5 | 2.00 | 2.00 |" in text
    assert (
        "Each day ran 2 times from the same state, the history lengths taking turns (28, 112, then again)"
        in text
    )
    assert "The day's totals run by run: after 28 d 2.0 s, 1.5 s; after 112 d 3.0 s, 4.0 s." in text
    once = history_summary(1.0, [history_result(_history(28, {"ingest": 2.0}))])
    assert "Each day ran" not in "\n".join(history_lines(once))


def test_the_history_axis_runs_each_day_again_from_the_state_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a stand-in for the child runs that records what each one saw of the world: the lengths take
    turns, each repeat starts from the world as its day's first run found it, the logs of every run stay,
    and the world ends after the longest history's day, with no copy left beside it."""
    from lifecycle.bench import __main__ as bench

    calls: list[tuple[str, str]] = []

    def child(task: str, workdir: Path, params: dict[str, Any], label: str | None = None) -> Step:
        assert task in bench.TASKS, f"no child task {task!r}"
        state = workdir / "state.txt"
        seen = state.read_text() if state.exists() else ""
        calls.append((label or task, seen))
        if task in ("generate", "ingest"):  # each changes the world, as the real stages do
            state.write_text(seen + f"{task}:{params.get('start') or params['as_of']};")
        if task == "ingest_daily":
            state.write_text(seen + f"{task}:{params['first']}..{params['last']};")
        (workdir / "current").unlink(missing_ok=True)
        (workdir / "current").symlink_to("state.txt")
        (workdir / "_bench").mkdir(exist_ok=True)
        (workdir / "_bench" / f"{label}.log").write_text("log")
        return _step(label or task, 1.0, 1.0)

    monkeypatch.setattr(bench, "run_child", child)
    summary = bench.bench_history(tmp_path, 1.0, [2, 4], repeats=2)

    labels = [label for label, _ in calls]
    days = [label for label in labels if label.startswith("day_after_") and label.endswith("_ingest")]
    assert days == [
        "day_after_2_ingest",
        "day_after_4_ingest",
        "day_after_2_repeat2_ingest",
        "day_after_4_repeat2_ingest",
    ]
    seen = dict(calls)
    # The history before the first length lands day by day, all but its last day before that day's run;
    # the one day the world then lacks before the next length is that length's run itself.
    assert [label for label in labels if label.startswith("history_")] == [
        "history_2_generate",
        "history_2_ingest_daily",
        *(f"history_2_{stage}" for stage in RUN_STAGE_TASKS),
        "history_4_generate",
        *(f"history_4_{stage}" for stage in RUN_STAGE_TASKS),
    ]
    assert seen["history_2_ingest"] == "generate:2024-01-01;ingest_daily:2024-01-01..2024-01-01;"
    assert seen["day_after_2_repeat2_ingest"] == seen["day_after_2_ingest"]
    assert seen["day_after_4_repeat2_ingest"] == seen["day_after_4_ingest"]
    assert seen["day_after_4_ingest"].endswith("generate:2024-01-05;")
    world = tmp_path / "history-1"
    assert (world / "state.txt").read_text() == seen["day_after_4_ingest"] + "ingest:2024-01-05;"
    assert (world / "current").is_symlink()
    assert {f"{label}.log" for label in labels} <= {p.name for p in (world / "_bench").iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history-1"]
    assert [len(run["repeats"]) for run in summary["runs"]] == [2, 2]


def test_the_stage_table_runs_the_pipeline_stages_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every stage of the stage table is a child task and gets its parameters."""
    from lifecycle.bench import __main__ as bench

    ran: list[tuple[str, dict[str, Any]]] = []

    def child(task: str, workdir: Path, params: dict[str, Any], label: str | None = None) -> Step:
        assert task in bench.TASKS, f"no child task {task!r}"
        ran.append((task, params))
        return _step(label or task, 1.0, 1.0)

    monkeypatch.setattr(bench, "run_child", child)
    bench._run_stages(tmp_path, 1.0, 2, {"as_of": "2024-01-02"})
    assert [task for task, _ in ran] == ["generate", "ingest", "transform", "validate", "publish", "docs"]
    assert ran[0][1] == {"scale": 1.0, "start": "2024-01-01", "days": 2}


def test_the_ratios_weigh_each_side_by_the_time_inside_its_call() -> None:
    """The child's interpreter start and the bench's bookkeeping around a call belong to neither side."""
    from lifecycle.bench.harness import ScaleRuns
    from lifecycle.bench.report import scale_result

    def step(name: str, wall: float, **report: Any) -> Step:
        return Step(name, wall, 10, 2**20, "ok", report, wall)

    runs = ScaleRuns(
        scale=10,
        days=28,
        stages=[
            step("ingest", 30.0, events_rows=1000, events_seconds=10.0),
            step("validate", 9.0, checks_seconds=4.0),
        ],
        native_ingest=step("native_ingest", 6.0, rows=1000, call_seconds=5.0),
        ge_sql=step("ge_sql", 3.0, call_seconds=2.0),
        full_refresh=step("transform_full_refresh", 45.0, call_seconds=40.0),
        replay=step("replay", 35.0, call_seconds=32.0),
        next_day=[
            step("ingest_next_day", 3.0),
            step("transform_next_day", 21.0, call_seconds=20.0),
            step("transform_nothing_new", 19.0, call_seconds=18.0),
        ],
    )
    result = scale_result(runs)
    ratios = result["ratios"]
    assert ratios["dbt_vs_raw_sql"] == pytest.approx(40.0 / 32.0)
    assert ratios["incremental_vs_full"] == pytest.approx(20.0 / 40.0)
    assert ratios["ingest_vs_native"] == pytest.approx((1000 / 10.0) / (1000 / 5.0))
    assert ratios["ge_vs_sql"] == pytest.approx(2.0)
    details = result["details"]
    assert details["dbt build --full-refresh (process wall s)"] == 45.0  # shown, not weighed
    # GE and its SQL twin ran twice, taking turns: each side counts its faster run.
    runs.ge_again = [
        step("validate_again", 7.0, checks_seconds=3.0),
        step("ge_sql_again", 2.0, call_seconds=2.5),
    ]
    again = scale_result(runs)
    assert again["ratios"]["ge_vs_sql"] == pytest.approx(3.0 / 2.0)
    assert again["details"]["GE checkpoints and plain SQL, the faster run of each (s)"] == {
        "checkpoints": 3.0,
        "plain_sql": 2.0,
    }
    assert [s["name"] for s in again["comparison_runs"]][:4] == [
        "native_ingest",
        "ge_sql",
        "validate_again",
        "ge_sql_again",
    ]
    assert (
        details["nothing new ÷ full refresh (incremental_vs_full's floor with these models)"] == 18.0 / 40.0
    )
    floor = "events loading floor (our reading and numbered lines, one parse per line, nothing judged)"
    assert details[floor] is None  # not measured: no such run
    runs.events_floor = step("events_floor", 4.0, rows=1000, call_seconds=2.5)
    with_floor = scale_result(runs)
    assert with_floor["details"][floor]["vs_read_json"] == pytest.approx((1000 / 2.5) / (1000 / 5.0))
    assert [s["name"] for s in with_floor["comparison_runs"]][:2] == ["native_ingest", "events_floor"]


def test_a_history_axis_that_cannot_copy_its_world_keeps_the_scales_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifecycle.bench import __main__ as bench

    def no_space(*_: Any) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    monkeypatch.setenv("LIFECYCLE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(
        bench, "bench_scale", lambda root, scale, days: {**_run(scale, 10.0, 2**29), "failed": []}
    )
    monkeypatch.setattr(bench, "bench_history", no_space)
    assert bench.main(["--scales", "1", "--history-days", "28 112"]) == 1
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert results["scales"][0]["total_seconds"] == 10.0
    assert results["history_error"] == "the history axis stopped: [Errno 28] No space left on device"
    assert results["ratios"]["day_growth"]["met"] is None
    text = (tmp_path / "bench" / "results.md").read_text()
    assert "History axis not measured: the history axis stopped: [Errno 28] No space left on device." in text


def test_the_events_floor_lands_each_non_blank_line_of_the_loaded_files_once(tmp_path: Path) -> None:
    """The floor reads the files ingestion loaded (its manifest) with the loader's own reading and numbering;
    a malformed line becomes a row of NULLs, as in read_json with ignore_errors, and blank lines none."""
    from lifecycle.bench.baselines import task_events_floor
    from lifecycle.config import Settings
    from lifecycle.storage import connect_warehouse, ensure_raw_bookkeeping

    settings = Settings(data_dir=tmp_path)
    files = {
        "events/date=2024-01-01/hour=00/a.json.gz": '{"event_id": "e1", "customer_id": 7}\n\nnot json\n',
        "events/date=2024-01-01/hour=01/b.json.gz": '{"event_id": "e2", "event_time": "2024-01-01T01:00Z"}\n',
        "events/date=2024-01-01/hour=02/unloaded.json.gz": '{"event_id": "e3"}\n',
    }
    for relative, text in files.items():
        path = settings.sources_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(text.encode()))
    with connect_warehouse(settings) as con:
        ensure_raw_bookkeeping(con)
        for relative in list(files)[:2]:
            con.execute("insert into raw._manifest (source, path) values ('events', ?)", [relative])

    report = task_events_floor(settings, {})

    assert report["rows"] == 3 and report["files"] == 2
    assert not (tmp_path / "floor.duckdb").exists()
