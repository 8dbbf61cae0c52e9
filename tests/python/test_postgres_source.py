"""The shop database on PostgreSQL, ingested from a logical replication slot.

The unit tests of the stream's parsing run everywhere. The ``postgres`` tests start a local cluster
(``pg_cluster``, as ``make postgres`` does) in a temporary folder and are run by ``make test-postgres``;
they skip, saying why, only where PostgreSQL 15 or wal2json is not installed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.docs import health
from lifecycle.errors import LifecycleError
from lifecycle.generate import generate, pg_cluster
from lifecycle.ingest import ingest, raise_for_errors
from lifecycle.ingest.postgres import (
    SlotHealth,
    Transaction,
    change_frame,
    change_id,
    lsn_int,
    lsn_text,
    made_by,
    parse_stream,
    record_health,
)
from lifecycle.ingest.schemas import APP_TABLES
from lifecycle.observability.alerts import read_outbox
from lifecycle.observability.replication import watch_slot
from lifecycle.pipeline import DemoWorld, run

SLOT = "lifecycle_app"
LINEAGE = ("_batch_id", "_ingested_at", "_source_file", "_change_id")

# --------------------------------------------------------------------------------------------------
# the stream, without a server


def _row(lsn: str, **record: object) -> tuple[str, str]:
    return lsn, json.dumps(record)


STREAM = [
    _row("0/10", action="B", timestamp="2026-12-01 08:00:00+00"),
    _row("0/18", action="M", transactional=True, prefix="lifecycle.sim_clock", content="2026-03-01 10:00:00"),
    _row("0/20", action="I", schema="public", table="orders", columns=[{"name": "order_id", "value": 7}]),
    _row("0/28", action="D", schema="public", table="orders", identity=[{"name": "order_id", "value": 7}]),
    _row("0/30", action="C", timestamp="2026-12-01 08:00:00+00"),
    _row("0/30", action="B", timestamp="2026-12-01 08:00:01+00"),
    _row("0/38", action="M", transactional=True, prefix="lifecycle.sim_clock", content="2026-03-02 09:00:00"),
    _row("0/40", action="U", schema="public", table="orders", columns=[{"name": "order_id", "value": 8}]),
    _row("0/48", action="C", timestamp="2026-12-01 08:00:01+00"),
    _row("0/48", action="B", timestamp="2026-12-01 08:00:02+00"),
    _row("0/50", action="C", timestamp="2026-12-01 08:00:02+00"),
]


def test_stream_parses_into_transactions_in_commit_order():
    transactions = parse_stream(STREAM)
    assert [t.commit_lsn for t in transactions] == [0x30, 0x48, 0x50]
    assert transactions[0].stamp == "2026-03-01 10:00:00"
    assert [c[:3] for c in transactions[0].changes] == [("orders", "insert", "7"), ("orders", "delete", "7")]
    assert transactions[2].changes == []
    assert transactions[2].stamp == "2026-12-01 08:00:02+00"  # no clock message: the commit time


def test_change_ids_are_in_commit_order_and_stable():
    frame = change_frame(parse_stream(STREAM))
    assert list(frame["change_id"]) == [change_id(0x30, 0), change_id(0x30, 1), change_id(0x48, 0)]
    assert frame["change_id"].is_monotonic_increasing
    assert list(frame["changed_at"]) == ["2026-03-01 10:00:00"] * 2 + ["2026-03-02 09:00:00"]
    assert change_frame(parse_stream(STREAM)).equals(frame)
    assert lsn_int(lsn_text(0x1_0000_00AB)) == 0x1_0000_00AB


def test_as_of_lands_the_transactions_made_by_then_and_empty_ones_after_them():
    transactions = parse_stream(STREAM)
    assert made_by(transactions, None) == 3
    assert made_by(transactions, dt.datetime(2026, 3, 1, 12)) == 1
    assert made_by(transactions, dt.datetime(2026, 3, 2, 12)) == 3  # the empty one comes along
    assert made_by(transactions, dt.datetime(2026, 2, 1)) == 0
    assert made_by([Transaction(1, "2026-03-01 10:00:00")], dt.datetime(2026, 2, 2)) == 1  # holds nothing


def test_truncate_is_refused_with_the_way_out():
    stream = [_row("0/10", action="B"), _row("0/20", action="T", schema="public", table="orders")]
    with pytest.raises(LifecycleError, match=r"public\.orders was truncated.*--full-refresh"):
        parse_stream(stream)


def test_slot_lag_is_kept_for_the_health_page_and_retained_wal_over_the_limit_warns(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        behind = SlotHealth("lifecycle_app", True, False, "0/5000000", 3 * 2**20, 3 * 2**20)
        assert record_health(con, behind, limit=2**30) is None
        stalled = SlotHealth("lifecycle_app", True, False, "0/5000000", 1536 * 2**20, 1536 * 2**20)
        warning = record_health(con, stalled, limit=2**30)
        assert warning is not None and "retains 1,536 MiB of WAL (limit 1,024 MiB" in warning
        state = health.read_health(con, dt.datetime(2026, 3, 2, 12))
    html = health.render(state)
    assert "Replication slot" in html and "over the limit" in html and "1,536.0 MiB" in html
    assert "confirmed at" in html and "read at" in html


# --------------------------------------------------------------------------------------------------
# a real cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def cluster() -> Iterator[pg_cluster.Cluster]:
    bin_dir = pg_cluster.server_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (make postgres-deps installs postgresql-15)")
    if not any(Path(bin_dir).parent.glob("lib/wal2json.so")):
        pytest.skip(
            f"wal2json not installed beside {bin_dir} (make postgres-deps installs postgresql-15-wal2json)"
        )
    # /tmp itself, not pytest's tmp_path: the server's OS user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="lifecycle-pg-", dir="/tmp"))
    root.chmod(0o755)
    found = pg_cluster.Cluster(root / "cluster", _free_port())
    pg_cluster.start(found)
    yield found
    pg_cluster.stop(found)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(cluster: pg_cluster.Cluster) -> str:
    return pg_cluster.create_database(cluster, f"t_{uuid.uuid4().hex[:10]}")


def _sql(url: str, statement: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _raw(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every raw app table's rows without lineage and change ids (they differ between backends)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {
            table: con.execute(
                f"select * exclude ({', '.join(LINEAGE)}) from raw.app_{table} order by all"
            ).fetchall()
            for table in APP_TABLES
        }


def _duplicates(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return sum(
            con.execute(
                f"select count(*) - count(distinct (_change_id, _op, {next(iter(columns))}))"
                f" from raw.app_{table}"
            ).fetchone()[0]  # type: ignore[index]
            for table, columns in APP_TABLES.items()
        )


def _world(root: Path, name: str, url: str | None = None) -> Settings:
    # slots are named per server: one per test database
    slot = f"slot_{url.rsplit('/', 1)[1]}" if url else SLOT
    settings = Settings(data_dir=root / name, app_database_url=url, replication_slot=slot)
    settings.data_dir.mkdir()
    return settings


def _generate(settings: Settings, days: int, start: dt.date = dt.date(2026, 2, 1)) -> None:
    generate(
        settings.sources_dir,
        seed=11,
        scale=0.02,
        start=start,
        days=days,
        app_database_url=settings.app_database_url,
        replication_slot=settings.replication_slot,
    )


def _marts(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        marts = {}
        for table in tables:
            # when a row was ingested is the wall clock of each run, not content
            columns = ", ".join(
                f'"{name}"'
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts'"
                    " and table_name = ? and column_name not like '%ingested_at' order by ordinal_position",
                    [table],
                ).fetchall()
            )
            marts[table] = con.execute(f"select {columns} from marts.{table} order by all").fetchall()
        return marts


def _current_rows(settings: Settings, table: str) -> list[tuple[object, ...]]:  # sorted by repr
    """The table's current rows as staging derives them from raw (``macros/latest_cdc_rows.sql``)."""
    columns = ", ".join(APP_TABLES[table])
    key = next(iter(APP_TABLES[table]))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            f"""
            select {columns} from raw.app_{table}
            qualify row_number() over (partition by {key} order by _change_id desc) = 1
                and _op != 'delete'
                and _change_id >= coalesce(
                    (select max(_change_id) from raw.app_{table} where _op = 'snapshot'), _change_id)
            """
        ).fetchall()
    return sorted(rows, key=repr)


