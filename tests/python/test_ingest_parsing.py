"""Exact parsing and timeliness: every form a declared type allows lands as the value it means, or is
quarantined with a reason naming the field; records stamped after the as-of are quarantined as ``future:``."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import add_order, event, write_ads, write_events
from lifecycle.config import Settings
from lifecycle.errors import LifecycleError
from lifecycle.generate import generate
from lifecycle.ingest import ingest, raise_for_errors
from lifecycle.ingest.ads import PARTNER_DIALECT, Dialect, parse_value
from lifecycle.ingest.landing import (
    CLOCK_SKEW_TOLERANCE,
    json_struct_type,
    text_timestamp_sql,
    value_sql,
)
from lifecycle.storage import connect, quote_literal

AS_OF = dt.datetime(2026, 11, 20, 11, 0)
FUTURE = "future: {} after as-of 2026-11-20 11:00:00 (+5 min clock-skew tolerance)"
NOT_PARSED = "field {} does not parse as its declared type"


def query(settings, sql: str) -> list[tuple]:
    with connect(settings.warehouse_path, read_only=True, settings=settings) as con:
        return con.execute(sql).fetchall()


def quarantined(settings, source: str) -> list[tuple[int, str]]:
    return query(
        settings,
        f"select line_number, reason from raw._quarantine where source = '{source}' order by line_number",
    )


# ------------------------------------------------------------------------------------------------
# timestamps


def test_duckdb_timestamp_parser_still_drops_utc_offsets():
    """Why TIMESTAMP fields are parsed as TIMESTAMPTZ: if this fails, DuckDB now applies the offset itself."""
    with connect() as con:
        (value,) = con.execute(
            """select json_transform('{"t": "2026-11-20T12:00:00+02:00"}', '{"t": "TIMESTAMP"}').t"""
        ).fetchone()  # type: ignore[misc]
    assert value == dt.datetime(2026, 11, 20, 12, 0)


TEN_UTC = dt.datetime(2026, 11, 20, 10, 0)
INSTANTS = {
    "2026-11-20T10:00:00.000Z": TEN_UTC,
    "2026-11-20T10:00:00Z": TEN_UTC,
    "2026-11-20T12:00:00+02:00": TEN_UTC,
    "2026-11-20T12:00:00+0200": TEN_UTC,
    "2026-11-20T12:00:00+02": TEN_UTC,
    "2026-11-20T04:30:00-0530": TEN_UTC,
    "2026-11-20T04:30:00-05:30": TEN_UTC,
    "2026-11-20T00:00:00-10:00": TEN_UTC,
    "2026-11-21T01:00:00+15:00": TEN_UTC,  # across a date line
    "2026-11-20 10:00:00": TEN_UTC,  # no offset: UTC
    "2026-11-20T10:00:00": TEN_UTC,
    "2026-11-20T10:00:00.123456Z": TEN_UTC.replace(microsecond=123456),
    "2026-11-20T10:00:00.1234567Z": TEN_UTC.replace(microsecond=123456),  # kept to the microsecond
    "2026-11-20T04:30:00.5-05:30": TEN_UTC.replace(microsecond=500000),
    "2026-11-20T11:00:00.250+01:00": TEN_UTC.replace(microsecond=250000),
}
NOT_INSTANTS = [
    "2026-02-30T10:00:00Z",  # no such day
    "2026-11-20T25:00:00Z",
    "2026-11-20T10:00:00 Europe/Berlin",  # zone names are not ISO-8601
    "20.11.2026 10:00",
    "yesterday",
    "",
]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_timestamp_sql_gives_the_utc_instant_whatever_the_session_time_zone(zone: str):
    parsed = f"json_transform(json_object('t', ?), {quote_literal(json_struct_type({'t': 'TIMESTAMP'}))})"
    sql = f"select {value_sql(parsed, 't', 'TIMESTAMP')}, {text_timestamp_sql('?')}"
    with connect() as con:
        con.execute(f"set TimeZone = '{zone}'")
        rows = [con.execute(sql, [text, text]).fetchone() for text in [*INSTANTS, *NOT_INSTANTS]]
    expected = [*INSTANTS.values(), *(None for _ in NOT_INSTANTS)]
    assert [r[0] for r in rows] == expected  # type: ignore[index]
    assert [r[1] for r in rows] == expected  # type: ignore[index]


def test_event_times_land_as_utc_instants_or_are_quarantined(settings):
    lines = [event(f"ok{i}", event_time=text) for i, text in enumerate(INSTANTS)]
    lines += [event(f"bad{i}", event_time=text) for i, text in enumerate(NOT_INSTANTS)]
    lines += [event("number", event_time=1732096800), event("object", event_time={"at": "2026-11-20"})]
    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", lines)
    raise_for_errors(ingest(settings, as_of=AS_OF))
    landed = query(settings, "select event_time from raw.events_clickstream order by _line_number")
    assert [r[0] for r in landed] == list(INSTANTS.values())
    bad = len(NOT_INSTANTS) + 2
    assert quarantined(settings, "events") == [
        (len(INSTANTS) + i, NOT_PARSED.format("event_time")) for i in range(1, bad + 1)
    ]


def test_app_timestamps_with_offsets_land_as_utc_instants(settings, app_db):
    row = {
        "order_id": 1,
        "customer_id": 5,
        "status": "placed",
        "placed_at": "2026-11-20T12:00:00+02:00",
        "updated_at": "2026-11-20T04:30:00.5-0530",
        "shipping_address_id": 1,
    }
    insert_change(app_db, "orders", json.dumps({**row, "order_id": 2}), changed_at="the day after")
    insert_change(app_db, "orders", json.dumps(row), changed_at="2026-11-20 11:00:00+01:00")
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select order_id, _changed_at, placed_at, updated_at from raw.app_orders") == [
        (1, TEN_UTC, TEN_UTC, TEN_UTC.replace(microsecond=500000))
    ]
    assert quarantined(settings, "app") == [(1, NOT_PARSED.format("changed_at"))]


# ------------------------------------------------------------------------------------------------
# numbers and dates in JSON


def insert_change(app_db, table: str, row_json: str, changed_at: str = "2026-11-20 10:00:00") -> None:
    """A change as the application's trigger logs it, with the row image written as raw JSON text."""
    key = next(iter(json.loads(row_json).values()))
    app_db.execute(
        "insert into change_log (table_name, op, row_key, changed_at, row_json)"
        " values (?, 'insert', ?, ?, ?)",
        [table, str(key), changed_at, row_json],
    )
    app_db.commit()


