"""The docs site's own pages, each from tiny hand-made inputs (a manifest dict, a few DuckDB rows).

The whole site, dbt docs included, is built and looked at in a browser by test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from lifecycle.docs import analyses, charts, coverage, health, quality
from lifecycle.docs.layout import PAGES


def test_chart_is_svg_with_one_segment_per_non_zero_value_and_escaped_labels():
    svg = charts.stacked_bars("t<1>", ["2026-03-01", "<b>"], {"app": [3, 0], "events": [1, 2]})
    assert svg.startswith('<svg role="img" aria-label="t&lt;1&gt;"') and svg.endswith("</svg>")
    assert svg.count('aria-roledescription="bar"') == 3  # one segment per non-zero value
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "t&lt;1&gt;" in svg
    assert "<script" not in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "").replace(
        "http://www.w3.org/1999/xlink", ""
    )


def test_line_bar_and_heatmap_charts_draw_one_mark_per_value():
    records = [{"day": "2026-03-01", "a": 1.0, "b": 2.0}, {"day": "2026-03-02", "a": 3.0, "b": None}]
    svg = charts.lines("lines", records, x="day", series={"a": "A", "b": "B"}, unit="n")
    assert (
        svg.count('aria-roledescription="line mark"') == 2 and svg.count('aria-roledescription="point"') == 3
    )
    svg = charts.bars("bars", records, category="day", value="a", unit="n", colour_by="b")
    assert svg.count('aria-roledescription="bar"') == 2
    cells = [{"x": 0, "y": "2026-01", "v": 1.0}, {"x": 1, "y": "2026-01", "v": 0.25}]
    svg = charts.heatmap("cells", cells, x="x", y="y", value="v", x_title="months", y_title="cohort")
    assert svg.count('aria-roledescription="rect mark"') == 2 and ">25%<" in svg


def test_chart_without_data_says_so():
    assert "no data yet" in charts.stacked_bars("empty", [], {})


def test_every_page_links_to_every_other():
    for html in (quality.render([]), coverage.render([]), analyses.render([])):
        for href, _ in PAGES:
            assert f'href="{href}"' in html


MANIFEST = {
    "metadata": {"project_name": "shop"},
    "nodes": {
        "model.shop.stg_orders": {
            "resource_type": "model",
            "package_name": "shop",
            "name": "stg_orders",
            "fqn": ["shop", "staging", "app", "stg_orders"],
            "description": "Orders.",
            "columns": {"order_id": {"description": "Key."}, "status": {"description": ""}},
        },
        "model.shop.fct_orders": {
            "resource_type": "model",
            "package_name": "shop",
            "name": "fct_orders",
            "fqn": ["shop", "marts", "core", "fct_orders"],
            "description": "",
            "columns": {"order_id": {"description": "Key."}},
        },
        "model.other.theirs": {"resource_type": "model", "package_name": "other", "name": "theirs"},
        "test.shop.unique_stg": {
            "resource_type": "test",
            "attached_node": "model.shop.stg_orders",
            "depends_on": {"nodes": ["model.shop.stg_orders"]},
        },
        "test.shop.assert_totals": {
            "resource_type": "test",
            "depends_on": {"nodes": ["model.shop.stg_orders", "model.shop.fct_orders"]},
        },
    },
    "unit_tests": {"unit_test.shop.fct": {"depends_on": {"nodes": ["model.shop.fct_orders"]}}},
}
CATALOG = {
    "nodes": {
        "model.shop.fct_orders": {"columns": {"ORDER_ID": {}, "amount": {}}},
        "model.shop.stg_orders": {"columns": {"order_id": {}, "status": {}}},
    }
}


def test_coverage_counts_tests_per_model_and_documented_columns():
    rows = {m.name: m for m in coverage.model_coverage(MANIFEST, CATALOG)}
    assert list(rows) == ["stg_orders", "fct_orders"]  # layer order; other packages left out
    stg, fct = rows["stg_orders"], rows["fct_orders"]
    assert (stg.layer, stg.data_tests, stg.unit_tests, stg.documented, stg.columns) == ("staging", 2, 0, 1, 2)
    assert stg.undocumented == ("status",)
    # The catalog has a column the YAML never mentions: it counts as undocumented.
    assert (fct.data_tests, fct.unit_tests, fct.documented, fct.columns) == (1, 1, 1, 2)
    assert fct.undocumented == ("amount",) and not fct.has_description
    html = coverage.render(list(rows.values()))
    assert "2 of 4" in html and "dbt/index.html#!/model/model.shop.fct_orders" in html


def result(run_id: str, severity: str, success: bool, dimension: str = "accuracy") -> quality.Result:
    checked = dt.datetime(2026, 3, int(run_id[-1]), 12)
    return quality.Result(
        run_id, checked, "marts.x.accuracy", "marts", dimension, severity, "e", success, "o"
    )


def test_quality_report_tells_warned_from_failed_and_keeps_history():
    results = [
        result("run-1", "critical", False),
        result("run-2", "critical", True),
        result("run-2", "critical", True, "completeness"),
        result("run-2", "warning", False),
        result("run-2", "critical", False, "<script>"),
    ]
    assert [r.status for r in results] == ["failed", "passed", "passed", "warned", "failed"]
    html = quality.render(results)
    assert "Latest run: <code>run-2</code>" in html
    assert "2 passed" in html and "1 warned" in html and "1 failed" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "run-1" in html and "<svg" in html


def test_quality_report_without_results():
    assert "No quality results yet" in quality.render([])


@pytest.fixture
def analytics(tmp_path: Path) -> Path:
    path = tmp_path / "analytics.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table fct_revenue as select * from (values (1, 10.5), (2, 4.5)) as t(day, amount)"
        )
    return path


def analysis(name: str, sql: str) -> dict:
    return {
        "resource_type": "analysis",
        "name": name,
        "original_file_path": f"analyses/{name}.sql",
        "description": "",
        "raw_code": f"-- What {name} answers.\n{sql}",
        "compiled_code": sql,
    }


def test_analyses_run_as_compiled_against_the_published_marts_only(tmp_path: Path, analytics: Path):
    manifest = {
        "nodes": {
            "model.shop.fct_revenue": {
                "resource_type": "model",
                "name": "fct_revenue",
                "alias": "fct_revenue",
                "database": "warehouse",
                "schema": "marts",
            },
            "analysis.shop.total": analysis(
                "total", 'select sum(amount) as total, \'<b>\' as tag from "warehouse"."marts"."fct_revenue"'
            ),
            "analysis.shop.staging": analysis("staging", 'select * from "warehouse"."staging"."stg_orders"'),
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    results = {r.name: r for r in analyses.run_analyses(tmp_path / "manifest.json", analytics)}
    assert results["total"].error is None
    assert results["total"].columns == ["total", "tag"]
    assert [(float(r[0]), r[1]) for r in results["total"].rows] == [(15.0, "<b>")]
    assert results["total"].description == "What total answers."
    assert "stg_orders" in (results["staging"].error or "")
    html = analyses.render(list(results.values()))
    assert "15.00" in html and "&lt;b&gt;" in html and 'class="error"' in html
    # The published file was only read.
    with duckdb.connect(str(analytics), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_tables()").fetchone() == (1,)


def test_health_reads_rows_per_day_freshness_and_batches(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.app_orders as select * from (values"
            " (timestamp '2026-03-01 10:00', timestamp '2026-03-01 10:05'),"
            " (timestamp '2026-03-02 10:00', timestamp '2026-03-02 10:10'))"
            " as t(_changed_at, _ingested_at)"
        )
        con.execute(
            "create table raw.events_clickstream as select timestamp '2026-03-02 09:00' as event_time,"
            " timestamp '2026-03-02 09:01' as _ingested_at"
        )
        con.execute(
            "create table raw._ingest_log (source varchar, batch_id varchar, started_at timestamp,"
            " finished_at timestamp, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,"
            " status varchar, error varchar)"
        )
        con.execute(
            "insert into raw._ingest_log values ('app', 'b1', '2026-03-02 10:10', '2026-03-02 10:10:02',"
            " 3, 2, 1, 'success', null), ('ads', 'b2', '2026-03-02 10:11', null, 0, 0, 0, 'failed', 'x')"
        )
        state = health.read_health(con, dt.datetime(2026, 3, 2, 12))
    assert state.rows_per_day == [
        ("app", dt.date(2026, 3, 1), 1),
        ("app", dt.date(2026, 3, 2), 1),
        ("events", dt.date(2026, 3, 2), 1),
    ]
    latest, ingested, lag, rows = state.freshness["app"]
    assert ingested == dt.datetime(2026, 3, 2, 10, 10)
    assert (latest, rows, lag) == (dt.datetime(2026, 3, 2, 10), 2, 450)  # median of 5 and 10 minutes
    assert "ads" not in state.freshness  # no raw table yet
    assert [b[1] for b in state.batches] == ["b2", "b1"]
    html = health.render(state)
    assert html.count("<svg") == 2  # rows per day, ingest; no quality results → no third chart
    assert "2.0 h" in html  # app is two hours behind the as-of time
    assert "1 not successful" in html


def test_health_reads_rows_per_day_and_lag_over_the_window_and_counts_all_rows(tmp_path: Path):
    as_of = dt.datetime(2026, 6, 30, 12)
    old = as_of - dt.timedelta(days=health.WINDOW_DAYS + 10)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        # An old row landed a day late, a recent one a minute late; events only before the window.
        con.execute(
            "create table raw.app_orders as select * from (values"
            " (cast(? as timestamp), cast(? as timestamp)),"
            " (timestamp '2026-06-30 10:00', timestamp '2026-06-30 10:01'))"
            " as t(_changed_at, _ingested_at)",
            [old, old + dt.timedelta(days=1)],
        )
        con.execute(
            "create table raw.events_clickstream as select cast(? as timestamp) as event_time,"
            " cast(? as timestamp) as _ingested_at",
            [old, old],
        )
        state = health.read_health(con, as_of)
    assert state.window_start == as_of.date() - dt.timedelta(days=health.WINDOW_DAYS - 1)
    assert state.rows_per_day == [("app", dt.date(2026, 6, 30), 1)]
    latest, ingested, lag, rows = state.freshness["app"]
    assert (latest, ingested, rows) == (dt.datetime(2026, 6, 30, 10), dt.datetime(2026, 6, 30, 10, 1), 2)
    assert lag == 60  # the recent row's minute; the old row's day of lag is outside the window
    # A source silent for longer than the window still shows its newest row and all its rows.
    assert state.freshness["events"] == (old, old, None, 1)
    assert f"from {state.window_start}" in health.render(state)