def _source_rows(url: str, table: str) -> list[tuple[object, ...]]:
    """The table in PostgreSQL, typed as raw types it (prices as decimals, timestamps naive)."""
    columns = APP_TABLES[table]
    casts = ", ".join(f"{c}::numeric(18,2)" if t.startswith("DECIMAL") else c for c, t in columns.items())
    return sorted(_sql(url, f"select {casts} from {table}"), key=repr)


@pytest.mark.postgres
def test_same_seed_in_sqlite_and_postgres_gives_identical_marts_and_a_day_adds_that_day(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LIFECYCLE_PII_SALT", "a-salt-shared-by-both-worlds-0123456789abcdef")
    world = DemoWorld(seed=7, scale=0.01, days=4)
    sqlite_world, pg_world = _world(tmp_path, "sqlite"), _world(tmp_path, "pg", database_url)
    first = dt.datetime(2026, 3, 4, 22, 0)
    for settings in (sqlite_world, pg_world):
        run(settings, as_of=first, world=world, progress=lambda _: None, docs=False)
    assert _marts(pg_world) == _marts(sqlite_world)
    assert sum(len(rows) for rows in _marts(pg_world).values()) > 100
    before = _raw(pg_world)

    second = first + dt.timedelta(days=1)
    for settings in (sqlite_world, pg_world):
        run(settings, as_of=second, world=world, progress=lambda _: None, docs=False)
    assert _marts(pg_world) == _marts(sqlite_world)
    assert _raw(pg_world) == _raw(sqlite_world)
    assert _duplicates(pg_world) == 0
    # exactly that day's changes: everything the simulator wrote after the first as-of, and no more
    import sqlite3

    log = sqlite3.connect(pg_world.sources_dir / "app.sqlite")
    (expected,) = log.execute(
        "select count(*) from change_log where changed_at > ? and changed_at <= ?",
        [f"{first:%Y-%m-%d %H:%M:%S}", f"{second:%Y-%m-%d %H:%M:%S}"],
    ).fetchone()
    log.close()
    added = sum(len(_raw(pg_world)[t]) - len(before[t]) for t in APP_TABLES)
    assert expected > 20
    assert added == expected
    with duckdb.connect(str(pg_world.warehouse_path), read_only=True) as con:
        stamps = con.execute(
            "select min(_changed_at), max(_changed_at) from raw.app_orders"
            " where _batch_id in (select batch_id from raw._ingest_log where source = 'app'"
            " and as_of = ? and status = 'success')",
            [second],
        ).fetchone()
    assert stamps is not None and first < stamps[0] and stamps[1] <= second
    pending = _sql(
        database_url,
        "select count(*) from pg_logical_slot_peek_changes(%s, null, null, 'format-version', '2')"
        " where data::json->>'action' in ('I', 'U', 'D')",
        [pg_world.replication_slot],
    )
    assert pending == [(0,)]  # everything landed was confirmed


def _ingest_cli(settings: Settings, *extra_env: tuple[str, str]) -> int:
    env = {
        **os.environ,
        "LIFECYCLE_DATA_DIR": str(settings.data_dir),
        "LIFECYCLE_APP_DATABASE_URL": settings.app_database_url or "",
        "LIFECYCLE_REPLICATION_SLOT": settings.replication_slot,
        **dict(extra_env),
    }
    done = subprocess.run(
        [sys.executable, "-m", "lifecycle.cli", "ingest", "--as-of", "2026-02-04"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode


@pytest.mark.postgres
def test_kill_9_between_duckdb_commit_and_slot_confirmation_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path
):
    reference, crashed = _world(tmp_path, "reference"), _world(tmp_path, "crashed", database_url)
    _generate(reference, days=3)
    _generate(crashed, days=3)
    start = _sql(
        database_url,
        "select confirmed_flush_lsn::text from pg_replication_slots where database = current_database()",
    )

    rc = _ingest_cli(crashed, ("LIFECYCLE_FAILPOINT", "app-slot-before-confirm"))
    assert rc == -signal.SIGKILL
    assert (
        _sql(
            database_url,
            "select confirmed_flush_lsn::text from pg_replication_slots where database = current_database()",
        )
        == start
    )
    landed = _raw(crashed)
    assert sum(map(len, landed.values())) > 500  # the batch committed in DuckDB before the kill

    assert _ingest_cli(crashed) == 0
    ingest(reference, as_of=dt.datetime(2026, 2, 4))
    assert _raw(crashed) == _raw(reference) == landed
    assert _duplicates(crashed) == 0
    assert (
        _sql(
            database_url,
            "select confirmed_flush_lsn::text from pg_replication_slots where database = current_database()",
        )
        != start
    )


@pytest.mark.postgres
def test_a_dropped_slot_is_recreated_through_a_snapshot_without_loss_or_duplicates(
    database_url: str, tmp_path: Path
):
    settings = _world(tmp_path, "pg", database_url)
    _generate(settings, days=2)
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 2, 3)))
    _sql(database_url, "select pg_drop_replication_slot(%s)", [settings.replication_slot])
    # changes while nobody watches, deletes among them (erasures delete customers and addresses)
    _generate(settings, days=2, start=dt.date(2026, 2, 3))
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 2, 5)))
    slots = "select count(*) from pg_replication_slots where slot_name = %s"
    assert _sql(database_url, slots, [settings.replication_slot]) == [(1,)]
    _generate(settings, days=1, start=dt.date(2026, 2, 5))
    raise_for_errors(ingest(settings, as_of=dt.datetime(2026, 2, 6)))

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (snapshot_rows,) = con.execute(
            "select count(*) from raw.app_orders where _op = 'snapshot'"
        ).fetchone()
    assert snapshot_rows > 0
    for table in APP_TABLES:
        assert _current_rows(settings, table) == _source_rows(database_url, table), table
    assert _duplicates(settings) == 0


