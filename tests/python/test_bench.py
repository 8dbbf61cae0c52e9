"""The benchmark harness's pure helpers: slope, targets, DAG order, check SQL and the Markdown report.

No timing assertions here: speed is measured by `make bench`, not asserted.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from lifecycle.bench.__main__ import parse_scales
from lifecycle.bench.baselines import dag_order, expectation_sql
from lifecycle.bench.report import loglog_slope, one_line, render_markdown, summarize, target_met


def test_loglog_slope_of_a_power_law_is_its_exponent() -> None:
    assert loglog_slope([(1, 3.0), (10, 30.0)]) == pytest.approx(1.0)
    assert loglog_slope([(1, 5.0), (10, 5.0)]) == pytest.approx(0.0)
    points = [(x, 2.0 * x**0.8) for x in (0.1, 1, 10, 100)]
    assert loglog_slope(points) == pytest.approx(0.8)


def test_loglog_slope_needs_two_distinct_scales() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        loglog_slope([(1, 2.0), (1, 3.0)])


def test_targets_compare_in_the_right_direction() -> None:
    assert target_met("ingest_vs_native", 0.5) is True
    assert target_met("ingest_vs_native", 0.4) is False
    assert target_met("dbt_vs_raw_sql", 1.5) is True
    assert target_met("dbt_vs_raw_sql", 1.6) is False
    assert target_met("ge_vs_sql", None) is None


def test_dag_order_puts_parents_first_and_ignores_unknown_parents() -> None:
    order = dag_order({"c": ["b", "a"], "b": ["a", "source.x"], "a": [], "d": []})
    assert order.index("a") < order.index("b") < order.index("c")
    assert sorted(order) == ["a", "b", "c", "d"]


def test_one_line_keeps_a_table_cell_whole() -> None:
    assert one_line("gate failed: x | y\n  - detail") == "gate failed: x / y - detail"
    assert len(one_line("z" * 500)) == 160


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
    assert "| `ingest_vs_native` | 0.25 | >= 0.5 | **missed** |" in text
    assert "| `dbt_vs_raw_sql` | 1.20 | <= 1.5 | met |" in text
    assert "| `incremental_vs_full` | — | <= 0.1 | not measured |" in text
    assert "temp_directory" not in text
    assert "same SQL in DuckDB: seconds=1.50" in text