def product(product_id: int, price: str) -> str:
    """A products row image with ``price`` written as raw JSON text."""
    return (
        f'{{"product_id": {product_id}, "category_id": 1, "sku": "S{product_id}", "name": "n", '
        f'"price": {price}, "is_active": 1, "created_at": "2026-11-20 10:00:00", '
        f'"updated_at": "2026-11-20 10:00:00"}}'
    )


def test_integers_take_json_integers_only(settings):
    values: list[object] = [7, -7, 0, 7.5, 7.0, "7", True, 1e2, 9223372036854775808, None]
    lines = [event(f"e{i}", customer_id=value) for i, value in enumerate(values)]
    # More good values than bad ones in the file: a majority of bad ones would be a retyped field.
    lines += [event(f"more{i}", customer_id=i) for i in range(10)]
    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", lines)
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select customer_id from raw.events_clickstream order by _line_number") == [
        (7,),
        (-7,),
        (0,),
        (None,),
        *((i,) for i in range(10)),
    ]
    assert quarantined(settings, "events") == [(n, NOT_PARSED.format("customer_id")) for n in range(4, 10)]


def test_decimals_take_json_numbers_that_fit_the_scale_exactly(settings, app_db):
    prices = [
        "12.5",
        "12.50",
        "0.1",
        "1e2",
        "-3",
        "12.345",
        '"12.50"',
        "true",
        "1e400",
        "12345678901234567.5",
    ]
    for i, price in enumerate(prices, start=1):
        insert_change(app_db, "products", product(i, price))
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select product_id, price from raw.app_products order by 1") == [
        (1, Decimal("12.50")),
        (2, Decimal("12.50")),
        (3, Decimal("0.10")),
        (4, Decimal("100.00")),
        (5, Decimal("-3.00")),
    ]
    assert quarantined(settings, "app") == [(n, NOT_PARSED.format("price")) for n in range(6, 11)]