@pytest.mark.postgres
def test_schema_drift_in_postgres_follows_the_drift_policy(database_url: str, tmp_path: Path):
    settings = _world(tmp_path, "pg", database_url)
    _generate(settings, days=1)
    raise_for_errors(ingest(settings))
    _sql(database_url, "alter table orders add column channel text")
    _sql(database_url, "update orders set channel = 'web' where order_id = 1")
    raise_for_errors(ingest(settings))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select channel from raw.app_orders where channel is not null").fetchall() == [
            ("web",)
        ]
        assert con.execute("select entity, field, change from raw._schema_changes").fetchall() == [
            ("app_orders", "channel", "added")
        ]
    _sql(database_url, "alter table orders drop column status")
    _sql(database_url, "update orders set channel = 'app' where order_id = 1")
    results = ingest(settings)
    app_errors = [e for r in results if r.source == "app" for e in r.errors]
    assert app_errors and "status" in app_errors[0] and "breaking schema change" in app_errors[0]


def _status_cli(settings: Settings, *extra_env: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIFECYCLE_DATA_DIR": str(settings.data_dir),
        "LIFECYCLE_APP_DATABASE_URL": settings.app_database_url or "",
        **dict(extra_env),
    }
    return subprocess.run(
        [sys.executable, "-m", "lifecycle.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.postgres
def test_status_shows_the_slots_lag_and_a_slot_over_its_wal_limit_breaches_and_alerts(
    database_url: str, tmp_path: Path
):
    settings = _world(tmp_path, "pg", database_url)
    _generate(settings, days=1)
    raise_for_errors(ingest(settings))
    slot = settings.replication_slot
    (retained,) = _sql(
        database_url,
        "select (pg_current_wal_lsn() - restart_lsn)::bigint from pg_replication_slots where slot_name = %s",
        [slot],
    )[0]
    assert isinstance(retained, int) and retained > 0

    within = _status_cli(settings)
    assert within.returncode in (0, 3), (
        within.stderr
    )  # the simulated days are long past: freshness may breach
    assert f"  {slot} ok: retains " in within.stdout and "position " in within.stdout
    assert f"replication slot {slot}" not in within.stdout.split("SLA BREACHED")[-1]

    # status reads what ingestion recorded: an unreachable server does not matter to it
    behind = _status_cli(
        settings,
        ("LIFECYCLE_APP_DATABASE_URL", "postgresql://127.0.0.1:1/unreachable"),
        ("LIFECYCLE_SLOT_RETAINED_WAL_LIMIT", "1"),
    )
    assert behind.returncode == 3, behind.stderr
    assert f"  {slot} over the limit: retains " in behind.stdout
    assert f"replication slot {slot} (retained WAL over its limit)" in behind.stdout

    low = dataclasses.replace(settings, slot_retained_wal_limit=1)
    [alert] = watch_slot(low, "run-1")
    assert (alert.kind, alert.owner) == ("opened", "data-platform")
    assert "--full-refresh" in alert.runbook and f"pg_drop_replication_slot('{slot}')" in alert.runbook
    [sent] = read_outbox(low)
    assert (sent["check"], sent["owner"], sent["sample"]) == (alert.check, "data-platform", alert.sample)


@pytest.mark.postgres
def test_the_sensor_requests_a_run_after_a_change_in_postgres_and_none_without_one(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

    from lifecycle.orchestration.automation import automation, pending_arrivals
    from lifecycle.orchestration.resources import LifecycleResource

    settings = _world(tmp_path, "pg", database_url)
    _generate(settings, days=1)
    raise_for_errors(ingest(settings))
    monkeypatch.setenv("LIFECYCLE_APP_DATABASE_URL", database_url)
    monkeypatch.setenv("LIFECYCLE_REPLICATION_SLOT", settings.replication_slot)
    sensor = next(s for s in automation("lifecycle_daily")[1] if s.name == "new_source_data")
    resources = {"lifecycle": LifecycleResource(data_dir=str(settings.data_dir))}

    def evaluate() -> RunRequest | None:
        """One call of the sensor's function: its run request, or None if it skipped."""
        with DagsterInstance.ephemeral() as instance:
            result = sensor(build_sensor_context(instance=instance, resources=resources))
        assert isinstance(result, RunRequest | SkipReason)
        return result if isinstance(result, RunRequest) else None

    assert evaluate() is None, "everything in the slot has landed"
    _sql(
        database_url, "update orders set status = status where order_id = (select min(order_id) from orders)"
    )
    request = evaluate()
    assert request is not None
    arrivals = pending_arrivals(settings, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    assert (arrivals.files, arrivals.changes) == ((), 1)
    assert evaluate() == request, "looking does not consume the slot"

    raise_for_errors(ingest(settings))
    assert evaluate() is None, "the change has landed"
