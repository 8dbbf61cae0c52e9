"""Ingestion: exactly-once effect, quarantine, schema drift and per-source isolation."""

from __future__ import annotations

import duckdb
import pytest

from conftest import add_order, event, write_ads, write_events
from lifecycle.errors import LifecycleError
from lifecycle.ingest import ingest, raise_for_errors


def counts(settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw'"
            ).fetchall()
            if r[0] != "_ingest_log"  # one row per run, by design
        ]
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_app_cdc_is_incremental_and_exactly_once(settings, app_db):
    db = app_db
    add_order(db, 1)
    add_order(db, 2)
    ingest(settings)
    first = counts(settings)
    ingest(settings)  # nothing new: the overlap window is re-read but adds nothing
    assert counts(settings) == first
    db.execute("update orders set status = 'paid', updated_at = '2026-11-21 09:00:00' where order_id = 1")
    db.execute("delete from orders where order_id = 2")
    db.commit()
    ingest(settings)
    rows = query(settings, "select _change_id, _op, order_id, status from raw.app_orders order by _change_id")
    assert rows == [
        (1, "insert", 1, "placed"),
        (2, "insert", 2, "placed"),
        (3, "update", 1, "paid"),
        (4, "delete", 2, "placed"),
    ]
    assert query(settings, "select watermark from raw._watermarks where source = 'app'") == [("4",)]


