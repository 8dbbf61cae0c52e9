"""``lifecycle validate`` on a tiny warehouse: the real suites in expectations/, run by GE inside DuckDB."""

from __future__ import annotations

import datetime
import shutil
import socket
from pathlib import Path

import pytest

from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.errors import LifecycleError
from lifecycle.quality.report import ExpectationOutcome, ValidationReport
from lifecycle.quality.spc import student_t_quantile
from lifecycle.quality.suites import load_suites
from lifecycle.quality.validate import record_history, validate
from lifecycle.storage import connect, connect_warehouse

FIRST_DAY = datetime.date(2024, 1, 1)
LAST_DAY = datetime.date(2024, 1, 10)
#: The morning after the last day of data: fresh.
AS_OF = datetime.datetime(2024, 1, 11, 1, 0)
MARTS = (
    "dim_customers",
    "dim_date",
    "dim_products",
    "fct_bot_sessions",
    "fct_cohort_retention",
    "fct_customer_rfm",
    "fct_funnel_daily",
    "fct_marketing_daily",
    "fct_order_items",
    "fct_orders",
    "fct_revenue_daily",
    "fct_sessions",
)

#: Ten good days of every mart, consistent with each other: three customers order once a day (the third
#: always cancels), each order has two lines, each order comes from a session, a crawler visits daily and
#: one campaign runs. The seeds are the project's own CSVs.
WORLD = f"""
    create schema raw; create schema staging; create schema intermediate; create schema marts;
    create schema seeds;
    create table seeds.marketing_channels as
        select * from read_csv('{PROJECT_DIR / "seeds" / "marketing_channels.csv"}');
    create table seeds.order_statuses as
        select * from read_csv('{PROJECT_DIR / "seeds" / "order_statuses.csv"}');
    create table seeds.bot_user_agents as
        select * from read_csv('{PROJECT_DIR / "seeds" / "bot_user_agents.csv"}');

    create table marts.fct_revenue_daily as
    select
        cast(day as date) as date_day, cast(3 as bigint) as order_count,
        cast(300.00 as decimal(18, 2)) as gross_revenue, cast(30.00 as decimal(18, 2)) as discount_amount,
        cast(10.00 as decimal(18, 2)) as refund_amount, cast(260.00 as decimal(18, 2)) as net_revenue
    from generate_series(date '{FIRST_DAY}', date '{LAST_DAY}', interval 1 day) as s(day);

    create table marts.fct_orders as
    select
        cast(row_number() over (order by date_day, n) as bigint) as order_id,
        cast(n as bigint) as customer_id,
        case n when 3 then 'cancelled' else 'delivered' end as order_status,
        date_day + interval 20 hour + n * interval 1 hour as placed_at,
        date_day as placed_date,
        case when n != 3 then date_day + interval 20 hour + n * interval 1 hour + interval 5 minute end
            as paid_at,
        case when n != 3 then date_day + interval 20 hour + n * interval 1 hour + interval 10 minute end
            as shipped_at,
        case when n != 3 then date_day + interval 20 hour + n * interval 1 hour + interval 20 minute end
            as delivered_at,
        case when n = 3 then date_day + interval 20 hour + n * interval 1 hour + interval 30 minute end
            as cancelled_at,
        cast(null as timestamp) as returned_at,
        cast(2 as bigint) as item_count, cast(3 as bigint) as unit_count,
        cast(100.00 as decimal(18, 2)) as gross_revenue, cast(10.00 as decimal(18, 2)) as discount_amount,
        cast(90.00 as decimal(18, 2)) as order_total,
        n = 3 as is_cancelled
    from marts.fct_revenue_daily, range(1, 4) as r(n);

    -- Two lines per order: 1 × 20.00 and 2 × 40.00, 5.00 discount each.
    create table marts.fct_order_items as
    select
        order_id * 10 + line as order_item_id, order_id, customer_id, cast(line as bigint) as product_id,
        placed_at, placed_date, is_cancelled, cast(line as bigint) as quantity,
        cast(20.00 * line as decimal(18, 2)) as unit_price,
        cast(20.00 * line * line as decimal(18, 2)) as gross_amount,
        cast(5.00 as decimal(18, 2)) as discount_amount,
        cast(20.00 * line * line - 5.00 as decimal(18, 2)) as net_amount
    from marts.fct_orders, range(1, 3) as l(line);

    create table marts.dim_products as
    select
        cast(line as bigint) as product_id, cast(1 as bigint) as category_id, 'Books' as category_name,
        'SKU-' || line as sku, 'Book ' || line as product_name,
        cast(20.00 * line as decimal(18, 2)) as current_price, true as is_active,
        timestamp '2023-06-01 10:00:00' as created_at, timestamp '2023-12-01 10:00:00' as updated_at
    from range(1, 3) as l(line);

    create table marts.dim_customers as
    select
        customer_id, sha256('email-' || customer_id) as email_hash,
        sha256('phone-' || customer_id) as phone_hash,
        'DE' as country_code, timestamp '2023-12-01 10:00:00' as created_at, false as is_deleted,
        false as is_erased,
        min(placed_at) filter (where not is_cancelled) as first_order_at,
        max(placed_at) filter (where not is_cancelled) as last_order_at,
        count(*) filter (where not is_cancelled) as order_count,
        cast(coalesce(sum(order_total) filter (where not is_cancelled), 0) as decimal(18, 2))
            as lifetime_value,
        count(*) filter (where not is_cancelled) > 0 as is_active
    from marts.fct_orders
    group by customer_id
    union all
    select 4, null, null, null, null, true, true, null, null, 0, 0.00, false;

    create table marts.dim_date as
    select
        cast(day as date) as date_day, year(day) as year_number, quarter(day) as quarter_number,
        month(day) as month_number, day(day) as day_of_month, isodow(day) as day_of_week,
        isodow(day) in (6, 7) as is_weekend, cast(date_trunc('week', day) as date) as week_start_date,
        cast(date_trunc('month', day) as date) as month_start_date,
        cast(date_trunc('quarter', day) as date) as quarter_start_date,
        cast(date_trunc('year', day) as date) as year_start_date
    from generate_series(date '{FIRST_DAY}', date '{AS_OF.date()}', interval 1 day) as s(day);

    create table marts.fct_customer_rfm as
    select
        customer_id, date '{AS_OF.date()}' as as_of_date, last_order_at,
        cast(date '{AS_OF.date()}' - cast(last_order_at as date) as bigint) as recency_days,
        order_count as frequency, lifetime_value as monetary, 5 as recency_score, 5 as frequency_score,
        cast(ntile(5) over (order by lifetime_value, customer_id) as integer) as monetary_score,
        '55' || ntile(5) over (order by lifetime_value, customer_id) as rfm_score,
        'champions' as rfm_segment, is_active
    from marts.dim_customers
    where order_count > 0 and not is_deleted;

    create table marts.fct_cohort_retention as
    select
        md5('2024-01-01|2024-01-01') as cohort_month_id, date '2024-01-01' as cohort_month,
        date '2024-01-01' as activity_month, 0 as months_since_first_order,
        cast(2 as bigint) as cohort_customers, cast(2 as bigint) as retained_customers,
        cast(1.0 as float) as retention_rate, cast(20 as bigint) as order_count,
        cast(1800.00 as decimal(18, 2)) as revenue;

    create table marts.fct_sessions as
    select
        md5('session-' || order_id) as session_id, placed_at - interval 10 minute as session_started_at,
        placed_at as session_ended_at, placed_date as session_date, 'visitor-' || customer_id as anonymous_id,
        customer_id, false as is_stitched,
        cast(row_number() over (partition by customer_id order by placed_at) as integer) as visit_number,
        cast(600 as bigint) as duration_seconds, 'https://shop.example.com/' as landing_page_url,
        'google' as utm_source, 'paid_search' as utm_medium, 'gs_brand_001' as utm_campaign,
        'desktop' as device_type, 'web' as platform, cast(5 as bigint) as event_count,
        cast(1 as bigint) as page_view_count, cast(1 as bigint) as product_view_count,
        cast(0 as bigint) as search_count, cast(1 as bigint) as add_to_cart_count,
        cast(1 as bigint) as checkout_started_count, cast(1 as bigint) as order_placed_count, order_id,
        true as has_product_view, true as has_add_to_cart, true as has_checkout, true as is_converted,
        placed_at as last_ingested_at
    from marts.fct_orders;

    create table marts.fct_bot_sessions as
    select
        md5('bot-' || date_day) as session_id, date_day + interval 3 hour as session_started_at,
        date_day + interval 3 hour + interval 20 second as session_ended_at, date_day as session_date,
        'crawler' as anonymous_id, 'Mozilla/5.0 (compatible; Googlebot/2.1)' as user_agent,
        'desktop' as device_type, 'web' as platform, cast(8 as bigint) as event_count,
        cast(2.5 as float) as median_gap_seconds, cast(4.0 as float) as max_gap_seconds,
        'user_agent' as bot_rule, 'Googlebot' as bot_name
    from marts.fct_revenue_daily;

    create table marts.fct_funnel_daily as
    select
        session_date as date_day, count(*) as sessions,
        count(*) filter (where has_product_view) as product_view_sessions,
        count(*) filter (where has_add_to_cart) as add_to_cart_sessions,
        count(*) filter (where has_checkout) as checkout_sessions,
        count(*) filter (where is_converted) as order_sessions,
        cast(1.0 as float) as product_view_rate, cast(1.0 as float) as add_to_cart_rate,
        cast(1.0 as float) as checkout_rate, cast(1.0 as float) as conversion_rate,
        cast(1.0 as float) as checkout_completion_rate
    from marts.fct_sessions
    group by session_date;

    -- One campaign: 10.00 a day for 20 clicks on 1000 impressions; one order credited a day.
    create table marts.fct_marketing_daily as
    select
        md5(date_day || 'gs_brand_001') as marketing_day_id, date_day, 'paid_search' as channel,
        'gs_brand_001' as campaign_id, 'Brand' as campaign_name, cast(10.00 as decimal(18, 2)) as spend,
        cast(20 as bigint) as clicks, cast(1000 as bigint) as impressions,
        cast(1 as bigint) as attributed_orders,
        cast(case when date_day = date '{FIRST_DAY}' then 1 else 0 end as bigint) as attributed_new_customers,
        cast(90.00 as decimal(18, 2)) as attributed_revenue, cast(9.0 as float) as roas,
        cast(case when date_day = date '{FIRST_DAY}' then 10.00 end as decimal(18, 2)) as cac,
        cast(0.50 as decimal(18, 2)) as cost_per_click, cast(0.02 as float) as click_through_rate
    from marts.fct_revenue_daily;
"""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """GE must not phone home (usage statistics, version checks): any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def make_warehouse(data_dir: Path, *, without: tuple[str, ...] = (), sql: str = "") -> Settings:
    """Ten good days of every mart (less the tables in ``without``), then ``sql`` to break them."""
    settings = Settings(data_dir=data_dir)
    with connect_warehouse(settings) as con:
        con.execute(WORLD)
        for table in without:
            con.execute(f"drop table marts.{table}")
        if sql:
            con.execute(sql)
    return settings


def run(settings: Settings, as_of: datetime.datetime = AS_OF, table: str | None = None) -> ValidationReport:
    """The marts' suites (or ``table``'s only), without Data Docs: one test looks at the site.

    These tiny warehouses hold marts only; the raw suites are exercised by test_quality_gates.py."""
    tables = None if table is None else [table]
    return validate(settings, as_of=as_of, layers=["marts"], tables=tables, data_docs=False)


def failures(report: ValidationReport) -> set[tuple[str, str]]:
    return {(o.suite, o.label) for o in report.failed_critical}


def failed_suites(report: ValidationReport) -> set[str]:
    return {o.suite for o in report.failed_critical}


@pytest.mark.heavy
def test_good_tables_pass_and_data_docs_are_built(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)
    messages: list[str] = []

    report = validate(settings, as_of=AS_OF, layers=["marts"], progress=messages.append)

    assert report.passed, report.to_markdown()
    assert not report.warned and not report.skipped, report.to_markdown()
    assert {o.table for o in report.outcomes} == set(MARTS)
    assert {o.dimension for o in report.outcomes} == {"accuracy", "completeness", "timeliness"}
    assert all(o.status == "passed" and o.rule and o.owner for o in report.outcomes)
    assert all(o.runbook for o in report.outcomes if o.severity == "critical")
    index = settings.site_dir / "gx" / "index.html"
    assert report.data_docs == index
    # Data Docs show one validation per table: its dimensions' suites are merged (see _table_suite).
    assert "marts.fct_revenue_daily" in index.read_text()
    assert any("checkpoint marts" in m for m in messages)
    assert "quality gate passed" in report.to_markdown()


@pytest.mark.heavy
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
    assert (failure.dimension, failure.severity, failure.table, failure.owner) == (
        "accuracy",
        "critical",
        "fct_revenue_daily",
        "finance",
    )
    assert failure.observed == "1 of 10 rows unexpected, e.g. -5.00"
    assert "refund_amount" in report.to_markdown() and "quality gate failed" in report.to_markdown()


@pytest.mark.heavy
def test_a_failure_prints_its_owner_and_runbook(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="update marts.fct_revenue_daily set net_revenue = 260.02 where date_day = '2024-01-02'"
    )

    report = run(settings)

    [failure] = report.failed_critical
    assert failure.expectation == "unexpected_rows_expectation"
    assert failure.observed.startswith("1 unexpected row")
    assert failure.owner == "finance"
    assert failure.runbook.startswith("Means: ") and " Look at: " in failure.runbook
    # The one-line summary (what a failed gate raises with) and the report both say who acts and how.
    assert "owner finance" in report.summary() and failure.runbook in report.summary()
    markdown = report.to_markdown()
    assert "| owner | runbook |" in markdown and failure.runbook in markdown


@pytest.mark.heavy
def test_missing_day_fails_completeness(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="delete from marts.fct_revenue_daily where date_day = '2024-01-05'"
    )

    report = run(settings)

    gap = next(o for o in report.failed_critical if o.suite == "marts.fct_revenue_daily.completeness")
    assert gap.rule.startswith("Every calendar day")
    assert gap.observed.startswith("1 unexpected row")
    # Campaigns were credited with an order on a day that now has no revenue: that breaks too.
    assert failed_suites(report) == {
        "marts.fct_revenue_daily.completeness",
        "marts.fct_marketing_daily.accuracy",
    }


@pytest.mark.heavy
def test_stale_data_fails_timeliness_against_as_of(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)

    report = run(settings, as_of=AS_OF + datetime.timedelta(days=3))

    # Stale data is also a missing last complete day, so the control-limit checks fire with it.
    checked = (AS_OF + datetime.timedelta(days=2)).date()
    assert {
        ("marts.fct_revenue_daily.timeliness", "expect_column_max_to_be_between(date_day)"),
        (
            "marts.fct_revenue_daily.accuracy",
            "unexpected_rows_expectation: Average order value of "
            f"{checked} within mean ± 3σ of 14 prior days",
        ),
        (
            "marts.fct_revenue_daily.completeness",
            f"unexpected_rows_expectation: Orders of {checked} within ± 3σ of the 28 prior days by weekday",
        ),
    } <= failures(report)
    # Every mart that promises to be current at as-of says it is not.
    assert {
        "marts.dim_date.timeliness",
        "marts.fct_customer_rfm.timeliness",
        "marts.fct_funnel_daily.timeliness",
        "marts.fct_sessions.timeliness",
        "marts.fct_marketing_daily.timeliness",
    } <= failed_suites(report)
    timeliness = [o for o in report.failed_critical if o.suite == "marts.fct_revenue_daily.timeliness"]
    assert timeliness[0].observed == "2024-01-10"
    # Orders going quiet only warns: revenue timeliness is the check that blocks.
    assert ("marts.fct_orders.timeliness", "warning") in {(o.suite, o.severity) for o in report.warned}


@pytest.mark.heavy
def test_unknown_order_status_fails_accuracy(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="update marts.fct_orders set order_status = 'lost' where order_id = 1"
    )

    report = run(settings)

    assert failures(report) == {
        ("marts.fct_orders.accuracy", "expect_column_values_to_be_in_set(order_status)")
    }
    assert report.failed_critical[0].observed == "1 of 30 rows unexpected, e.g. lost"


#: A defect per mart → the suite whose critical check must catch it (other checks may fire too).
DEFECTS = {
    "an erased account keeps its email": (
        "update marts.dim_customers set email_hash = sha256('x') where customer_id = 4",
        "marts.dim_customers.accuracy",
        "An erased (hard-deleted) account keeps a row without attributes",
    ),
    "an email that is not a hash": (
        "update marts.dim_customers set email_hash = 'someone@example.com' where customer_id = 1",
        "marts.dim_customers.accuracy",
        "Contact details are salted SHA-256 hashes, never the contact itself",
    ),
    "a customer active without a recent order": (
        "update marts.dim_customers set is_active = true where customer_id = 3",
        "marts.dim_customers.accuracy",
        "An active customer is not deleted and ordered (not cancelled) in the 90 days",
    ),
    "a hole in the calendar": (
        "delete from marts.dim_date where date_day = '2024-01-05'",
        "marts.dim_date.completeness",
        "The calendar has every day from its first to its last",
    ),
    "a Sunday that is not a weekend": (
        "update marts.dim_date set is_weekend = false where date_day = '2024-01-07'",
        "marts.dim_date.accuracy",
        "Calendar attributes follow the day",
    ),
    "a product without a price": (
        "update marts.dim_products set current_price = null where product_id = 2",
        "marts.dim_products.completeness",
        "Every product has a list price",
    ),
    "a line lost from yesterday's order": (
        "delete from marts.fct_order_items where order_item_id = 282",
        "marts.fct_order_items.accuracy",
        "Revenue by product and revenue by order are the same revenue",
    ),
    "a line priced ×100 without its amounts": (
        "update marts.fct_order_items set unit_price = unit_price * 100 where order_item_id = 11",
        "marts.fct_order_items.accuracy",
        "A line's gross is quantity × unit price",
    ),
    "a cohort that does not keep everyone in month 0": (
        "update marts.fct_cohort_retention set retained_customers = 1, retention_rate = 0.5",
        "marts.fct_cohort_retention.accuracy",
        "A cohort is the month of a customer's first order",
    ),
    "a closed account in the segments export": (
        "update marts.dim_customers set is_deleted = true, is_active = false where customer_id = 2",
        "marts.fct_customer_rfm.accuracy",
        "Closed and erased accounts never reach the customer segments export",
    ),
    "scores of another day": (
        "update marts.fct_customer_rfm set as_of_date = date '2024-01-09'",
        "marts.fct_customer_rfm.timeliness",
        "Scores are as of the run's as-of date",
    ),
    "more clicks than impressions": (
        "update marts.fct_marketing_daily set clicks = 2000, click_through_rate = 2.0, cost_per_click = 0.01"
        " where date_day = '2024-01-03'",
        "marts.fct_marketing_daily.accuracy",
        "An ad is clicked only where it was shown",
    ),
    "credit beyond the day's sales": (
        "update marts.fct_marketing_daily set attributed_revenue = 900.00, roas = 90.0"
        " where date_day = '2024-01-03'",
        "marts.fct_marketing_daily.accuracy",
        "Each order is credited to at most one campaign",
    ),
    "spend on an unpaid channel": (
        "update marts.fct_marketing_daily set channel = 'organic' where date_day = '2024-01-03'",
        "marts.fct_marketing_daily.accuracy",
        "Ad spend is only bought on paid channels (seed marketing_channels)",
    ),
    "a session dated the day after it started": (
        "update marts.fct_sessions set session_date = session_date + 1 where order_id = 1",
        "marts.fct_sessions.accuracy",
        "A session is dated by the UTC date of its first event",
    ),
    "a slow visitor labelled a bot": (
        "update marts.fct_bot_sessions set bot_rule = 'behaviour', bot_name = null,"
        " user_agent = 'Mozilla/5.0 (Windows NT 10.0)', max_gap_seconds = 45"
        " where session_date = '2024-01-04'",
        "marts.fct_bot_sessions.accuracy",
        "A disguised bot clicks at machine speed",
    ),
    "a funnel that lost a session": (
        "update marts.fct_funnel_daily set sessions = 2, product_view_rate = 1.5, add_to_cart_rate = 1.5,"
        " checkout_rate = 1.5, conversion_rate = 1.5 where date_day = '2024-01-04'",
        "marts.fct_funnel_daily.completeness",
        "The funnel counts every human session once",
    ),
}


def test_validating_a_table_without_a_suite_is_refused_by_name(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path)
    with pytest.raises(LifecycleError, match=r"no expectation suite for table\(s\) fct_nothing"):
        validate(settings, as_of=AS_OF, tables=["fct_orders", "fct_nothing"])


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_mart_blocks_its_defect(tmp_path: Path, defect: str) -> None:
    sql, suite, rule = DEFECTS[defect]
    settings = make_warehouse(tmp_path, sql=sql)

    report = run(settings, table=suite.split(".")[1])

    assert not report.passed
    caught = [o for o in report.failed_critical if o.suite == suite and o.rule.startswith(rule)]
    assert caught, report.to_markdown()
    assert all(o.owner and o.runbook for o in caught)


@pytest.mark.heavy
def test_order_history_against_its_lifecycle_only_warns(tmp_path: Path) -> None:
    settings = make_warehouse(
        tmp_path, sql="update marts.fct_orders set paid_at = placed_at where order_status = 'cancelled'"
    )

    report = run(settings)

    assert report.passed
    assert [(o.suite, o.severity) for o in report.warned] == [("marts.fct_orders.accuracy", "warning")]
    assert "never paid" in report.warned[0].rule


@pytest.mark.heavy
def test_a_day_far_from_its_history_is_caught_by_the_control_limits(tmp_path: Path) -> None:
    # The newest complete day's lines cost 100 times more; their amounts and orders say so too.
    settings = make_warehouse(
        tmp_path,
        sql=f"""
            update marts.fct_order_items set unit_price = unit_price * 100, gross_amount = gross_amount * 100,
                net_amount = gross_amount * 100 - discount_amount
            where placed_date = '{LAST_DAY}';
            update marts.fct_orders set gross_revenue = 10000.00, order_total = 9990.00
            where placed_date = '{LAST_DAY}';
            update marts.fct_revenue_daily set gross_revenue = 30000.00, net_revenue = 29960.00
            where date_day = '{LAST_DAY}';
        """,
    )

    report = run(settings)

    assert f"Average order value of {LAST_DAY} within mean ± 3σ of 14 prior days" in {
        o.description for o in report.failed_critical
    }
    # Too few rows a day here for the distribution checks of new data (lifecycle.quality.distribution
    # wants at least 20 new rows): test_quality_principles.py and test_distribution.py prove those.


@pytest.mark.heavy
def test_missing_table_is_skipped_not_failed(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path, without=("fct_cohort_retention",))

    report = run(settings)

    assert report.passed
    assert {o.suite for o in report.skipped} == {
        "marts.fct_cohort_retention.accuracy",
        "marts.fct_cohort_retention.completeness",
        "marts.fct_cohort_retention.timeliness",
    }
    assert {o.observed for o in report.skipped} == {"skipped: table missing"}
    assert all(o.success is None for o in report.skipped)


@pytest.mark.heavy
def test_history_is_appended_to_the_warehouse(tmp_path: Path) -> None:
    settings = make_warehouse(tmp_path, sql="update marts.dim_products set sku = 'SKU-1'")
    report = run(settings)
    assert report.passed and len(report.warned) == 1

    # Straight after validate, in the same process: GE must have let go of the read-only file.
    recorded = record_history(report, settings.warehouse_path, "run-1")
    record_history(report, settings.warehouse_path, "run-1")  # the same run again replaces its rows
    record_history(report, settings.warehouse_path, "run-2")

    with connect(settings.warehouse_path, read_only=True) as con:
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
            "marts.dim_products.accuracy",
            "marts",
            "accuracy",
            "warning",
            "expect_column_values_to_be_unique(sku)",
            False,
            "2 of 2 rows unexpected, e.g. SKU-1, SKU-1",
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


def write_suite(project: Path, layer: str, table: str, body: str) -> Path:
    path = project / "expectations" / layer / f"{table}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "import great_expectations as gx\n"
        "import great_expectations.expectations as gxe\n"
        "from lifecycle.quality.suites import meta\n\n"
        "def build_suites(ctx):\n"
        f"    return [gx.ExpectationSuite(name=ctx.suite_name('accuracy'), expectations=[{body}])]\n"
    )
    return path


def test_every_expectation_declares_rule_dimension_and_severity(tmp_path: Path) -> None:
    write_suite(tmp_path, "marts", "fct_orders", "gxe.ExpectColumnValuesToNotBeNull(column='order_id')")

    with pytest.raises(LifecycleError, match=r"fct_orders\.py.*marts\.fct_orders\.accuracy.*no 'rule'"):
        load_suites(tmp_path / "expectations", as_of=AS_OF)


def test_a_critical_expectation_without_a_runbook_stops_loading(tmp_path: Path) -> None:
    write_suite(
        tmp_path,
        "marts",
        "fct_orders",
        "gxe.ExpectColumnValuesToNotBeNull(column='order_id', "
        "meta=meta(rule='Every order has an id', dimension='accuracy', severity='critical'))",
    )

    with pytest.raises(LifecycleError, match=r"fct_orders\.py.*critical, but meta has no 'runbook'"):
        load_suites(tmp_path / "expectations", as_of=AS_OF)


def test_an_expectation_without_an_owner_anywhere_stops_loading(tmp_path: Path) -> None:
    # No dbt project here declares who owns the table, and the expectation names nobody either.
    write_suite(
        tmp_path,
        "marts",
        "fct_orders",
        "gxe.ExpectColumnValuesToNotBeNull(column='order_id', "
        "meta=meta(rule='Every order has an id', dimension='accuracy', severity='warning'))",
    )

    with pytest.raises(LifecycleError, match=r"fct_orders\.py.*no owner"):
        load_suites(tmp_path / "expectations", as_of=AS_OF)


def test_owners_default_to_what_dbt_declares_for_the_table() -> None:
    owners = {
        table.name: {e.meta["owner"] for suite in table.suites for e in suite.expectations}
        for table in load_suites(PROJECT_DIR / "expectations", as_of=AS_OF)
    }

    assert owners["marts.fct_revenue_daily"] == {"finance"}  # the model's config: meta: owner
    assert owners["marts.fct_sessions"] == {"web-analytics"}
    assert owners["raw.ads_spend"] == {"marketing-data"}  # the source's config: meta: owner
    assert owners["raw.events_clickstream"] == {"data-platform"}


def test_raw_freshness_limits_are_the_sources_own(tmp_path: Path) -> None:
    """The timeliness suites read warn_after/error_after from the sources YAML: change it, they follow."""
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path / "dbt_project.yml")
    sources = tmp_path / "models" / "staging" / "events" / "_events__sources.yml"
    sources.parent.mkdir(parents=True)
    declared = (PROJECT_DIR / "models" / "staging" / "events" / "_events__sources.yml").read_text()
    sources.write_text(
        declared.replace(
            "warn_after: {count: 3, period: hour}", "warn_after: {count: 2, period: hour}"
        ).replace("error_after: {count: 6, period: hour}", "error_after: {count: 3, period: day}")
    )
    (tmp_path / "expectations" / "raw").mkdir(parents=True)
    shutil.copy(
        PROJECT_DIR / "expectations" / "raw" / "events_clickstream.py", tmp_path / "expectations" / "raw"
    )

    def limits(project: Path) -> dict[str, object]:
        tables = load_suites(project / "expectations", as_of=AS_OF, layers=["raw"])
        [table] = [t for t in tables if t.table == "events_clickstream"]
        return {
            e.meta["severity"]: e.min_value
            for suite in table.suites
            for e in suite.expectations
            if e.expectation_type == "expect_column_max_to_be_between"
        }

    assert limits(PROJECT_DIR) == {
        "warning": AS_OF - datetime.timedelta(hours=3),
        "critical": AS_OF - datetime.timedelta(hours=6),
    }
    assert limits(tmp_path) == {
        "warning": AS_OF - datetime.timedelta(hours=2),
        "critical": AS_OF - datetime.timedelta(days=3),
    }


def test_prediction_limits_use_the_t_distribution() -> None:
    # Student's t at the tail probability of 3σ (0.99865): the factor for an estimated σ.
    assert student_t_quantile(0.998650101968, 13) == pytest.approx(3.6942, abs=1e-3)
    assert student_t_quantile(0.998650101968, 6) == pytest.approx(4.9041, abs=1e-3)


def test_summary_of_a_passed_gate_is_one_line() -> None:
    outcome = ExpectationOutcome(
        suite="marts.x.accuracy",
        table="x",
        layer="marts",
        dimension="accuracy",
        severity="warning",
        expectation="e",
        column=None,
        description=None,
        rule="r",
        status="failed",
        observed="o",
        owner="analytics",
        runbook="Means: m Look at: l Fix or accept: f",
    )
    report = ValidationReport(as_of=AS_OF, checked_at=AS_OF, outcomes=(outcome,))

    assert report.summary() == "quality gate passed: 0 critical failures, 1 warning, 0 passed, 0 skipped"
    assert "analytics" in report.to_markdown()
