"""``lifecycle validate`` on a tiny warehouse: the real suites in expectations/, run by GE inside DuckDB."""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.quality.report import ValidationReport
from lifecycle.quality.suites import load_suites
from lifecycle.quality.validate import record_history, validate

FIRST_DAY = datetime.date(2024, 1, 1)
LAST_DAY = datetime.date(2024, 1, 10)
#: The morning after the last day of data: fresh.
AS_OF = datetime.datetime(2024, 1, 11, 6, 0)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """GE must not phone home (usage statistics, version checks): any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def make_warehouse(data_dir: Path, *, orders: bool = True, sql: str = "") -> Settings:
    """Ten good days of revenue and three orders a day (one cancelled), then ``sql`` to break them."""
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            f"""
            create schema raw; create schema staging; create schema intermediate; create schema marts;
            create table marts.fct_revenue_daily (
                date_day date, order_count bigint, gross_revenue decimal(18, 2),
                discount_amount decimal(18, 2), refund_amount decimal(18, 2), net_revenue decimal(18, 2)
            );
            insert into marts.fct_revenue_daily
            select cast(day as date), 3, 300.00, 30.00, 10.00, 260.00
            from generate_series(date '{FIRST_DAY}', date '{LAST_DAY}', interval 1 day) as s(day);
            """
        )
        if orders:
            con.execute(
                """
                create table marts.fct_orders (
                    order_id bigint, customer_id bigint, order_status varchar, placed_at timestamp,
                    placed_date date, item_count bigint, unit_count bigint, gross_revenue decimal(18, 2),
                    discount_amount decimal(18, 2), order_total decimal(18, 2), is_cancelled boolean
                );
                insert into marts.fct_orders
                select
                    row_number() over (order by date_day, n),
                    n,
                    case n when 3 then 'cancelled' else 'delivered' end,
                    date_day + interval 9 hour + n * interval 1 hour,
                    date_day, 2, 3, 100.00, 10.00, 90.00,
                    n = 3
                from marts.fct_revenue_daily, range(1, 4) as r(n);
                """
            )
        if sql:
            con.execute(sql)
    return settings


def run(settings: Settings, as_of: datetime.datetime = AS_OF) -> ValidationReport:
    # These tiny warehouses hold marts only; the raw suites are exercised by test_quality_gates.py.
    return validate(settings, as_of=as_of, layers=["marts"])


def failures(report: ValidationReport) -> set[tuple[str, str]]:
    return {(o.suite, o.label) for o in report.failed_critical}


def test_good_tables_pass_and_data_docs_are_built(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)
    messages: list[str] = []

    report = validate(settings, as_of=AS_OF, layers=["marts"], progress=messages.append)

    assert report.passed, report.to_markdown()
    assert not report.warned and not report.skipped
    assert {o.suite for o in report.outcomes} == {
        f"marts.{table}.{dimension}"
        for table in ("fct_revenue_daily", "fct_orders")
        for dimension in ("accuracy", "completeness", "timeliness")
    }
    assert all(
        o.status == "passed" and o.rule and o.severity in {"critical", "warning"} for o in report.outcomes
    )
    index = settings.site_dir / "gx" / "index.html"
    assert report.data_docs == index
    # Data Docs show one validation per table: its dimensions' suites are merged (see _table_suite).
    assert "marts.fct_revenue_daily" in index.read_text()
    assert any("checkpoint marts" in m for m in messages)
    assert "quality gate passed" in report.to_markdown()


def test_negative_amount_fails_critical_accuracy(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path,
        sql="""update marts.fct_revenue_daily
               set refund_amount = -5.00, net_revenue = 275.00 where date_day = '2024-01-04'""",
    )

    report = run(settings)

    assert not report.passed
    assert failures(report) == {
        ("marts.fct_revenue_daily.accuracy", "expect_column_values_to_be_between(refund_amount)")
    }
    [failure] = report.failed_critical
    assert (failure.dimension, failure.severity, failure.table) == (
        "accuracy",
        "critical",
        "fct_revenue_daily",
    )
    assert failure.observed == "1 of 10 rows unexpected, e.g. -5.00"
    assert "refund_amount" in report.to_markdown() and "quality gate failed" in report.to_markdown()


def test_net_revenue_off_by_more_than_a_cent_fails_accuracy(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="update marts.fct_revenue_daily set net_revenue = 260.02 where date_day = '2024-01-02'"
    )

    [failure] = run(settings).failed_critical

    assert failure.suite == "marts.fct_revenue_daily.accuracy"
    assert failure.expectation == "unexpected_rows_expectation"
    assert failure.observed.startswith("1 unexpected row")


def test_missing_day_fails_completeness(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="delete from marts.fct_revenue_daily where date_day = '2024-01-05'"
    )

    [failure] = run(settings).failed_critical

    assert (failure.suite, failure.dimension) == ("marts.fct_revenue_daily.completeness", "completeness")
    assert failure.rule.startswith("Every calendar day")
    assert failure.observed.startswith("1 unexpected row")


def test_stale_data_fails_timeliness_against_as_of(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)

    report = run(settings, as_of=AS_OF + datetime.timedelta(days=3))

    # Stale data is also a missing last complete day, so the control-limit checks fire with it.
    checked = (AS_OF + datetime.timedelta(days=2)).date()
    assert failures(report) == {
        ("marts.fct_revenue_daily.timeliness", "expect_column_max_to_be_between(date_day)"),
        (
            "marts.fct_revenue_daily.accuracy",
            "unexpected_rows_expectation: Average order value of "
            f"{checked} within mean ± 3σ of 14 prior days",
        ),
        (
            "marts.fct_revenue_daily.completeness",
            f"unexpected_rows_expectation: Orders of {checked} within mean ± 3σ of the 14 days before",
        ),
    }
    timeliness = [o for o in report.failed_critical if o.suite.endswith("timeliness")]
    assert timeliness[0].observed == "2024-01-10"
    # Orders going quiet only warns: revenue timeliness is the check that blocks.
    assert [(o.suite, o.severity) for o in report.warned] == [("marts.fct_orders.timeliness", "warning")]


def test_unknown_order_status_fails_accuracy(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="update marts.fct_orders set order_status = 'lost' where order_id = 1"
    )

    report = run(settings)

    assert failures(report) == {
        ("marts.fct_orders.accuracy", "expect_column_values_to_be_in_set(order_status)")
    }
    assert report.failed_critical[0].observed == "1 of 30 rows unexpected, e.g. lost"


def test_missing_table_is_skipped_not_failed(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path, orders=False)

    report = run(settings)

    assert report.passed
    assert {o.suite for o in report.skipped} == {
        "marts.fct_orders.accuracy",
        "marts.fct_orders.completeness",
        "marts.fct_orders.timeliness",
    }
    assert {o.observed for o in report.skipped} == {"skipped: table missing"}
    assert all(o.success is None for o in report.skipped)


def test_history_is_appended_to_the_warehouse(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path, sql="update marts.fct_orders set item_count = 0 where order_id = 2")
    report = run(settings)
    assert report.passed and len(report.warned) == 1

    # Straight after validate, in the same process: GE must have let go of the read-only file.
    recorded = record_history(report, settings.warehouse_path, "run-1")
    record_history(report, settings.warehouse_path, "run-1")  # the same run again replaces its rows
    record_history(report, settings.warehouse_path, "run-2")

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        per_run = con.execute(
            "select run_id, count(*) from audit.quality_results group by run_id order by run_id"
        ).fetchall()
        warned = con.execute(
            """select suite, layer, dimension, severity, expectation, success, observed
               from audit.quality_results where run_id = 'run-1' and success = false"""
        ).fetchall()
    assert recorded == len(report.outcomes)
    assert per_run == [("run-1", recorded), ("run-2", recorded)]
    assert warned == [
        (
            "marts.fct_orders.accuracy",
            "marts",
            "accuracy",
            "warning",
            "expect_column_values_to_be_between(item_count)",
            False,
            "1 of 30 rows unexpected, e.g. 0",
        )
    ]


def test_only_the_requested_layers_are_validated(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)

    report = validate(settings, as_of=AS_OF, layers=["intermediate"])  # a layer with no suites

    assert report.outcomes == () and report.passed
    with pytest.raises(LifecycleError, match="Unknown layer"):
        validate(settings, as_of=AS_OF, layers=["mart"])


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LifecycleError, match="No warehouse at"):
        validate(Settings(data_dir=tmp_path), as_of=AS_OF)


def test_every_expectation_declares_rule_dimension_and_severity(tmp_path: Path) -> None:
    bad = tmp_path / "expectations" / "marts" / "fct_orders.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "import great_expectations as gx\n"
        "import great_expectations.expectations as gxe\n\n"
        "def build_suites(ctx):\n"
        "    return [gx.ExpectationSuite(name=ctx.suite_name('accuracy'),\n"
        "        expectations=[gxe.ExpectColumnValuesToNotBeNull(column='order_id')])]\n"
    )

    with pytest.raises(LifecycleError, match=r"fct_orders\.py.*marts\.fct_orders\.accuracy.*no 'rule'"):
        load_suites(tmp_path / "expectations", as_of=AS_OF)
