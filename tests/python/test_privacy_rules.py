"""The privacy rules on tiny hand-made tables: redaction, the database rewrite, retention, classification
and the shapes of contact data (the erasure of a whole world: test_privacy.py, make test-privacy)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from conftest import aged_world
from lifecycle import storage
from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.errors import LifecycleError
from lifecycle.privacy.classification import (
    EMAIL_REGEX,
    PHONE_REGEX,
    classification_violations,
    contact_data_in,
    contact_data_sql,
    contact_data_violations,
    personal_columns,
    tagged_columns,
)
from lifecycle.privacy.redaction import ERASED, Erasure, erased_rows_sql, redact_bytes, redact_catalog
from lifecycle.privacy.retention import expire
from lifecycle.storage import ensure_raw_bookkeeping, rewrite_database

PERSONAL = frozenset({"email", "phone", "first_name", "last_name", "birth_date", "email_hash"})


def test_the_person_rows_lose_their_personal_columns_and_keep_their_key():
    with duckdb.connect() as con:
        con.execute(
            """
            create table main.customers as select * from (values
                (1, 'ann@example.org', 'Ann', date '1970-01-01', 'FR'),
                (2, 'bob@example.org', 'Bob', date '1980-02-02', 'DE')
            ) as t(customer_id, email, first_name, birth_date, country)
            """
        )
        changed = redact_catalog(con, "memory", Erasure((1,), (), PERSONAL))
        rows = con.execute("select * from main.customers order by 1").fetchall()
    assert changed == {"main.customers": 1}
    assert rows == [(1, None, None, None, "FR"), (2, "bob@example.org", "Bob", dt.date(1980, 2, 2), "DE")]


def test_identifiers_are_replaced_in_any_text_and_raw_lines_lose_personal_fields():
    line = '{"customer_id": 1, "email": "ann@example.org", "first_name": "Ann", "status": "x"}'
    other = '{"customer_id": 2, "email": "bob@example.org", "first_name": "Bob"}'
    with duckdb.connect() as con:
        con.execute("create table main.quarantine (raw_text varchar, reason varchar)")
        con.execute(
            "insert into main.quarantine values (?, 'bad'), (?, 'bad'), ('not json ann@example.org', 'x')",
            [line, other],
        )
        con.execute("create table main.pages (url varchar)")
        con.execute("insert into main.pages values ('/s?q=ann%40example.org'), ('/s?q=shoes')")
        redact_catalog(con, "memory", Erasure((1,), ("ann@example.org",), PERSONAL))
        quarantine = [
            r[0]
            for r in con.execute("select raw_text from main.quarantine order by reason, raw_text").fetchall()
        ]
        pages = [r[0] for r in con.execute("select url from main.pages order by 1").fetchall()]
    assert quarantine[0] == other  # someone else's line is untouched
    assert '"email"' not in quarantine[1] and "Ann" not in quarantine[1] and '"status":"x"' in quarantine[1]
    assert quarantine[2] == f"not json {ERASED}"
    assert pages == [f"/s?q={ERASED}", "/s?q=shoes"]
    assert redact_bytes(b"<td>ann@example.org</td>", ("ann@example.org",)) == f"<td>{ERASED}</td>".encode()


def test_json_columns_are_searched_like_any_text():
    # A source's JSON object (the clickstream's context) can carry an identifier; the value stays JSON.
    with duckdb.connect() as con:
        con.execute("create table main.events (event_id varchar, context json)")
        con.execute(
            "insert into main.events values"
            """ ('e1', '{"ip": "10.0.0.1", "contact": "ann@example.org"}'), ('e2', '{"ip": "10.0.0.2"}')"""
        )
        erasure = Erasure((1,), ("ann@example.org",), PERSONAL)
        found = erased_rows_sql({"event_id": "VARCHAR", "context": "JSON"}, erasure)
        assert found is not None
        assert con.execute(f"select event_id from main.events where {found}").fetchall() == [("e1",)]
        changed = redact_catalog(con, "memory", erasure)
        rows = con.execute(
            "select event_id, context, json_valid(context) from main.events order by 1"
        ).fetchall()
    assert changed == {"main.events": 1}
    assert rows == [
        ("e1", f'{{"ip": "10.0.0.1", "contact": "{ERASED}"}}', True),
        ("e2", '{"ip": "10.0.0.2"}', True),
    ]


def test_many_erasures_at_once_replace_every_identifier():
    # Hundreds of people erased in one run give over a thousand needles (each identifier in several forms):
    # more nested replace() calls than DuckDB's expression depth allows in one statement.
    emails = [f"person{i:04d}@example.org" for i in range(600)]
    with duckdb.connect() as con:
        con.execute("create table main.pages (url varchar)")
        con.executemany(
            "insert into main.pages values (?)", [[f"/s?q={e.replace('@', '%40')}"] for e in emails]
        )
        con.execute("insert into main.pages values ('/s?q=shoes')")
        changed = redact_catalog(con, "memory", Erasure(tuple(range(600)), tuple(emails), PERSONAL))
        pages = [r[0] for r in con.execute("select url from main.pages").fetchall()]
    assert changed == {"main.pages": 600}
    assert sorted(pages) == sorted([f"/s?q={ERASED}"] * 600 + ["/s?q=shoes"])


@pytest.mark.parametrize("search", ["contains", "regular expression"])
def test_identifiers_are_matched_as_written_not_as_patterns(search: str, monkeypatch: pytest.MonkeyPatch):
    # Many needles are looked for with a regular expression: "." or "+" in one must not match other
    # characters, and parentheses must not group. A few needles, with contains(): the same answers.
    from lifecycle.privacy import redaction

    if search == "regular expression":
        monkeypatch.setattr(redaction, "CONTAINS_LIMIT", 0)
        monkeypatch.setattr(redaction, "COPY_CONTAINS_LIMIT", 0)
    phone, email = "+1 (555) 010-2000", "a.b+c@example.org"
    with duckdb.connect() as con:
        con.execute("create table main.notes (note varchar)")
        con.executemany(
            "insert into main.notes values (?)",
            [[f"call {phone}"], ["call 1 555 010-2000"], [f"mail {email}"], ["mail aXbbc@example.org"]],
        )
        changed = redact_catalog(con, "memory", Erasure((1,), (phone, email), PERSONAL))
        notes = sorted(r[0] for r in con.execute("select note from main.notes").fetchall())
    assert changed == {"main.notes": 2}
    assert notes == sorted(
        [f"call {ERASED}", "call 1 555 010-2000", f"mail {ERASED}", "mail aXbbc@example.org"]
    )


@pytest.mark.parametrize("search", ["contains", "regular expression"])
def test_each_kind_of_identifier_is_found_behind_its_guard(search: str, monkeypatch: pytest.MonkeyPatch):
    # The search looks for a needle only in values holding its guard character (GUARD_CHARACTERS) or, for
    # a needle with none (a salted hash, bare digits), in values at least as long: every kind is still
    # found inside other text, and a value with the guard but not the needle is left alone.
    from lifecycle.privacy import redaction

    if search == "regular expression":
        monkeypatch.setattr(redaction, "CONTAINS_LIMIT", 0)
        monkeypatch.setattr(redaction, "COPY_CONTAINS_LIMIT", 0)
    digest = hashlib.sha256(b"ann").hexdigest()
    identifiers = (digest, "0612345678", "ann.lee@example.org", "Ann Lee")
    values = {
        f"key={digest};": f"key={ERASED};",
        "tel:0612345678#": f"tel:{ERASED}#",
        "q=ann.lee%40example.org&x": f"q={ERASED}&x",
        "Dear Ann+Lee,": f"Dear {ERASED},",
        "Dear Ann Smith, mail bob@example.org": "Dear Ann Smith, mail bob@example.org",
        digest[:40]: digest[:40],
    }
    with duckdb.connect() as con:
        con.execute("create table main.notes (note varchar)")
        con.executemany("insert into main.notes values (?)", [[v] for v in values])
        changed = redact_catalog(con, "memory", Erasure((1,), identifiers, PERSONAL))
        notes = sorted(r[0] for r in con.execute("select note from main.notes").fetchall())
    assert changed == {"main.notes": 4}
    assert notes == sorted(values.values())


def test_a_lake_file_without_the_person_is_left_untouched(tmp_path: Path):
    from lifecycle.privacy.stores import STORES, redact_store

    lake = tmp_path / "lake" / "raw" / "events_clickstream"
    lake.mkdir(parents=True)
    email = "erase-me@example.org"
    with duckdb.connect() as con:
        con.execute(f"copy (select '/s?q=erase-me%40example.org' as page_url) to '{lake / 'b1.parquet'}'")
        con.execute(f"copy (select '/s?q=shoes' as page_url) to '{lake / 'b2.parquet'}'")
    before = (lake / "b2.parquet").stat()
    store = next(s for s in STORES if s.name == "Parquet lake")
    changed = redact_store(Settings(data_dir=tmp_path), store, Erasure((7,), (email,), PERSONAL))
    after = (lake / "b2.parquet").stat()
    assert changed == 1
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with duckdb.connect() as con:
        assert con.execute(f"select page_url from '{lake / 'b1.parquet'}'").fetchall() == [
            (f"/s?q={ERASED}",)
        ]


def _lake_world(tmp_path: Path, email: str) -> Settings:
    """A warehouse whose raw tables hold customer 7 (an e-mail in a change of batch app-1, and in a URL
    of batch ev-1 with no customer on the row), exported to the lake."""
    from lifecycle.ingest.lake import export_new_batches

    settings = Settings(data_dir=tmp_path, purge_days=0)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema raw")
        # The ingestion log as ingestion leaves it (the batches' as-of, which retention reads).
        con.execute("create table raw._ingest_log (batch_id varchar, as_of timestamp, started_at timestamp)")
        ensure_raw_bookkeeping(con)
        con.execute(
            "create table raw.app_customers (_change_id bigint, _op varchar, customer_id bigint,"
            " email varchar, phone varchar, first_name varchar, last_name varchar, _batch_id varchar,"
            " _ingested_at timestamp)"
        )
        con.execute(
            "insert into raw.app_customers values (1, 'insert', 7, ?, null, 'Ada', 'Erasme', 'app-1', null),"
            " (2, 'insert', 8, 'other@example.org', null, 'Bo', 'Kept', 'app-1', null),"
            " (3, 'update', 8, 'other@example.org', null, 'Bo', 'Kept', 'app-2', null)",
            [email],
        )
        con.execute("create table raw.events (customer_id bigint, page_url varchar, _batch_id varchar)")
        con.execute(
            "insert into raw.events values (null, '/s?q=' || replace(?, '@', '%40'), 'ev-1'),"
            " (7, '/s?q=shoes', 'ev-2')",
            [email],
        )
        export_new_batches(con, settings.lake_dir)
    return settings


def test_raw_names_the_lake_batches_to_write_again(tmp_path: Path):
    """Raw names the batches holding the people (a personal value in their rows, an identifier in any
    text); those are redacted in raw and written again to the lake, every other file is left as it was."""
    from lifecycle.ingest.lake import rewrite_batches
    from lifecycle.privacy.stores import raw_batches_to_redact

    email = "erase-me@example.org"
    settings = _lake_world(tmp_path, email)
    lake = settings.lake_dir / "raw"
    before = {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")}
    erasure = Erasure((7,), (email,), frozenset({"email", "first_name", "last_name"}))
    with duckdb.connect(str(settings.warehouse_path)) as con:
        batches = raw_batches_to_redact(con, erasure)
        assert batches == {"app_customers": ["app-1"], "events": ["ev-1"]}
        redact_catalog(con, settings.warehouse_path.stem, erasure, only_schema="raw")
        assert rewrite_batches(con, settings.lake_dir, batches) == 2
        assert raw_batches_to_redact(con, erasure) == {}
    written = {lake / "app_customers" / "app-1.parquet", lake / "events" / "ev-1.parquet"}
    assert {p for p, mtime in before.items() if p.stat().st_mtime_ns != mtime} == written
    assert not [p for p in lake.rglob("*.parquet") if b"erase-me" in p.read_bytes()]
    with duckdb.connect() as con:
        rows = con.execute(
            f"select customer_id, email, first_name, _batch_id from '{lake}/app_customers/*.parquet'"
            " order by all"
        ).fetchall()
    assert rows == [
        (7, None, None, "app-1"),
        (8, "other@example.org", "Bo", "app-1"),
        (8, "other@example.org", "Bo", "app-2"),
    ]


def test_a_run_stopped_before_the_lake_followed_raw_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Once raw is redacted the batches can no longer be found there: the stage records them first, so the
    next run writes the lake's files even though the person is no longer in raw."""
    from lifecycle.privacy import apply_privacy, stage
    from lifecycle.privacy.requests import record_request

    email = "erase-me@example.org"
    settings = _lake_world(tmp_path, email)
    record_request(settings, 7, "ticket PRIV-9", now=dt.datetime(2026, 3, 1))

    def stop(*_: object) -> int:
        raise RuntimeError("killed")

    monkeypatch.setattr(stage, "rewrite_batches", stop)
    with pytest.raises(RuntimeError, match="killed"):
        apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    lake = settings.lake_dir / "raw"
    assert (lake / "app_customers" / "app-1.parquet").read_bytes().count(email.encode())
    monkeypatch.undo()
    apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    assert not [p for p in lake.rglob("*.parquet") if b"erase-me" in p.read_bytes()]
    assert not (settings.state_dir / "privacy_batches.json").exists()