def test_dates_take_iso_calendar_dates_only(settings, app_db):
    customer = {
        "customer_id": 1,
        "email": "a@example.com",
        "phone": None,
        "first_name": "A",
        "last_name": "B",
        "birth_date": "1990-05-17",
        "country": "NL",
        "created_at": "2026-11-20 10:00:00",
        "updated_at": "2026-11-20 10:00:00",
        "deleted_at": None,
    }
    for i, birth_date in enumerate(["1990-05-17", "1990-05-17T23:00:00-05:00", "17.05.1990", "1990-02-30"]):
        insert_change(
            app_db, "customers", json.dumps({**customer, "customer_id": i + 1, "birth_date": birth_date})
        )
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select customer_id, birth_date from raw.app_customers") == [
        (1, dt.date(1990, 5, 17))
    ]
    assert quarantined(settings, "app") == [(n, NOT_PARSED.format("birth_date")) for n in (2, 3, 4)]


# ------------------------------------------------------------------------------------------------
# numbers in the ads partner's dialect


@pytest.mark.parametrize(
    ("dialect", "text", "expected"),
    [
        (PARTNER_DIALECT, "1,5", Decimal("1.50")),
        (PARTNER_DIALECT, "1234,56", Decimal("1234.56")),
        (PARTNER_DIALECT, "-0,5", Decimal("-0.50")),
        (PARTNER_DIALECT, "12", Decimal("12.00")),
        (PARTNER_DIALECT, "1,230", Decimal("1.23")),  # a trailing zero changes nothing
        (Dialect(thousands="."), "1.234,5", Decimal("1234.50")),
        (Dialect(thousands="."), "1234,5", Decimal("1234.50")),
        (Dialect(decimal=".", thousands=","), "1,234.5", Decimal("1234.50")),
        (Dialect(decimal="."), "1.5", Decimal("1.50")),
    ],
)
def test_decimals_in_the_declared_dialect_are_exact(dialect: Dialect, text: str, expected: Decimal):
    assert parse_value("spend", text, dialect) == expected


@pytest.mark.parametrize(
    ("dialect", "text", "message"),
    [
        (PARTNER_DIALECT, "1.5", "is not DECIMAL"),  # the other dialect's decimal point
        (PARTNER_DIALECT, "1,234.5", "is not DECIMAL"),
        (PARTNER_DIALECT, "1.234,5", "is not DECIMAL"),  # the partner writes no thousands separator
        (PARTNER_DIALECT, "1,234", "has 3 digits after the decimal mark"),  # never rounded to 1.23
        (PARTNER_DIALECT, "1 234,5", "is not DECIMAL"),
        (PARTNER_DIALECT, ",5", "is not DECIMAL"),
        (PARTNER_DIALECT, "5,", "is not DECIMAL"),
        (PARTNER_DIALECT, "1e3", "is not DECIMAL"),
        (PARTNER_DIALECT, "NaN", "is not DECIMAL"),
        (PARTNER_DIALECT, "Infinity", "is not DECIMAL"),
        (PARTNER_DIALECT, "+5", "is not DECIMAL"),
        (PARTNER_DIALECT, "١٢", "is not DECIMAL"),  # digits of another script
        (PARTNER_DIALECT, "12345678901234567,5", "is out of the range"),
        (Dialect(thousands="."), "1.23,5", "is not DECIMAL"),  # groups are threes
        (Dialect(thousands="."), "1,234.5", "is not DECIMAL"),
        (Dialect(decimal=".", thousands=","), "1.234,5", "is not DECIMAL"),
    ],
)
def test_decimals_in_another_dialect_are_rejected_naming_the_field(dialect: Dialect, text: str, message: str):
    with pytest.raises(ValueError, match=f"^spend='.*' {message}"):
        parse_value("spend", text, dialect)


@pytest.mark.parametrize("text", ["1.000", "1,000", "1_000", "12,0", "1e3", "٣", "9223372036854775808"])
def test_integers_in_another_dialect_are_rejected(text: str):
    with pytest.raises(ValueError, match=r"^clicks="):
        parse_value("clicks", text)


