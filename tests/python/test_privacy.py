"""Privacy across a whole world: erasure from the source and from `lifecycle erase`, then retention.

Two people are made recognisable in the shop's database before the first run (a distinctive e-mail,
phone, name and birth date, changed through the application so the change log captures them), and a
landed page view carries one of their e-mail addresses and a phone in its query string. After the first
run their data is in raw, snapshots, marts, publications, exports and the site. Then the shop deletes one
(source path) and an operator erases the other (`lifecycle erase`); after the next run no byte of any file
under the data directory (except the simulated shop itself, `sources/`) and no value of any table of any
DuckDB file holds either person's e-mail, phone, name or birth date, or the hashes of their e-mail or
phone, and the financial marts are unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from lifecycle.cli import main
from lifecycle.config import Settings
from lifecycle.ingest.lake import raw_tables
from lifecycle.pipeline import DemoWorld, ensure_sources, run
from lifecycle.privacy import apply_privacy
from lifecycle.transform import transform

pytestmark = pytest.mark.privacy

WORLD = DemoWorld(seed=11, scale=0.01, days=4)
AS_OF = dt.datetime(2026, 3, 4, 22, 0)
FINANCIAL_MARTS = ("fct_revenue_daily", "fct_orders", "fct_order_items", "fct_marketing_daily")


@dataclass(frozen=True)
class Person:
    first_email: str  # the account's e-mail at the first run; changed before the second
    email: str
    phone: str
    first_name: str
    last_name: str
    birth_date: str

    def needles(self, salt: str) -> dict[str, str]:
        def hashed(value: str) -> str:
            return hashlib.sha256((salt + value.strip().lower()).encode()).hexdigest()

        return {
            "first email": self.first_email,
            "first email hash": hashed(self.first_email),
            "email": self.email,
            "phone": self.phone,
            "first name": self.first_name,
            "last name": self.last_name,
            "birth date": self.birth_date,
            "email hash": hashed(self.email),
            "phone hash": hashed(self.phone),
        }


DELETED = Person(
    "zeldarine.first@example.org",
    "zeldarine.quistorpfeld@example.org",
    "+41 79 555 01 23",
    "Zeldarine",
    "Quistorpfeld",
    "1911-11-11",
)
ERASED = Person(
    "brunoslav.first@example.net",
    "brunoslav.vantwestwoud@example.net",
    "+31 6 5550 9876",
    "Brunoslav",
    "Vantwestwoud",
    "1912-12-12",
)


@dataclass
class World:
    settings: Settings
    deleted_id: int
    erased_id: int
    before: dict[str, list[tuple[object, ...]]]
    landing_url_before: list[tuple[object, ...]]


def published(settings: Settings, tables: tuple[str, ...]) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}


def _make_recognisable(settings: Settings) -> tuple[int, int]:
    """Give two customers with orders the people's details, through the application (CDC captures it)."""
    with sqlite3.connect(settings.sources_dir / "app.sqlite", isolation_level=None) as db:
        ids = [r[0] for r in db.execute("select distinct customer_id from orders order by 1 limit 2")]
        for customer_id, person in zip(ids, (DELETED, ERASED), strict=True):
            db.execute(
                "update customers set email = ?, phone = ?, first_name = ?, last_name = ?, birth_date = ?,"
                " updated_at = '2026-03-04 20:00:00' where customer_id = ?",
                [
                    person.first_email,
                    person.phone,
                    person.first_name,
                    person.last_name,
                    person.birth_date,
                    customer_id,
                ],
            )
    return ids[0], ids[1]


def _change_emails(settings: Settings, ids: tuple[int, int]) -> None:
    """A second version of each account, so the snapshot holds two (with the hashes of both e-mails)."""
    with sqlite3.connect(settings.sources_dir / "app.sqlite", isolation_level=None) as db:
        for customer_id, person in zip(ids, (DELETED, ERASED), strict=True):
            db.execute(
                "update customers set email = ?, updated_at = '2026-03-04 21:00:00' where customer_id = ?",
                [person.email, customer_id],
            )