def _publications(settings: Settings, email: str) -> dict[str, Path]:
    """A current publication, the one before it and an unfinished one, each with the e-mail in a table."""
    root = settings.publications_dir
    folders = {"previous": root / "p-1", "current": root / "p-2", "unfinished": root / ".new-p-3"}
    for folder in folders.values():
        folder.mkdir(parents=True)
        with duckdb.connect(str(folder / "analytics.duckdb")) as con:
            con.execute("create table customers as select 7 as customer_id, ? as email", [email])
    (root / "current").symlink_to("p-2")
    return folders


def test_an_erasure_removes_the_publications_no_longer_current_and_redacts_the_current_one(tmp_path: Path):
    from lifecycle.privacy import apply_privacy
    from lifecycle.privacy.requests import record_request

    email = "erase-me@example.org"
    settings = _lake_world(tmp_path, email)
    folders = _publications(settings, email)
    apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))  # no request: every publication stays
    assert all(folder.is_dir() for folder in folders.values())
    record_request(settings, 7, "ticket PRIV-10", now=dt.datetime(2026, 3, 1))
    report = apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    assert report.removed_publications == [".new-p-3", "p-1"]
    assert "2 superseded publication(s) removed" in report.summary()
    assert sorted(p.name for p in settings.publications_dir.iterdir()) == ["current", "p-2"]
    with duckdb.connect(str(folders["current"] / "analytics.duckdb"), read_only=True) as con:
        assert con.execute("select customer_id, email from customers").fetchall() == [(7, None)]
    assert report.redacted["published databases"] == 1


