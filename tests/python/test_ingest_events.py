"""Clickstream landing, line by line: numbering, quarantine reasons, typing, drift and batching."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from conftest import add_order, event, write_events
from lifecycle.errors import LifecycleError
from lifecycle.ingest import ingest, raise_for_errors


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def write_raw(sources: Path, hour: str, name: str, data: bytes) -> Path:
    """A gzipped events file with exactly these bytes (for blank lines, CRLF, invalid UTF-8)."""
    day, hh = hour.split("/")
    folder = sources / "events" / f"date={day}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def line(event_id: str, **fields: object) -> bytes:
    return json.dumps(event(event_id, **{"customer_id": 7, **fields})).encode()


def test_lines_keep_their_physical_numbers_text_and_reasons(settings):
    no_anon = event("e5", customer_id=7)
    del no_anon["anonymous_id"]
    data = b"\n".join(
        [
            line("e1"),  # 1
            b"",  # 2: blank lines are skipped but still counted
            b"  \t ",  # 3
            b"{not json",  # 4
            line("e2") + b"\r",  # 5: CRLF; JSON allows the trailing whitespace
            line("e3").replace(b'"e3"', b'"e3\xff"'),  # 6: invalid UTF-8 is replaced, not fatal
            b"[1, 2]",  # 7: valid JSON, but not an object
            line("e4", customer_id="abc"),  # 8
            json.dumps(no_anon).encode(),  # 9: key missing
            line("e6", anonymous_id=None),  # 10: key there, value null
            b"{broken\r",  # 11
            line("e7"),  # 12: no newline at the end of the file
        ]
    )
    write_raw(settings.sources_dir, "2026-11-20/10", "a.json.gz", data)
    raise_for_errors(ingest(settings))
    assert query(settings, "select _line_number, event_id from raw.events_clickstream order by 1") == [
        (1, "e1"),
        (5, "e2"),
        (6, "e3\ufffd"),
        (12, "e7"),
    ]
    quarantine = query(
        settings, "select line_number, raw_text, reason from raw._quarantine order by line_number"
    )
    assert [(n, reason) for n, _, reason in quarantine] == [
        (4, "malformed JSON"),
        (7, "malformed JSON"),
        (8, "field customer_id does not parse as its declared type"),
        (9, "missing required field anonymous_id"),
        (10, "missing required field anonymous_id"),
        (11, "malformed JSON"),
    ]
    texts = {n: text for n, text, _ in quarantine}
    assert texts[4] == "{not json"
    assert texts[8] == line("e4", customer_id="abc").decode()
    assert texts[11] == "{broken\r"
    assert query(
        settings,
        "select rows_read, rows_loaded, rows_quarantined from raw._ingest_log where source = 'events'",
    ) == [(10, 4, 6)]


def test_text_fields_take_any_json_value_and_the_first_of_repeated_keys_wins(settings):
    repeated = (
        '{"event_id": "e2", "event_id": "e2-again", "event_type": "page_view", '
        '"event_time": "2026-11-20T10:00:00Z", "anonymous_id": "a", "customer_id": "x", "customer_id": 7}'
    )
    lines = [
        event("e1", platform=12, device={"a": [1, True]}, user_agent=False, context=[1, "x"]),
        repeated,
        *(event(f"ok{i}", customer_id=i) for i in range(3)),
    ]
    write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", lines)
    raise_for_errors(ingest(settings))
    rows = query(
        settings,
        "select event_id, platform, device, user_agent, context from raw.events_clickstream"
        " where event_id = 'e1'",
    )
    assert rows == [("e1", "12", '{"a":[1,true]}', "false", '[1,"x"]')]
    # The repeated customer_id's first value ("x") does not parse: the line is quarantined, and no
    # column is added for the repeated keys.
    assert query(settings, "select line_number, reason from raw._quarantine") == [
        (2, "field customer_id does not parse as its declared type")
    ]
    assert query(settings, "select count(*) from raw._schema_changes") == [(0,)]


def test_required_key_present_but_null_everywhere_is_quarantined_not_a_removed_field(settings):
    write_events(
        settings.sources_dir,
        "2026-11-20/10",
        "nullanon.json.gz",
        [event(f"e{i}", anonymous_id=None) for i in range(3)],
    )
    raise_for_errors(ingest(settings))
    assert query(settings, "select reason, count(*) from raw._quarantine group by all") == [
        ("missing required field anonymous_id", 3)
    ]


def test_removed_required_field_is_reported_even_beside_clean_files(settings):
    write_events(settings.sources_dir, "2026-11-20/09", "clean.json.gz", [event("c1")])
    lines = [event(f"e{i}") for i in range(3)]
    for item in lines:
        del item["event_type"]
    write_events(settings.sources_dir, "2026-11-20/10", "notype.json.gz", [*lines, "{oops"])
    with pytest.raises(
        LifecycleError, match=r"required field 'event_type' is missing from every line of .*notype.json.gz"
    ):
        raise_for_errors(ingest(settings))
    assert query(settings, "select count(*) from raw.events_clickstream") == [(0,)]


def test_retyped_field_names_a_value_and_a_minority_of_bad_values_is_only_quarantined(settings):
    few = [event(f"e{i}", customer_id=i) for i in range(5)] + [event("bad", customer_id="cust")]
    write_events(settings.sources_dir, "2026-11-20/09", "few.json.gz", few)
    raise_for_errors(ingest(settings))
    assert query(settings, "select line_number, reason from raw._quarantine") == [
        (6, "field customer_id does not parse as its declared type")
    ]
    retyped = [event(f"r{i}", customer_id="cust") for i in range(3)] + [event("r3", customer_id=3)]
    write_events(settings.sources_dir, "2026-11-20/10", "retyped.json.gz", retyped)
    with pytest.raises(LifecycleError) as failure:
        raise_for_errors(ingest(settings))
    assert (
        "events: field 'customer_id' in events/date=2026-11-20/hour=10/retyped.json.gz no longer parses"
        ' as BIGINT (3 values, e.g. "cust"): a retyped field is a breaking schema change'
    ) in str(failure.value)


def test_new_field_is_added_once_with_the_first_file_it_appeared_in(settings):
    write_events(settings.sources_dir, "2026-11-20/09", "a.json.gz", [event("a1")])
    # The field also counts when its only line is quarantined for another reason.
    write_events(
        settings.sources_dir,
        "2026-11-20/10",
        "b.json.gz",
        [event("b1"), event("b2", anonymous_id=None, coupon="C1")],
    )
    write_events(settings.sources_dir, "2026-11-20/11", "c.json.gz", [event("c1", coupon="C2")])
    raise_for_errors(ingest(settings))
    assert query(settings, "select field, detected_in from raw._schema_changes") == [
        ("coupon", "events/date=2026-11-20/hour=10/b.json.gz")
    ]
    assert query(settings, "select event_id, coupon from raw.events_clickstream order by 1") == [
        ("a1", None),
        ("b1", None),
        ("c1", "C2"),
    ]


def test_each_chunk_is_one_batch_with_its_files_in_the_manifest(settings, monkeypatch):
    paths = [
        write_events(
            settings.sources_dir, f"2026-11-20/{h:02d}", "f.json.gz", [event(f"{h}a"), event(f"{h}b")]
        )
        for h in range(3)
    ]
    monkeypatch.setenv("LIFECYCLE_INGEST_CHUNK_ROWS", "2")
    raise_for_errors(ingest(settings))
    log = query(settings, "select batch_id, rows_loaded from raw._ingest_log where source = 'events'")
    assert [loaded for _, loaded in log] == [2, 2, 2]
    manifest = query(settings, "select path, size, sha256, batch_id from raw._manifest order by path")
    assert manifest == [
        (
            path.relative_to(settings.sources_dir).as_posix(),
            path.stat().st_size,
            hashlib.sha256(path.read_bytes()).hexdigest(),
            batch_id,
        )
        for path, (batch_id, _) in zip(paths, log, strict=True)
    ]


def test_one_batch_records_all_its_files_and_a_redelivery_replaces_the_entry(settings):
    first = write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", [event("a1")])
    write_events(settings.sources_dir, "2026-11-20/11", "b.json.gz", [event("b1")])
    raise_for_errors(ingest(settings))
    assert query(settings, "select count(*), count(distinct batch_id) from raw._manifest") == [(2, 1)]
    redelivered = write_events(settings.sources_dir, "2026-11-20/10", "a.json.gz", [event("a1"), event("a2")])
    raise_for_errors(ingest(settings))
    assert query(
        settings, f"select size from raw._manifest where path = '{first.relative_to(settings.sources_dir)}'"
    ) == [(redelivered.stat().st_size,)]
    assert query(settings, "select event_id from raw.events_clickstream order by all") == [
        ("a1",),
        ("a1",),
        ("a2",),
        ("b1",),
    ]


def test_app_text_columns_take_any_json_value(settings, app_db):
    add_order(app_db, 1)
    when = "2026-11-20 11:00:00"
    for order_id, status, address in [(2, 5, 1), (3, '"paid"', '"seven"')]:
        row = (
            f'{{"order_id": {order_id}, "customer_id": 5, "status": {status}, "placed_at": "{when}",'
            f' "updated_at": "{when}", "shipping_address_id": {address}}}'
        )
        app_db.execute(
            "insert into change_log (table_name, op, row_key, changed_at, row_json)"
            " values ('orders', 'insert', ?, ?, ?)",
            [str(order_id), when, row],
        )
    app_db.commit()
    raise_for_errors(ingest(settings))
    assert query(settings, "select order_id, status from raw.app_orders order by 1") == [
        (1, "placed"),
        (2, "5"),
    ]
    assert query(settings, "select line_number, reason from raw._quarantine") == [
        (3, "field shipping_address_id does not parse as its declared type")
    ]


def test_landing_times_only_grow_even_if_the_clock_steps_back(settings):
    # Incremental staging selects rows landed after the newest it holds: a batch stamped earlier than the
    # previous one (a clock stepped back) would be skipped, so landing times must keep growing.
    write_raw(settings.sources_dir, "2026-11-20/10", "a.json.gz", line("e1"))
    raise_for_errors(ingest(settings))
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update raw.events_clickstream set _ingested_at = timestamp '2999-01-01'")
    write_raw(settings.sources_dir, "2026-11-20/11", "b.json.gz", line("e2"))
    raise_for_errors(ingest(settings))
    assert query(
        settings,
        "select event_id, _ingested_at > timestamp '2999-01-01' from raw.events_clickstream order by 1",
    ) == [
        ("e1", False),
        ("e2", True),
    ]


def test_typed_values_land_as_their_json_text_says_and_the_first_repeated_key_wins(settings):
    # A typed field is parsed from its own JSON text: the integer limits land exactly, any other number
    # spelling or a value beyond BIGINT is quarantined, and of a repeated key the first value decides.
    head = '{"event_id": "%s", "event_type": "t", "event_time": "2026-11-20T10:00:00Z", "anonymous_id": "a"'
    good = {
        "max": ("9223372036854775807", 9223372036854775807),
        "min": ("-9223372036854775808", -9223372036854775808),
        "minus_zero": ("-0", 0),
        "first_wins": ('7, "customer_id": "x"', 7),
    }
    bad = ["9223372036854775808", "18446744073709551615", "1E2", "12.0", '"7"', '"x", "customer_id": 7']
    lines = [(head % name + f', "customer_id": {text}}}').encode() for name, (text, _) in good.items()]
    lines += [(head % f"bad{i}" + f', "customer_id": {text}}}').encode() for i, text in enumerate(bad)]
    lines += [line(f"ok{i}", customer_id=i) for i in range(len(bad))]  # a minority of bad values
    write_raw(settings.sources_dir, "2026-11-20/10", "a.json.gz", b"\n".join(lines))
    raise_for_errors(ingest(settings))
    assert query(settings, "select event_id, customer_id from raw.events_clickstream order by _line_number")[
        : len(good)
    ] == [(name, value) for name, (_, value) in good.items()]
    assert query(settings, "select line_number, reason from raw._quarantine order by 1") == [
        (len(good) + i, "field customer_id does not parse as its declared type")
        for i in range(1, len(bad) + 1)
    ]


def test_only_objects_land_whatever_whitespace_leads_them(settings):
    data = b"\n".join(
        [
            b" \t" + line("e1"),  # 1: an object after whitespace
            b'"text"',  # 2: valid JSON, not an object
            b"42",  # 3
            b"null",  # 4
            b"\r" + line("e2") + b"\r",  # 5
            line("e3"),  # 6
        ]
    )
    write_raw(settings.sources_dir, "2026-11-20/10", "a.json.gz", data)
    raise_for_errors(ingest(settings))
    assert query(settings, "select _line_number, event_id from raw.events_clickstream order by 1") == [
        (1, "e1"),
        (5, "e2"),
        (6, "e3"),
    ]
    assert query(settings, "select line_number, reason from raw._quarantine order by 1") == [
        (n, "malformed JSON") for n in (2, 3, 4)
    ]


def test_a_bad_line_and_an_undeclared_key_in_a_mostly_clean_file_keep_their_line_numbers(settings):
    # Clean lines land in one pass; the others are judged one by one, both with their physical numbers.
    write_raw(settings.sources_dir, "2026-11-20/09", "first.json.gz", line("first", coupon="C0"))
    raise_for_errors(ingest(settings))  # coupon is a column from now on
    lines = [line(f"e{i}") for i in range(1, 300)]
    lines[99] = line("coupon", coupon="C1")  # line 100
    lines[199] = line("bad", event_time="yesterday")  # line 201, after a blank line
    data = b"\r\n".join(lines[:150]) + b"\r\n\r\n" + b"\n".join(lines[150:]) + b"\n"  # line 151 is blank
    write_raw(settings.sources_dir, "2026-11-20/10", "a.json.gz", data)
    raise_for_errors(ingest(settings))
    assert query(settings, "select line_number, reason from raw._quarantine") == [
        (201, "field event_time does not parse as its declared type")
    ]
    rows = query(
        settings,
        "select _line_number, event_id, coupon from raw.events_clickstream"
        " where _source_file like '%a.json.gz' order by 1",
    )
    assert [row for row in rows if row[2] is not None] == [(100, "coupon", "C1")]
    assert [row[0] for row in rows] == [*range(1, 151), *range(152, 201), *range(202, 301)]
    assert [row[1] for row in rows][149:151] == ["e150", "e151"]
    assert query(settings, "select count(*) from raw._schema_changes") == [(1,)]


@pytest.mark.parametrize("key", ["Event_ID", ""])
def test_an_undeclared_key_that_cannot_be_a_column_fails_the_source_by_name(settings, key: str):
    # DuckDB's column names are case-insensitive and never empty.
    write_events(settings.sources_dir, "2026-11-20/09", "a.json.gz", [event("a1")])
    bad = write_raw(settings.sources_dir, "2026-11-20/10", "b.json.gz", line("b1", **{key: "x"}))
    with pytest.raises(LifecycleError, match=f"undeclared key {key!r} in .*{bad.name}"):
        raise_for_errors(ingest(settings))
    assert query(settings, "select event_id from raw.events_clickstream") == []