def test_ads_rows_in_another_dialect_are_quarantined_with_the_field(settings):
    rows = [
        ["2026-11-18", "display", "c1", "x", "1000", "10", spend]
        for spend in ("12,50", "1.234,5", "1,234.5", "1.5", "1,234")
    ]
    rows.append(["2026-11-18", "display", "c1", "x", "1.000", "10", "1,5"])
    write_ads(settings.sources_dir, "2026-11-19", rows)
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select spend from raw.ads_spend") == [(Decimal("12.50"),)]
    reasons = [reason for _, reason in quarantined(settings, "ads")]
    assert [r.split("=")[0] for r in reasons] == ["spend", "spend", "spend", "spend", "impressions"]


# ------------------------------------------------------------------------------------------------
# timeliness


def test_events_after_the_as_of_are_quarantined_as_future(settings):
    times = {
        "past": "2026-11-20T10:30:00.000Z",
        "skew": "2026-11-20T11:04:59.999Z",  # within the tolerance
        "edge": "2026-11-20T11:05:00.000Z",
        "offset": "2026-11-20T12:00:00+02:00",  # 10:00 UTC: future only if the offset were dropped
        "ahead": "2026-11-20T11:05:00.001Z",
        "ahead_offset": "2026-11-20T13:30:00+02:00",
        "tomorrow": "2026-11-21T09:00:00Z",
    }
    write_events(
        settings.sources_dir,
        "2026-11-20/10",
        "a.json.gz",
        [event(name, event_time=text) for name, text in times.items()],
    )
    raise_for_errors(ingest(settings, as_of=AS_OF))
    landed = query(settings, "select event_id from raw.events_clickstream order by _line_number")
    assert [r[0] for r in landed] == ["past", "skew", "edge", "offset"]
    assert quarantined(settings, "events") == [(n, FUTURE.format("event_time")) for n in (5, 6, 7)]
    log = (
        "select rows_read, rows_loaded, rows_quarantined, as_of from raw._ingest_log where source = 'events'"
    )
    assert query(settings, log) == [(7, 4, 3, AS_OF)]
    assert dt.timedelta(minutes=5) == CLOCK_SKEW_TOLERANCE


def test_an_events_file_is_read_once_its_hour_is_over(settings):
    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", [event("e1")])
    write_events(settings.sources_dir, "2026-11-20/11", "b.json.gz", [event("e2")])
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 20, 11, 59, 59)))
    assert query(settings, "select event_id from raw.events_clickstream") == [("e1",)]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 20, 12, 0)))
    assert query(settings, "select event_id from raw.events_clickstream order by 1") == [("e1",), ("e2",)]


def test_app_changes_after_the_as_of_wait_at_the_end_of_the_log(settings, app_db):
    add_order(app_db, 1, when="2026-11-20 10:00:00")
    add_order(app_db, 2, when="2026-11-20 11:05:00")  # within the tolerance
    add_order(app_db, 3, when="2026-11-20 11:05:01")
    add_order(app_db, 4, when="2026-11-21 09:00:00")
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select order_id from raw.app_orders order by 1") == [(1,), (2,)]
    assert quarantined(settings, "app") == []
    assert query(settings, "select watermark from raw._watermarks") == [("2",)]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 21, 9)))  # a later run reads them
    assert query(settings, "select order_id from raw.app_orders order by 1") == [(1,), (2,), (3,), (4,)]


def test_app_changes_stamped_ahead_inside_the_log_are_quarantined_as_future(settings, app_db):
    # Logged before a change made by the as-of, so made before it too: the clock that stamped it is ahead.
    add_order(app_db, 1, when="2026-11-20 10:00:00")
    add_order(app_db, 2, when="2026-11-20 11:30:00")
    add_order(app_db, 3, when="2026-11-21 09:00:00")
    add_order(app_db, 4, when="2026-11-20 10:30:00")
    add_order(app_db, 5, when="2026-11-20 11:30:00")  # after the last change made by the as-of: waits
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select order_id from raw.app_orders order by 1") == [(1,), (4,)]
    assert quarantined(settings, "app") == [
        (2, FUTURE.format("changed_at")),
        (3, FUTURE.format("changed_at")),
    ]
    raise_for_errors(ingest(settings, as_of=AS_OF + dt.timedelta(days=1)))  # quarantine is final
    assert query(settings, "select order_id from raw.app_orders order by 1") == [(1,), (4,), (5,)]
    assert query(settings, "select count(*) from raw._quarantine") == [(2,)]