def _land_page_view_with_contact_data(settings: Settings) -> None:
    """A landed page view whose URL carries an e-mail address and a phone in its query string."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            """
            insert into raw.events_clickstream by name
            select * replace (
                'privacy-test-event' as event_id,
                'privacy-test-visitor' as anonymous_id,
                null as customer_id,
                'page_view' as event_type,
                'https://shop.example/search?q=shoes&email=' || $email
                    || '&tel=' || replace($phone, ' ', '%20') as page_url,
                now()::timestamp as _ingested_at
            )
            from raw.events_clickstream
            where event_type = 'page_view'
            order by event_time desc
            limit 1
            """,
            {"email": DELETED.email, "phone": DELETED.phone},
        )


def _quarantine_lines_about(settings: Settings, customer_id: int) -> None:
    """Two rejected lines about the deleted person kept whole in the quarantine: an event from the future
    (valid JSON, with the account's id and e-mail) and a line that is not JSON at all (with the phone).
    Filed under the largest landed events file, when it landed: a share of it the raw gates accept."""
    line = f'{{"event_id": "privacy-test-late", "customer_id": {customer_id}, "email": "{DELETED.email}"}}'
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            """
            with largest as (
                select _batch_id, _source_file, min(_ingested_at) as landed_at
                from raw.events_clickstream
                group by all
                order by count(*) desc, _source_file
                limit 1
            )
            insert into raw._quarantine
            select 'events', _batch_id, _source_file, 1000000 + line.n, line.text, line.reason, landed_at
            from largest, (values (1, $json, 'future: event_time after the as-of'), (2, $text, 'not JSON'))
                as line(n, text, reason)
            """,
            {"json": line, "text": f"call {DELETED.phone} back"},
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    # purge_days=0: the warehouse file is rewritten by the run that erased, so the byte scan below holds
    # after that run (the default period is tested in test_privacy_rules.py).
    settings = Settings(data_dir=tmp_path_factory.mktemp("privacy"), purge_days=0)
    quiet = lambda _: None  # noqa: E731
    ensure_sources(settings, WORLD, AS_OF, quiet)
    deleted_id, erased_id = _make_recognisable(settings)
    run(settings, as_of=AS_OF, world=WORLD, progress=quiet)
    _change_emails(settings, (deleted_id, erased_id))
    _land_page_view_with_contact_data(settings)
    run(settings, as_of=AS_OF, world=WORLD, progress=quiet, docs=True)
    _quarantine_lines_about(settings, deleted_id)
    before = published(settings, FINANCIAL_MARTS)
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        landing = con.execute(
            "select landing_page_url from fct_sessions where anonymous_id = 'privacy-test-visitor'"
        ).fetchall()
    # The shop deletes one person; an operator erases the other.
    with sqlite3.connect(settings.sources_dir / "app.sqlite", isolation_level=None) as db:
        db.execute("delete from customers where customer_id = ?", [deleted_id])
    import os

    os.environ["LIFECYCLE_DATA_DIR"] = str(settings.data_dir)
    try:
        assert main(["erase", "--customer-id", str(erased_id), "--reason", "ticket PRIV-1"]) == 0
    finally:
        del os.environ["LIFECYCLE_DATA_DIR"]
    run(settings, as_of=AS_OF, world=WORLD, progress=quiet)
    return World(settings, deleted_id, erased_id, before, landing)


def test_the_people_were_everywhere_before_the_erasure(world: World):
    # The test is only worth something if the values were there to be found: the snapshot keeps every
    # version of the account (its hashes), the previous publication is still on disk.
    publications = [p for p in (world.settings.publications_dir).iterdir() if not p.name.startswith(".")]
    assert len([p for p in publications if p.name != "current"]) == 2
    with duckdb.connect(str(world.settings.warehouse_path), read_only=True) as con:
        versions = con.execute(
            "select count(*) from snapshots.snap_customers where customer_id in (?, ?)",
            [world.deleted_id, world.erased_id],
        ).fetchone()
        requests = con.execute(
            "select customer_id, source, erased_at is not null from raw._erasure_requests"
        ).fetchall()
        log = con.execute("select count(*) from raw._privacy_log where action = 'erasure'").fetchone()
    assert versions and versions[0] >= 4  # two versions each, redacted, not deleted
    assert (world.deleted_id, "source", True) in requests
    assert (world.erased_id, "operator", True) in requests
    assert log and log[0] > 0  # the in-place redaction of raw is logged


def test_quarantined_lines_about_a_person_lose_their_data_and_stay(world: World):
    with duckdb.connect(str(world.settings.warehouse_path), read_only=True) as con:
        lines = con.execute(
            "select raw_text from raw._quarantine where line_number > 1000000 order by line_number"
        ).fetchall()
    assert [line for (line,) in lines] == [
        f'{{"event_id":"privacy-test-late","customer_id":{world.deleted_id}}}',
        "call [erased] back",
    ]


def test_urls_with_contact_data_reach_the_marts_redacted(world: World):
    assert world.landing_url_before, "the injected page view did not make a session"
    (url,) = world.landing_url_before[0]
    assert "[redacted]" in url and "@" not in url and "5550" not in url, url
    assert "search?q=shoes" in url
    reports = "".join(p.read_text() for p in (world.settings.state_dir / "reports").glob("*.md"))
    assert "| privacy |" in reports and "1 free-text value(s) with contact data" in reports


def test_no_file_under_the_data_directory_holds_the_people(world: World):
    salt = (world.settings.state_dir / "pii_salt").read_text().strip()
    needles = {
        f"{who} {kind}": value
        for who, person in (("deleted", DELETED), ("erased", ERASED))
        for kind, value in person.needles(salt).items()
    }
    found = []
    scanned = 0
    for path in world.settings.data_dir.rglob("*"):
        relative = path.relative_to(world.settings.data_dir)
        # sources/ is the simulated shop itself (its own database and change log), not a copy the
        # platform keeps; erasing there is the shop's job.
        if relative.parts[0] == "sources" or path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        found += [f"{relative}: {name}" for name, value in needles.items() if value.encode() in data]
        if path.suffix == ".duckdb":
            found += [f"{relative}: {hit}" for hit in _values_in_tables(path, needles)]
    assert scanned > 100
    assert not found, found


def _values_in_tables(path: Path, needles: dict[str, str]) -> list[str]:
    """Every table and column of a DuckDB file whose values (as text) contain one of the needles."""
    hits = []
    with duckdb.connect(":memory:") as con:
        con.execute(f"attach '{path}' as db (read_only)")
        # Tables only: views are queries over them (and name the file's own catalog, not 'db').
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns()"
            " join duckdb_tables() using (database_name, schema_name, table_name)"
            " where database_name = 'db'"
        ).fetchall()
        for schema, table, column in columns:
            for name, value in needles.items():
                row = con.execute(
                    f'select count(*) from db."{schema}"."{table}"'
                    f' where contains(lower(cast("{column}" as varchar)), ?)',
                    [value.lower()],
                ).fetchone()
                if row and row[0]:
                    hits.append(f"{schema}.{table}.{column}: {name}")
    return hits


def test_financial_marts_are_unchanged(world: World):
    assert published(world.settings, FINANCIAL_MARTS) == world.before
    with duckdb.connect(str(world.settings.analytics_path), read_only=True) as con:
        rows = con.execute(
            "select customer_id, is_erased, email_hash, phone_hash from dim_customers"
            " where customer_id in (?, ?)",
            [world.deleted_id, world.erased_id],
        ).fetchall()
        orders = con.execute(
            "select count(*) from fct_orders where customer_id in (?, ?)", [world.deleted_id, world.erased_id]
        ).fetchone()
    assert sorted(rows) == sorted([(world.deleted_id, True, None, None), (world.erased_id, True, None, None)])
    assert orders and orders[0] >= 2  # the key stays on their orders


def test_retention_deletes_old_raw_rows_shrinks_the_file_and_keeps_the_marts(world: World):
    settings = Settings(data_dir=world.settings.data_dir, retention_days=1, purge_days=0)
    marts = (
        "fct_revenue_daily",
        "fct_orders",
        "fct_order_items",
        "fct_sessions",
        "dim_customers",
        "fct_marketing_daily",
    )
    before = published(settings, marts)
    size = settings.warehouse_path.stat().st_size
    report = apply_privacy(settings, as_of=AS_OF + dt.timedelta(days=3))
    assert report.expired.get("raw.events_clickstream", 0) > 0
    assert report.expired.get("raw.app_customers", 0) > 0  # superseded account versions
    assert "raw.app_orders" not in report.expired  # stg_app__orders reads every version
    # The rewrite's first size is the file after the stage's deletes, which can hold more blocks than
    # before them (no vacuum runs); the rewritten file is smaller than either.
    assert report.sizes is not None and report.sizes[1] < min(report.sizes[0], size)
    assert settings.warehouse_path.stat().st_size == report.sizes[1]
    # The lake follows: per table and batch, its files hold as many rows as raw still has.
    assert report.lake_expired.get("events_clickstream", 0) > 0
    assert report.lake_expired.get("app_customers", 0) > 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        raw_rows = raw_batch_rows(con)
    assert lake_batch_rows(settings, sorted(raw_rows)) == raw_rows
    assert settings.warehouse_path.stat().st_size < size
    transform(settings, as_of=AS_OF)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        after = {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in marts}
    assert after == before


def raw_batch_rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for table in raw_tables(con):
        rows = con.execute(f"select _batch_id, count(*) from raw.{table} group by _batch_id").fetchall()
        counts[table] = {str(batch): int(n) for batch, n in rows}
    return counts


def lake_batch_rows(settings: Settings, tables: list[str]) -> dict[str, dict[str, int]]:
    """Rows per batch file of each raw table's lake folder, as a reader's glob sees them."""
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        folder = settings.lake_dir / "raw" / table
        counts[table] = {}
        if not any(folder.glob("*.parquet")):
            continue
        rows = duckdb.execute(
            f"select filename, count(*) from read_parquet('{folder}/*.parquet', filename = true,"
            " union_by_name = true) group by filename"
        ).fetchall()
        counts[table] = {Path(name).stem: int(n) for name, n in rows}
    return counts