def test_rewrite_shrinks_the_file_and_keeps_tables_and_views(tmp_path: Path):
    path = tmp_path / "db.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema s")
        con.execute("create table s.t as select range as id, md5(range::varchar) as v from range(300000)")
        con.execute("create view s.v as select count(*) as n from s.t")
        con.execute("delete from s.t where id >= 1000")
        con.execute("checkpoint")
    size = path.stat().st_size  # a checkpoint marks the blocks free; the file keeps its size
    before, after = rewrite_database(path)
    assert before == size and after < size / 4
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select n from s.v").fetchall() == [(1000,)]


class _WritesSpy:
    """Records the files each DuckDB connection of ``storage.connect`` attaches for writing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.written: list[str] = []
        real = storage.connect

        def connect(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
            con = real(*args, **kwargs)
            spy = self

            class Recording:
                def execute(self, sql: str, *parameters: Any) -> duckdb.DuckDBPyConnection:
                    if sql.startswith("attach") and "read_only" not in sql:
                        spy.written.append(sql.split("'")[1])
                    return con.execute(sql, *parameters)

                def __enter__(self) -> Recording:
                    return self

                def __exit__(self, *exc: object) -> None:
                    con.close()

            return Recording()  # type: ignore[return-value]

        monkeypatch.setattr(storage, "connect", connect)


def _published_world(root: Path, erased_emails: list[str]) -> Path:
    """A publication (linked as ``current``, as publish does) whose database holds the erased person's
    personal columns, a raw JSON line about them and their name in another schema's free text, beside
    tables, a view and a macro the erasure does not concern."""
    folder = root / "publications" / "p1"
    folder.mkdir(parents=True)
    (root / "publications" / "current").symlink_to("p1")
    path = folder / "analytics.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table main.dim_customers as select range as customer_id,"
            " 'keep-' || range || '@example.org' as email, 'Keep' || range as first_name, 'FR' as country"
            " from range(2, 500)"
        )
        con.execute(
            "insert into main.dim_customers values (1, 'ann.erasable@example.org', 'Annabelle', 'DE')"
        )
        con.execute(
            "create table main.quarantine as select"
            """ '{"customer_id": 1, "street": "7 Rue Unique-Erasable", "status": "x"}' as raw_text,"""
            " 'bad' as reason"
        )
        con.execute("create schema support")
        con.execute(
            "create table support.tickets as select range as ticket_id, 'all fine ' || range as note"
            " from range(2000)"
        )
        con.execute("insert into support.tickets values (9999, 'Annabelle Erasable called twice')")
        if erased_emails:
            con.executemany(
                "insert into support.tickets values (?, ?)",
                [[i, f"/s?q={e}"] for i, e in enumerate(erased_emails, 10000)],
            )
        con.execute(
            "create table main.fct_orders as select range as order_id, range % 500 as customer_id,"
            " range * 1.5 as amount from range(20000)"
        )
        con.execute("create view main.customer_count as select count(*) as n from main.dim_customers")
        con.execute("create macro main.twice(x) as x * 2")
    path.chmod(0o640)
    return path


def _contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select schema_name, table_name from duckdb_tables() order by 1, 2").fetchall()
        return {f"{s}.{t}": con.execute(f"select * from {s}.{t} order by all").fetchall() for s, t in tables}


def _redacted_in_place(
    path: Path, copy: Path, erasure: Erasure
) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
    """The rules applied by UPDATEs to a copy of the database at ``path``: rows changed, and the tables."""
    shutil.copyfile(path, copy)
    with duckdb.connect(str(copy)) as con:
        changed = sum(redact_catalog(con, copy.stem, erasure).values())
    return changed, _contents(copy)


def test_a_published_database_is_redacted_in_one_copy_and_keeps_no_removed_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from lifecycle.privacy.stores import STORES, redact_store

    path = _published_world(tmp_path, [])
    removed = [b"ann.erasable@example.org", b"Annabelle", b"Unique-Erasable"]
    assert all(value in path.read_bytes() for value in removed)  # the check below can fail
    before = _contents(path)
    erasure = Erasure((1, 4242), ("ann.erasable@example.org", "Annabelle Erasable"), PERSONAL | {"street"})
    in_place = _redacted_in_place(path, tmp_path / "in_place.duckdb", erasure)
    inode = path.stat().st_ino
    fresh = path.with_name(".analytics.duckdb.fresh")
    fresh.write_bytes(b"the half-written file of a killed run")
    fresh.with_name(fresh.name + ".wal").write_bytes(b"x")
    spy = _WritesSpy(monkeypatch)
    changed = redact_store(Settings(data_dir=tmp_path), STORES[0], erasure)
    # One new file written, once, though the publication is also reached through publications/current.
    assert [Path(p).resolve() for p in spy.written] == [fresh]
    assert sorted(p.name for p in path.parent.iterdir()) == ["analytics.duckdb"]
    assert path.stat().st_ino != inode and stat.S_IMODE(path.stat().st_mode) == 0o640
    data = path.read_bytes()
    assert [value for value in removed if value in data] == []
    after = _contents(path)
    assert (changed, after) == in_place  # the same rules, counted the same way, as in place
    assert changed == 3
    assert after["main.dim_customers"][0] == (1, None, None, "DE")
    assert after["main.quarantine"] == [('{"customer_id":1,"status":"x"}', "bad")]
    assert (9999, f"{ERASED} called twice") in after["support.tickets"]
    assert after["main.fct_orders"] == before["main.fct_orders"]
    assert after["main.dim_customers"][1:] == before["main.dim_customers"][1:]
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select n, main.twice(n) from main.customer_count").fetchall() == [(499, 998)]


def test_a_published_database_gets_more_identifiers_replaced_than_one_chain_can_hold(tmp_path: Path):
    from lifecycle.privacy.redaction import REPLACE_BATCH, _needles
    from lifecycle.privacy.stores import STORES, redact_store

    # Each e-mail is a needle as written and URL-encoded: the chunks of needles are nested subqueries.
    emails = [f"person{i:04d}@example.org" for i in range(300)]
    path = _published_world(tmp_path, [e if i % 2 else e.replace("@", "%40") for i, e in enumerate(emails)])
    erasure = Erasure(tuple(range(300)), tuple(emails), PERSONAL)
    assert len(_needles(erasure.identifiers)) > 2 * REPLACE_BATCH
    in_place = _redacted_in_place(path, tmp_path / "in_place.duckdb", erasure)
    changed = redact_store(Settings(data_dir=tmp_path), STORES[0], erasure)
    after = _contents(path)
    assert (changed, after) == in_place
    # The 300 URLs, and customers 1 to 299 lose their personal columns.
    assert changed == 300 + 299
    assert [n for _, n in after["support.tickets"] if n.startswith("/s?q=")] == [f"/s?q={ERASED}"] * 300


def _retention_world(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema raw")
    con.execute(
        "create table raw._ingest_log as select * from (values ('old', timestamp '2025-01-01 23:59:59'),"
        " ('new', timestamp '2026-03-01 23:59:59')) as t(batch_id, as_of)"
    )
    con.execute("alter table raw._ingest_log add column started_at timestamp")
    con.execute(
        """
        create table raw.app_orders as select * from (values
            (1, 10, 'insert', 'placed', 'old'), (1, 11, 'update', 'paid', 'old'),
            (2, 12, 'insert', 'placed', 'old'), (1, 20, 'update', 'shipped', 'new')
        ) as t(order_id, _change_id, _op, status, _batch_id)
        """
    )
    con.execute("alter table raw.app_orders add column _ingested_at timestamp")
    con.execute(
        "create table raw.events_clickstream as select * from (values ('e1', 'old'), ('e2', 'new'))"
        " as t(event_id, _batch_id)"
    )
    con.execute(
        """
        create table raw.ads_spend as select * from (values
            (date '2025-01-01', 'c', 1.0, 'a.csv', 'old'), (date '2025-01-01', 'c', 2.0, 'b.csv', 'old'),
            (date '2025-01-02', 'c', 3.0, 'b.csv', 'old')
        ) as t(date, campaign_id, spend, _source_file, _batch_id)
        """
    )
    con.execute("alter table raw.ads_spend add column _ingested_at timestamp")
    con.execute(
        "create table raw._quarantine as"
        " select * from (values ('old', 'x'), ('new', 'y')) as t(batch_id, raw_text)"
    )


def test_retention_keeps_what_the_models_still_read():
    with duckdb.connect() as con:
        _retention_world(con)
        removed = expire(con, dt.datetime(2026, 1, 1))
        orders = con.execute("select order_id, status from raw.app_orders order by 1").fetchall()
        events = con.execute("select event_id from raw.events_clickstream").fetchall()
        spend = con.execute("select date, spend from raw.ads_spend order by 1").fetchall()
        quarantine = con.execute("select raw_text from raw._quarantine").fetchall()
    # Superseded versions go; each order's current row stays, however old (order 2 never changed again).
    assert orders == [(1, "shipped"), (2, "placed")]
    assert events == [("e2",)]
    assert spend == [(dt.date(2025, 1, 1), 2.0), (dt.date(2025, 1, 2), 3.0)]  # the latest drop per day
    assert quarantine == [("y",)]
    assert removed == {
        "raw.app_orders": 2,
        "raw.events_clickstream": 1,
        "raw.ads_spend": 1,
        "raw._quarantine": 1,
    }


def test_tables_whose_history_a_model_reads_keep_every_version():
    from lifecycle.privacy.retention import every_version_tables

    assert every_version_tables(PROJECT_DIR) == {"app_orders"}
    with duckdb.connect() as con:
        _retention_world(con)
        removed = expire(con, dt.datetime(2026, 1, 1), keep_every_version={"app_orders"})
        (orders,) = con.execute("select count(*) from raw.app_orders").fetchone()  # type: ignore[misc]
    assert orders == 4 and "raw.app_orders" not in removed


def test_stored_failures_of_tests_the_project_no_longer_has_are_dropped(tmp_path: Path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        '{"nodes": {"test.x": {"resource_type": "test", "relation_name": "\\"w\\".\\"audit\\".\\"kept\\""}}}'
    )
    with duckdb.connect() as con:
        con.execute(
            "create schema raw;"
            " create table raw._ingest_log (batch_id varchar, as_of timestamp, started_at timestamp)"
        )
        con.execute("create schema audit")
        for table in ("kept", "renamed_long_ago", "quality_results"):
            con.execute(f"create table audit.{table} (a int)")
        removed = expire(con, dt.datetime(2026, 1, 1), manifest)
        left = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'audit'"
            ).fetchall()
        }
    assert removed == {"audit.renamed_long_ago": 1}
    assert left == {"kept", "quality_results"}


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("https://shop.example/search?q=ann.lee%40example.co.uk", True),
        ("/search?email=ann.lee@example.com&page=2", True),
        ("/s?tel=%2B44%207700%20900123", True),
        ("call +33 6 12 34 56 78 today", True),
        ("order 12345678 shipped", False),  # eight digits: an id, not a phone
        ("Mozilla/5.0 (Linux; Android 14) Chrome/120.0.6099.109 Mobile Safari/537.36", False),
        ("0d1314fa-353a-4d37-9569-416784645964", False),  # a UUID's all-digit group is not a phone
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", False),
        ("/p/12345", False),
        ("Summer Sale 2026 – Shoes & Bags", False),
    ],
)
def test_contact_data_shapes(text: str, contact: bool):
    assert contact_data_in(text) is contact
    # The SQL twin (RE2 in DuckDB) judges the same text the same way.
    row = duckdb.execute(f"select {contact_data_sql('t')} from (select ?::varchar as t)", [text]).fetchone()
    assert row == (contact,)


def test_contact_data_violations_name_each_column_of_tables_and_files(tmp_path: Path):
    with duckdb.connect() as con:
        con.execute(
            "create table marts as select * from (values"
            " (1, '/p/12345', 'fine', 'plain'), (2, '/s?q=ann@example.org', null, 'call +33 6 12 34 56 78'),"
            " (3, '/s?e=bo%40example.com', 'ok', 'plain')) as t(id, page_url, note, \"odd \"\"name\")"
        )
        parquet = tmp_path / "export.parquet"
        con.execute(f"copy (select note, page_url from marts where id <> 3) to '{parquet}' (format parquet)")
        clean = tmp_path / "clean.parquet"
        con.execute(f"copy (select id, note from marts) to '{clean}' (format parquet)")
        problems = contact_data_violations(
            con, ["marts", f"read_parquet('{parquet}')", f"read_parquet('{clean}')"]
        )
    assert problems == [
        "marts.page_url (2 rows)",
        'marts.odd "name (1 rows)',
        f"read_parquet('{parquet}').page_url (1 rows)",
    ]


def test_the_staging_macro_and_python_share_the_shapes():
    variables = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert (variables["contact_email_regex"], variables["contact_phone_regex"]) == (EMAIL_REGEX, PHONE_REGEX)
    macro = (PROJECT_DIR / "macros" / "redact_contact_data.sql").read_text()
    assert "var('contact_email_regex')" in macro or 'var("contact_email_regex")' in macro


def test_every_free_text_source_column_is_redacted_in_its_staging_model():
    free_text = [t for t in tagged_columns(PROJECT_DIR) if t.kind == "free_text"]
    assert {t.column for t in free_text} >= {"page_url", "user_agent", "utm_campaign", "campaign_name"}
    models = {p.stem: p.read_text() for p in PROJECT_DIR.glob("models/staging/**/stg_*.sql")}
    for tag in free_text:
        source = tag.relation.removeprefix("source:").split(".")[0]
        readers = [sql for name, sql in models.items() if name.startswith(f"stg_{source}__")]
        assert readers, tag
        assert any(re.search(rf"redact_contact_data\('{tag.column}'\)", sql) for sql in readers), tag


def test_personal_columns_come_from_the_yaml_tags():
    assert {
        "email",
        "phone",
        "first_name",
        "last_name",
        "birth_date",
        "street",
        "email_hash",
    } <= personal_columns(PROJECT_DIR)


def test_an_unknown_pii_tag_is_refused(tmp_path: Path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "_x__models.yml").write_text(
        "version: 2\nmodels:\n  - name: m\n    columns:\n"
        "      - name: c\n        config:\n          meta: {pii: yes}\n"
    )
    with pytest.raises(LifecycleError, match=r"_x__models.yml: column c of model:m has meta pii: True"):
        tagged_columns(tmp_path)


def _classified_world(con: duckdb.DuckDBPyConnection, salt: str, mart_sql: str) -> None:
    con.execute("create schema raw; create schema marts")
    con.execute("create table raw.app_customers as select 1 as customer_id, 'Ann@Example.org' as email")
    con.execute(f"create table marts.dim_customers as {mart_sql}")


@pytest.mark.parametrize(
    ("mart_sql", "problem"),
    [
        (
            "select 1 as customer_id, 'ann@example.org' as contact",
            "contact: 1 value(s) of a raw column tagged pii: direct",
        ),
        (
            "select 1 as customer_id, sha256('salt-0123456789abcdef' || 'ann@example.org') as contact_key",
            "contact_key: holds personal data (1 hashed contact(s)",
        ),
        ("select 1 as customer_id, sha256('salt-0123456789abcdef' || 'ann@example.org') as email_hash", None),
    ],
)
def test_classification_check_fails_on_untagged_or_unhashed_personal_data(mart_sql: str, problem: str | None):
    salt = "salt-0123456789abcdef"
    with duckdb.connect() as con:
        _classified_world(con, salt, mart_sql)
        problems = classification_violations(con, PROJECT_DIR, salt)
    if problem is None:
        assert problems == []  # dim_customers.email_hash is tagged pii: hashed
    else:
        assert any(problem in p for p in problems), problems


def test_the_salted_hash_matches_the_macro():
    # classification_violations recomputes hash_pii: concat(salt, lower(trim(value))), SHA-256 hex.
    with duckdb.connect() as con:
        (value,) = con.execute("select sha256(concat('s', lower(trim(' Ann@Example.org '))))").fetchone()  # type: ignore[misc]
    assert value == hashlib.sha256(b"sann@example.org").hexdigest()


def test_settings_read_the_retention_period(monkeypatch: pytest.MonkeyPatch):
    from lifecycle.config import load_settings

    monkeypatch.setenv("LIFECYCLE_RETENTION_DAYS", "30")
    assert load_settings().retention_days == 30
    monkeypatch.setenv("LIFECYCLE_RETENTION_DAYS", "soon")
    with pytest.raises(ValueError, match="LIFECYCLE_RETENTION_DAYS"):
        load_settings()
    assert Settings(data_dir=Path("x")).retention_days == 400
    monkeypatch.setenv("LIFECYCLE_RETENTION_DAYS", "30")
    monkeypatch.setenv("LIFECYCLE_PURGE_DAYS", "0")
    assert load_settings().purge_days == 0
    monkeypatch.setenv("LIFECYCLE_PURGE_DAYS", "-1")
    with pytest.raises(ValueError, match="LIFECYCLE_PURGE_DAYS"):
        load_settings()
    assert Settings(data_dir=Path("x")).purge_days == 7


def test_erase_records_a_request_once_and_without_personal_data(settings: Settings):
    from lifecycle.privacy.requests import record_request

    now = dt.datetime(2026, 3, 1, 12)
    assert record_request(settings, 42, "ticket PRIV-7", now=now) is True
    assert record_request(settings, 42, "again", now=now) is False
    with pytest.raises(LifecycleError, match="--reason is empty"):
        record_request(settings, 43, "  ", now=now)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("select * from raw._erasure_requests").fetchall()
    assert rows == [(42, "operator", "ticket PRIV-7", now, None)]


def test_every_store_of_the_list_is_redacted(tmp_path: Path):
    """The lake, an exported Parquet and CSV, a published database and the site, each by its own rule."""
    from lifecycle.privacy.stores import STORES, redact_store

    settings = Settings(data_dir=tmp_path)
    email = "erase-me@example.org"
    lake = tmp_path / "lake" / "raw" / "app_customers"
    lake.mkdir(parents=True)
    exports = tmp_path / "publications" / "p1" / "exports"
    exports.mkdir(parents=True)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(f"<td>{email}</td>")
    with duckdb.connect(str(exports.parent / "analytics.duckdb")) as con:
        con.execute(f"create table dim_customers as select 7 as customer_id, sha256('{email}') as email_hash")
        con.execute(f"copy (select 7 as customer_id, '{email}' as email) to '{lake / 'b1.parquet'}'")
        con.execute(
            f"copy (select 8 as customer_id, 'other@example.org' as email) to '{lake / 'b2.parquet'}'"
        )
        con.execute(f"copy (select 7 as customer_id, '{email}' as note) to '{exports / 'crm.csv'}'")
    erasure = Erasure((7,), (email,), frozenset({"email", "email_hash"}))
    changed = {store.name: redact_store(settings, store, erasure) for store in STORES}
    assert changed["Parquet lake"] == 1 and changed["published databases"] == 1
    assert changed["CSV exports (CRM)"] == 1 and changed["docs site"] == 1
    for path in [*tmp_path.rglob("*.parquet"), *tmp_path.rglob("*.csv"), *tmp_path.rglob("*.duckdb")]:
        if path.name != "b2.parquet":
            assert email.encode() not in path.read_bytes(), path
    with duckdb.connect() as con:
        assert con.execute(f"select email from '{lake / 'b1.parquet'}'").fetchall() == [(None,)]
        assert con.execute(f"select email from '{lake / 'b2.parquet'}'").fetchall() == [
            ("other@example.org",)
        ]
    assert "[erased]" in (tmp_path / "site" / "index.html").read_text()


def test_the_text_rule_keeps_a_record_mode_and_redacts_the_leftover_of_a_killed_write(tmp_path: Path):
    """A write killed before its rename (``storage.write_atomic``) leaves a hidden temporary file beside
    the record, holding what the record held: it is a file of ``state/`` like any other, so it is redacted."""
    from lifecycle.privacy.stores import STORES, redact_store

    settings = Settings(data_dir=tmp_path)
    email = "erase-me@example.org"
    state = tmp_path / "state"
    state.mkdir()
    record = state / "verdicts.json"
    record.write_text(json.dumps({"validate": {"failed": [f"email {email} is not unique"]}}))
    record.chmod(0o640)
    leftover = state / ".verdicts.json.0123abcd.tmp"
    leftover.write_text(record.read_text())
    (records,) = [store for store in STORES if store.name == "pipeline records"]
    changed = redact_store(settings, records, Erasure((7,), (email,), frozenset({"email"})))
    assert changed == 2
    for path in (record, leftover):
        assert email not in path.read_text() and "[erased]" in path.read_text(), path
    assert stat.S_IMODE(record.stat().st_mode) == 0o640
    assert sorted(p.name for p in state.iterdir()) == [leftover.name, record.name]


def test_the_warehouse_file_is_rewritten_once_the_oldest_removal_is_a_purge_period_old(tmp_path: Path):
    from lifecycle.privacy import apply_privacy

    settings, con = aged_world(tmp_path)
    con.close()
    settings = Settings(data_dir=settings.data_dir, retention_days=30, purge_days=7)
    as_of = dt.datetime(2026, 3, 2)

    def inode() -> int:
        return settings.warehouse_path.stat().st_ino

    first = inode()
    report = apply_privacy(settings, as_of=as_of)
    # Retention removed rows (no query sees them any more); the file is not rewritten yet.
    assert report.expired and report.sizes is None and inode() == first
    assert report.purge_due == as_of + dt.timedelta(days=7)
    assert "rewritten by 2026-03-09" in report.summary()
    # A later run that removes nothing keeps the date of the oldest removal not yet cleared.
    report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=6))
    assert report.sizes is None and inode() == first and report.purge_due == as_of + dt.timedelta(days=7)
    report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=7))
    assert report.sizes is not None and report.sizes[1] < report.sizes[0] and inode() != first
    assert report.purge_due is None
    # Cleared: the next run has nothing to rewrite.
    rewritten = inode()
    report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=8))
    assert report.sizes is None and report.purge_due is None and inode() == rewritten


def test_the_warehouse_file_is_compacted_every_compact_days_without_removals(tmp_path: Path):
    # dbt builds without DuckDB's vacuum, so rows a model deleted stay in the file until it is rewritten.
    from lifecycle.privacy import apply_privacy

    settings, con = aged_world(tmp_path)
    con.close()
    settings = Settings(data_dir=settings.data_dir, retention_days=4000, purge_days=7, compact_days=3)
    as_of = dt.datetime(2026, 3, 2)

    def inode() -> int:
        return settings.warehouse_path.stat().st_ino

    first = inode()
    # Nothing removed: the first run starts the period, the next within it leaves the file alone.
    for day in (0, 2):
        report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=day))
        assert report.sizes is None and report.purge_due is None and inode() == first
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("set max_vacuum_tasks = 0")
        con.execute(
            "create table main.sessions as select range as id, md5(range::varchar) as v from range(300000)"
        )
        con.execute("checkpoint")
        con.execute("delete from main.sessions where id % 10 != 0")
    report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=3))
    assert report.sizes is not None and report.sizes[1] < report.sizes[0] and inode() != first
    assert "compaction" in report.summary()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*), sum(id) from main.sessions").fetchone() == (
            30000,
            sum(range(0, 300000, 10)),
        )
    compacted = inode()
    report = apply_privacy(settings, as_of=as_of + dt.timedelta(days=4))
    assert report.sizes is None and inode() == compacted


def test_the_build_runs_without_vacuum_in_the_warehouse_targets():
    # What the compaction above stands in for: the warehouse's targets leave deleted rows to it.
    outputs = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text())["lifecycle"]["outputs"]
    assert {name: outputs[name]["settings"].get("max_vacuum_tasks") for name in ("dev", "ci")} == {
        "dev": 0,
        "ci": 0,
    }


def test_with_no_purge_period_the_run_that_removes_rewrites_the_file(tmp_path: Path):
    from lifecycle.privacy import apply_privacy

    settings, con = aged_world(tmp_path)
    con.close()
    settings = Settings(data_dir=settings.data_dir, retention_days=30, purge_days=0)
    report = apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    assert report.expired and report.sizes is not None and report.sizes[1] < report.sizes[0]


def test_an_unreadable_purge_record_rewrites_the_file_at_once(tmp_path: Path):
    """The record says since when removed values may sit in free blocks; unreadable, that is unknown, so
    the warehouse is rewritten now rather than never."""
    from lifecycle.privacy import apply_privacy

    settings, con = aged_world(tmp_path)
    con.close()
    settings = Settings(data_dir=settings.data_dir, retention_days=30, purge_days=7)
    record = settings.state_dir / "privacy_unpurged.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text('{"since": "not a date"')
    first = settings.warehouse_path.stat().st_ino
    report = apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    assert report.sizes is not None and settings.warehouse_path.stat().st_ino != first
    assert report.purge_due is None and not record.exists()


def test_a_removal_at_an_earlier_as_of_brings_the_rewrite_forward(tmp_path: Path):
    from lifecycle.privacy import apply_privacy

    settings, con = aged_world(tmp_path)
    con.close()
    settings = Settings(data_dir=settings.data_dir, retention_days=30, purge_days=7)
    later = dt.datetime(2026, 3, 20)
    record = settings.state_dir / "privacy_unpurged.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"since": later.isoformat()}))
    # A replay of an earlier day that removes rows (retention): due a purge period after that day.
    earlier = dt.datetime(2026, 3, 2)
    report = apply_privacy(settings, as_of=earlier)
    assert report.expired and report.sizes is None
    assert report.purge_due == earlier + dt.timedelta(days=7)
    assert json.loads(record.read_text()) == {"since": earlier.isoformat()}
    # A later run that removes nothing does not move it back.
    report = apply_privacy(settings, as_of=later)
    assert report.sizes is not None and report.purge_due is None and not record.exists()


@pytest.mark.parametrize("text", ['{"app_customers": ["app-1"', '["app-1"]'])
def test_an_unreadable_batch_record_stops_the_stage_naming_the_file(tmp_path: Path, text: str):
    """The record lists lake files still holding erased values: unreadable, the stage stops (naming the
    file and what to do) rather than forget them."""
    from lifecycle.privacy import apply_privacy

    settings = _lake_world(tmp_path, "erase-me@example.org")
    record = settings.state_dir / "privacy_batches.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(text)
    with pytest.raises(LifecycleError, match=r"privacy_batches\.json: unreadable .*lake"):
        apply_privacy(settings, as_of=dt.datetime(2026, 3, 2))
    assert record.read_text() == text


def test_raw_is_searched_for_the_salted_hashes_too():
    """The salted hashes leave the platform (the CRM export's contact keys), so a source can send one
    back: raw is searched for them like every other copy."""
    from lifecycle.privacy.stores import raw_batches_to_redact

    digest = hashlib.sha256(b"salt" + b"ann@example.org").hexdigest()
    other = hashlib.sha256(b"someone else").hexdigest()
    erasure = Erasure((1,), ("ann@example.org", digest), frozenset({"email"}))
    with duckdb.connect() as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.events as select * from (values ('b1', 'https://x.example/?e=ann@example.org'),"
            " ('b2', ?), ('b3', ?), ('b4', ?), ('b5', 'nothing')) as t(_batch_id, url)",
            [f"https://x.example/?ck={digest}&u=1", other, digest.upper()],
        )
        assert raw_batches_to_redact(con, erasure) == {"events": ["b1", "b2"]}


def test_raws_records_lose_the_persons_text_and_keep_the_pipelines_state():
    """The quarantine's lines, load errors and request reasons are redacted; watermarks, batch ids and
    manifest paths are the pipeline's state and stay as they are, even where they hold the same digits."""
    from lifecycle.privacy.stage import redact_records

    phone = "5550123456"
    erasure = Erasure((7,), ("ann@example.org", phone), frozenset({"email"}))
    with duckdb.connect() as con:
        con.execute("attach ':memory:' as warehouse")
        con.execute("use warehouse")
        ensure_raw_bookkeeping(con)
        con.execute(
            "insert into raw._ingest_log (source, batch_id, watermark_after, status, error)"
            " values ('app', 'app-1', ?, 'failed', ?)",
            [f"1{phone}", f"line 3: bad phone {phone}"],
        )
        con.execute(
            "insert into raw._manifest (source, path, size) values ('events', ?, 10)", [f"x/{phone}.gz"]
        )
        con.execute(
            "insert into raw._quarantine (source, batch_id, line_number, raw_text, reason)"
            " values ('events', 'events-1', 3, ?, ?)",
            ['{"customer_id": 7, "email": "ann@example.org"}', "future event of ann@example.org"],
        )
        changed = redact_records(con, erasure)
        log = con.execute("select watermark_after, error from raw._ingest_log").fetchall()
        paths = con.execute("select path from raw._manifest").fetchall()
        quarantine = con.execute("select raw_text, reason from raw._quarantine").fetchall()
    assert log == [(f"1{phone}", f"line 3: bad phone {ERASED}")]
    assert paths == [(f"x/{phone}.gz",)]
    assert quarantine == [('{"customer_id":7}', f"future event of {ERASED}")]
    assert set(changed) == {"raw._ingest_log", "raw._quarantine"}