def test_full_refresh_refuses_a_log_ahead_of_the_as_of(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=5, scale=0.01, start=dt.date(2026, 11, 20), days=1, clean=True)
    with pytest.raises(LifecycleError, match="after the as-of 2026-11-20 11:00:00"):
        raise_for_errors(ingest(settings, as_of=AS_OF, full_refresh=True))
    assert query(settings, "select count(*) from raw.app_orders") == [(0,)]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 21), full_refresh=True))
    assert query(settings, "select count(*) from raw.app_orders where _op = 'snapshot'") != [(0,)]


def test_ad_rows_for_days_after_the_as_of_are_quarantined_as_future(settings):
    row = ["display", "c1", "x", "1000", "10", "12,50"]
    write_ads(
        settings.sources_dir,
        "2026-11-19",
        [[day, *row] for day in ("2026-11-19", "2026-11-20", "2026-11-21")],
    )
    write_ads(settings.sources_dir, "2026-11-20", [["2026-11-20", *row]])  # complete at midnight after
    raise_for_errors(ingest(settings, as_of=AS_OF))
    assert query(settings, "select date::varchar, _source_file from raw.ads_spend order by 1") == [
        ("2026-11-19", "ads/ad_spend_2026-11-19.csv"),
        ("2026-11-20", "ads/ad_spend_2026-11-19.csv"),
    ]
    assert quarantined(settings, "ads") == [(4, FUTURE.format("date"))]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 20, 23, 59, 59)))  # its day is not over
    assert query(settings, "select count(*) from raw.ads_spend") == [(2,)]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 21)))
    assert query(settings, "select count(*) from raw.ads_spend") == [(3,)]


def test_a_day_starting_within_the_tolerance_is_not_future(settings):
    write_ads(settings.sources_dir, "2026-11-19", [["2026-11-21", "display", "c1", "x", "1", "1", "1,00"]])
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 11, 20, 23, 56)))
    assert query(settings, "select count(*) from raw.ads_spend") == [(1,)]


def test_future_share_and_lateness_per_source_are_derivable(settings, app_db):
    add_order(app_db, 1, when="2026-11-20 12:00:00")
    add_order(app_db, 2, when="2026-11-20 08:00:00")
    write_events(
        settings.sources_dir,
        "2026-11-20/09",
        "a.json.gz",
        [event("e1", event_time="2026-11-20T09:30:00Z"), event("e2", event_time="2026-11-20T12:00:00Z")],
    )
    write_ads(settings.sources_dir, "2026-11-19", [["2026-11-19", "display", "c1", "x", "1", "1", "1,00"]])
    raise_for_errors(ingest(settings, as_of=AS_OF))
    share = query(
        settings,
        """
        select l.source, count(q.batch_id)::double / any_value(l.rows_read) as future_share
        from raw._ingest_log as l
        left join raw._quarantine as q on q.batch_id = l.batch_id and starts_with(q.reason, 'future:')
        where l.rows_read > 0
        group by l.source, l.batch_id
        order by 1
        """,
    )
    assert share == [("ads", 0.0), ("app", 0.5), ("events", 0.5)]
    lateness = query(
        settings,
        """
        select 'app', max(l.as_of - r._changed_at) from raw.app_orders as r
        join raw._ingest_log as l on l.batch_id = r._batch_id
        union all
        select 'events', max(l.as_of - r.event_time) from raw.events_clickstream as r
        join raw._ingest_log as l on l.batch_id = r._batch_id
        union all
        select 'ads', max(l.as_of - (r.date + 1)) from raw.ads_spend as r
        join raw._ingest_log as l on l.batch_id = r._batch_id
        order by 1
        """,
    )
    assert lateness == [
        ("ads", dt.timedelta(hours=11)),
        ("app", dt.timedelta(hours=3)),
        ("events", dt.timedelta(hours=1, minutes=30)),
    ]


def test_without_an_as_of_no_clock_is_judged(settings, app_db):
    add_order(app_db, 1, when="2999-01-01 00:00:00")
    later = event("e1", event_time="2999-01-01T00:00:00Z")
    write_events(settings.sources_dir, "2999-01-01/00", "a.json.gz", [later])
    raise_for_errors(ingest(settings))
    assert query(settings, "select count(*) from raw._quarantine") == [(0,)]