def test_every_batch_balances_read_against_loaded_and_quarantined(settings, app_db):
    db = app_db
    add_order(db, 1)
    db.execute(
        "insert into change_log (table_name, op, row_key, changed_at, row_json)"
        " values ('orders', 'insert', '9', '2026-11-20 11:00:00', '{\"order_id\": \"not-a-number\"}')"
    )
    db.commit()
    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", [event("e1"), "{not json", event("e2")])
    ingest(settings)
    ingest(settings)  # the quarantined change is in the overlap window: it must not be quarantined twice
    unbalanced = query(
        settings, "select * from raw._ingest_log where rows_read != rows_loaded + rows_quarantined"
    )
    assert unbalanced == []
    quarantine = query(settings, "select source, line_number, reason from raw._quarantine order by source")
    assert quarantine == [
        ("app", 2, "field order_id does not parse as its declared type"),
        ("events", 2, "malformed JSON"),
    ]


def test_events_files_load_once_and_late_files_wait_for_as_of(settings):
    import datetime as dt

    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", [event("e1"), event("e1")])
    write_events(settings.sources_dir, "2026-11-22/03", "late.json.gz", [event("e3")])
    ingest(settings, as_of=dt.datetime(2026, 11, 21))
    assert counts(settings)["events_clickstream"] == 2  # duplicates stay in raw; staging resolves them
    ingest(settings, as_of=dt.datetime(2026, 11, 21))
    assert counts(settings)["events_clickstream"] == 2
    ingest(settings, as_of=dt.datetime(2026, 11, 23))
    assert counts(settings)["events_clickstream"] == 3


def test_truncated_gzip_fails_only_that_file_and_is_retried(settings):
    good = write_events(settings.sources_dir, "2026-11-20/10", "good.json.gz", [event("e1")])
    bad = write_events(
        settings.sources_dir, "2026-11-20/11", "bad.json.gz", [event(f"x{i}") for i in range(50)]
    )
    bad.write_bytes(bad.read_bytes()[:-20])
    results = ingest(settings)
    with pytest.raises(LifecycleError, match=r"bad\.json\.gz"):
        raise_for_errors(results)
    assert counts(settings)["events_clickstream"] == 1
    assert query(settings, "select path from raw._manifest") == [
        (good.relative_to(settings.sources_dir).as_posix(),)
    ]
    write_events(settings.sources_dir, "2026-11-20/11", "bad.json.gz", [event(f"x{i}") for i in range(50)])
    raise_for_errors(ingest(settings))
    assert counts(settings)["events_clickstream"] == 51


def test_renamed_field_is_declared_and_new_field_lands_as_column(settings):
    write_events(settings.sources_dir, "2026-11-20/10", "v1.json.gz", [event("e1")])
    renamed = event("e2", device_type="mobile", app_version="5.1", campaign_hint="spring")
    del renamed["device"]
    write_events(settings.sources_dir, "2026-11-20/11", "v2.json.gz", [renamed])
    raise_for_errors(ingest(settings))
    rows = query(
        settings,
        "select event_id, device, device_type, app_version, campaign_hint"
        " from raw.events_clickstream order by 1",
    )
    assert rows == [("e1", "desktop", None, None, None), ("e2", None, "mobile", "5.1", "spring")]
    assert query(settings, "select field, change from raw._schema_changes") == [("campaign_hint", "added")]


def test_retyped_field_fails_events_but_other_sources_load(settings, app_db):
    db = app_db
    add_order(db, 1)
    write_events(
        settings.sources_dir,
        "2026-11-20/10",
        "retyped.json.gz",
        [event(f"e{i}", customer_id=f"cust-{i}") for i in range(5)],
    )
    results = ingest(settings)
    with pytest.raises(LifecycleError, match=r"field 'customer_id' in .*retyped.json.gz"):
        raise_for_errors(results)
    assert counts(settings)["app_orders"] == 1
    assert counts(settings)["events_clickstream"] == 0


def test_removed_required_field_names_field_and_file(settings):
    lines = [event(f"e{i}") for i in range(3)]
    for line in lines:
        del line["anonymous_id"]
    write_events(settings.sources_dir, "2026-11-20/10", "noanon.json.gz", lines)
    with pytest.raises(
        LifecycleError, match=r"'anonymous_id' is missing from every line of .*noanon.json.gz"
    ):
        raise_for_errors(ingest(settings))


def test_ads_map_columns_by_name_and_keep_restatements(settings):
    write_ads(
        settings.sources_dir,
        "2026-11-20",
        [["2026-11-20", "display", "c1", '"Spring; sale"', "1000", "10", "12,50"]],
    )
    reordered = ["spend", "date", "campaign_id", "channel", "campaign_name", "clicks", "impressions"]
    write_ads(
        settings.sources_dir,
        "2026-11-21",
        [
            ["13,75", "2026-11-20", "c1", "display", "Spring", "11", "1100"],
            ["abc", "2026-11-21", "c1", "display", "x", "1", "1"],
        ],
        header=reordered,
    )
    raise_for_errors(ingest(settings))
    rows = query(
        settings, "select date, campaign_name, spend, _source_file from raw.ads_spend order by _source_file"
    )
    assert [(str(r[0]), r[1], str(r[2])) for r in rows] == [
        ("2026-11-20", "Spring; sale", "12.50"),
        ("2026-11-20", "Spring", "13.75"),
    ]
    dialect = "decimal mark ',', no thousands separator"
    assert query(settings, "select line_number, reason from raw._quarantine") == [
        (3, f"spend='abc' is not DECIMAL(18,2) in the partner's dialect ({dialect})")
    ]


def test_full_refresh_reports_a_missing_source_table(settings, app_db):
    db = app_db
    add_order(db, 1)
    ingest(settings)
    with pytest.raises(LifecycleError, match="no such table: customers"):
        raise_for_errors(ingest(settings, full_refresh=True))


def test_one_more_generated_day_adds_only_that_days_changes(tmp_path):
    import datetime as dt
    import sqlite3

    from lifecycle.config import Settings
    from lifecycle.generate import generate

    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=5, scale=0.01, start=dt.date(2026, 1, 1), days=2)
    ingest(settings, as_of=dt.datetime(2026, 1, 3))
    before = counts(settings)
    log = sqlite3.connect(settings.sources_dir / "app.sqlite")
    (last_change,) = log.execute("select max(change_id) from change_log").fetchone()
    generate(settings.sources_dir, seed=5, scale=0.01, start=dt.date(2026, 1, 3), days=1)
    new_changes = dict(
        log.execute(
            "select table_name, count(*) from change_log where change_id > ? group by table_name",
            [last_change],
        ).fetchall()
    )
    ingest(settings, as_of=dt.datetime(2026, 1, 4))
    after = counts(settings)
    for table, added in new_changes.items():
        assert after[f"app_{table}"] - before[f"app_{table}"] == added
    assert after["events_clickstream"] > before["events_clickstream"]
    new_files = query(settings, "select count(*) from raw._manifest where path like '%date=2026-01-03%'")
    assert new_files[0][0] > 0


def test_full_refresh_lands_a_consistent_snapshot_at_the_log_position(tmp_path):
    import datetime as dt
    import sqlite3

    from lifecycle.config import Settings
    from lifecycle.generate import generate

    settings = Settings(data_dir=tmp_path)
    generate(settings.sources_dir, seed=5, scale=0.01, start=dt.date(2026, 1, 1), days=2)
    ingest(settings, as_of=dt.datetime(2026, 1, 3))
    source = sqlite3.connect(settings.sources_dir / "app.sqlite")
    (position,) = source.execute("select max(change_id) from change_log").fetchone()
    (orders,) = source.execute("select count(*) from orders").fetchone()
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 1, 3), full_refresh=True))
    snapshot = query(
        settings,
        "select count(*), min(_change_id), max(_change_id) from raw.app_orders where _op = 'snapshot'",
    )
    assert snapshot == [(orders, position, position)]
    assert query(settings, "select watermark from raw._watermarks where source = 'app'") == [(str(position),)]
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 1, 3)))  # back to CDC: nothing new
    assert query(
        settings, "select count(*) from raw.app_orders where _change_id > ?".replace("?", str(position))
    ) == [(0,)]
