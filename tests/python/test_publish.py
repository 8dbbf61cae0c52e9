"""Publication: only audited builds, all or nothing, and the CRM export (reverse ETL) written with it.

The warehouses here are tiny hand-made DuckDB files with a ``marts`` schema; no pipeline runs. The gates'
verdicts are recorded by hand (``approve``), as a passing ``lifecycle transform`` and ``validate`` would.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.lock import exclusive
from lifecycle.publish import Publication, publish
from lifecycle.publish.reverse_etl import CRM_SEGMENTS, export_crm_segments
from lifecycle.quality import verdict
from lifecycle.quality.verdict import REQUIRED_GATES


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build_warehouse(
    settings: Settings,
    version: int,
    *,
    customers: list[tuple] | None = None,
    rfm: list[tuple] | None = None,
) -> None:
    """(Re)create the warehouse: ``version`` orders, and customers 1-3 of which 3 is erased."""
    settings.warehouse_path.unlink(missing_ok=True)
    if customers is None:
        customers = [
            (1, sha("a@example.com"), sha("+4420"), False, True, 10.5 * version),
            (2, sha("b@example.com"), None, False, False, 0),
            (3, None, None, True, False, 4),
        ]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_customers (customer_id bigint, email_hash varchar, phone_hash varchar,"
            " is_erased boolean, is_active boolean, lifetime_value decimal(18, 2))"
        )
        con.executemany("insert into marts.dim_customers values (?, ?, ?, ?, ?, ?)", customers)
        con.execute(
            "create table marts.fct_orders as select range as order_id, ? as version from range(1, ? + 1)",
            [version, version],
        )
        con.execute("create table marts.fct_customer_rfm (customer_id bigint, rfm_segment varchar)")
        rfm = [(1, "champions"), (2, "at_risk")] if rfm is None else rfm
        con.executemany("insert into marts.fct_customer_rfm values (?, ?)", rfm)


def approve(settings: Settings, run_id: str, *, passed: bool = True, gates=REQUIRED_GATES) -> None:
    """Record the gates' verdicts on the warehouse as it is now."""
    build = verdict.current_build(settings)
    for gate in gates:
        verdict.record(
            settings,
            gate,
            passed=passed,
            run_id=run_id,
            build=build,
            failed=() if passed else ("a check failed",),
        )


def publish_version(settings: Settings, version: int, **breakage) -> Publication:
    build_warehouse(settings, version, **breakage)
    approve(settings, f"v{version}")
    return publish(settings)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    build_warehouse(settings, 1)
    approve(settings, "v1")
    return settings


def snapshot(settings: Settings) -> dict[str, str]:
    """Every published file (analyst database and exports) by path, as a content hash."""
    files = [settings.analytics_path, *settings.exports_dir.rglob("*")]
    return {
        str(p.relative_to(settings.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


def leftovers(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.data_dir.rglob(".*") if p.name != ".")


def published_orders(settings: Settings) -> tuple:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return con.execute("select count(*), max(version) from fct_orders").fetchone()  # type: ignore[return-value]


# The analyst: a separate process, as a real one would be (within one process DuckDB shares a database
# instance per path, so a "reopened" connection there could be the old one). It opens the published file
# read-only and reads only the catalog, says "open", waits for "go" (sent after the first swap, so its
# first data reads come from a file that has already been replaced), then reads table data in a loop
# until the stop file appears, and once more after that.
ANALYST = r"""
import json, pathlib, sys, time
import duckdb
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
con = duckdb.connect(path, read_only=True)
con.execute("select count(*) from duckdb_tables()").fetchall()
print("open", flush=True)
sys.stdin.readline()
results, errors, reads = set(), [], 0
deadline = time.monotonic() + 60
while True:
    done = stop.exists() or time.monotonic() > deadline
    try:
        orders = con.execute("select count(*), max(version) from fct_orders").fetchone()
        customers = con.execute("select sum(lifetime_value)::double from dim_customers").fetchone()
        results.add(json.dumps([*orders, *customers]))
    except Exception as exc:
        errors.append(repr(exc))
    reads += 1
    if done:
        break
print(json.dumps({"results": sorted(results), "errors": errors[:5], "reads": reads}), flush=True)
"""


def test_open_analyst_session_survives_publication_and_reopening_sees_new_data(settings: Settings):
    publish(settings)
    stop = settings.data_dir / "stop-reading"
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(settings.analytics_path), str(stop)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout is not None and analyst.stdin is not None
        assert analyst.stdout.readline().strip() == "open"
        publish_version(settings, 2)  # swapped under the open session before it read any table data
        analyst.stdin.write("go\n")
        analyst.stdin.flush()
        for version in (3, 4):  # and again while it reads
            publish_version(settings, version)
        stop.touch()
        out, _ = analyst.communicate(timeout=90)
    finally:
        analyst.kill()
    result = json.loads(out)
    assert analyst.returncode == 0
    assert result["errors"] == []
    assert result["reads"] >= 1
    # The open session keeps its consistent view of the file it opened: version 1, never a mix.
    assert result["results"] == [json.dumps([1, 1, 10.5 + 0 + 4])]
    assert published_orders(settings) == (4, 4)
    assert leftovers(settings) == []


@pytest.mark.parametrize("breakage", ["no marts", "no warehouse"])
def test_failing_publish_leaves_previous_publication_and_exports_untouched(settings: Settings, breakage):
    publish(settings)
    before = snapshot(settings)
    assert "exports/crm_segments.csv" in before
    assert "exports/marts/fct_orders.parquet" in before
    if breakage == "no marts":
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("drop schema marts cascade")
    else:
        settings.warehouse_path.unlink()
    with pytest.raises(LifecycleError, match="transform"):
        publish(settings)
    assert snapshot(settings) == before
    assert leftovers(settings) == []


def crm_rows(settings: Settings) -> list[tuple]:
    csv = settings.exports_dir / "crm_segments.csv"
    parquet = settings.exports_dir / "crm_segments.parquet"
    with duckdb.connect() as con:
        from_csv = con.execute(f"select * from read_csv('{csv}', all_varchar = true)").fetchall()
        rows = con.execute(f"select * from read_parquet('{parquet}') order by customer_id").fetchall()
    assert len(from_csv) == len(rows)
    return rows


def test_crm_export_has_hashed_keys_and_rfm_segments_of_non_erased_customers(settings: Settings):
    publication = publish(settings)
    assert publication.crm.rows == 2
    rows = crm_rows(settings)
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1:5] == (sha("a@example.com"), sha("+4420"), "champions", True)
    assert rows[1][3] == "at_risk"
    with duckdb.connect() as con:
        columns = con.execute(
            f"describe select * from read_parquet('{settings.exports_dir / 'crm_segments.parquet'}')"
        ).fetchall()
    assert [(c[0], c[1]) for c in columns] == [(c.name, c.type) for c in CRM_SEGMENTS.columns]
    assert "@" not in (settings.exports_dir / "crm_segments.csv").read_text()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ({"customers": [(1, "a@example.com", None, False, True, 1)]}, "email address"),
        ({"customers": [(1, sha("a"), "+44 20 7946 0958", False, True, 1)]}, "SHA-256"),
        ({"rfm": [(1, "champions"), (1, "loyal"), (2, "at_risk")]}, "not unique"),
        ({"rfm": [(1, "+44 20 7946 0958"), (2, "at_risk")]}, "phone number"),
        ({"customers": [(None, sha("a"), None, False, True, 1)]}, "null"),
    ],
    ids=["raw email", "raw phone", "duplicate customer", "phone in segment", "null id"],
)
def test_broken_crm_contract_publishes_nothing(settings: Settings, breakage: dict, message: str):
    """The CRM export is part of the publication: a broken contract keeps the whole previous one."""
    publish(settings)
    before = snapshot(settings)
    assert len([k for k in before if "crm_segments" in k]) == 2
    with pytest.raises(GateFailed, match=message):
        publish_version(settings, 2, **breakage)
    assert snapshot(settings) == before
    assert leftovers(settings) == []
    assert published_orders(settings) == (1, 1)


def test_crm_export_reads_the_published_file_not_the_warehouse(settings: Settings, tmp_path: Path):
    publish(settings)
    settings.warehouse_path.unlink()  # nothing left to read but the publication
    out = tmp_path / "crm"
    out.mkdir()
    assert export_crm_segments(settings.analytics_path, out).rows == 2


def test_publish_refuses_a_build_without_verdicts_and_names_the_missing_gates(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    build_warehouse(settings, 1)
    with pytest.raises(GateFailed, match=r"(?s)dbt build: no verdict.*validate: no verdict"):
        publish(settings)
    assert not settings.analytics_path.exists()
    assert leftovers(settings) == []


def test_publish_refuses_a_failed_gate_and_keeps_the_publication_byte_identical(settings: Settings):
    publish(settings)
    before = snapshot(settings)
    build_warehouse(settings, 2)
    approve(settings, "v2", gates=["dbt build"])
    approve(settings, "v2", gates=["validate"], passed=False)
    with pytest.raises(GateFailed, match="validate: failed in v2: a check failed"):
        publish(settings)
    assert snapshot(settings) == before
    assert published_orders(settings) == (1, 1)


def test_publish_refuses_marts_changed_after_their_audit(settings: Settings):
    publish(settings)
    before = snapshot(settings)
    approve(settings, "v2")
    with duckdb.connect(str(settings.warehouse_path)) as con:  # a hand-made change after the gates ran
        con.execute("update marts.fct_orders set version = 99")
    with pytest.raises(GateFailed, match="the marts changed since"):
        publish(settings)
    assert snapshot(settings) == before


def test_publish_refuses_a_failed_raw_audit_of_the_build_s_raw_data(settings: Settings):
    approve(settings, "v1", gates=[verdict.AUDIT_RAW], passed=False)
    with pytest.raises(GateFailed, match="audit raw: failed in v1"):
        publish(settings)


def consistent(settings: Settings) -> str:
    """The run id of the current publication, after checking that every part of it belongs to it."""
    record = json.loads(settings.last_publication_path.read_text())
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        (run_id,) = con.execute("select run_id from _publication").fetchone()
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in record["tables"]}
    assert run_id == record["run_id"]
    assert counts == record["tables"]
    with duckdb.connect() as con:
        for table, rows in counts.items():
            parquet = settings.exports_dir / "marts" / f"{table}.parquet"
            assert con.execute(f"select count(*) from '{parquet}'").fetchone()[0] == rows
        crm = con.execute(
            f"select count(*) from '{settings.exports_dir / 'crm_segments.parquet'}'"
        ).fetchone()
    assert crm[0] == record["crm_segments"]["rows"]
    return run_id


@pytest.mark.parametrize(
    "point", ["publish:copying", "publish:prepared", "publish:renamed", "publish:switched"]
)
@pytest.mark.heavy
def test_kill_9_during_publish_leaves_a_whole_publication_that_a_rerun_completes(
    settings: Settings, point: str
):
    publish(settings)
    assert consistent(settings) == "v1"
    before = snapshot(settings)
    build_warehouse(settings, 2)
    approve(settings, "v2")
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(settings.data_dir), "LIFECYCLE_FAILPOINT": point}
    killed = subprocess.run([sys.executable, "-m", "lifecycle.cli", "publish"], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # Either the old publication or, once the switch happened, the new one: never a mix.
    if point == "publish:switched":
        assert consistent(settings) == "v2"
    else:
        assert consistent(settings) == "v1"
        assert snapshot(settings) == before
    del env["LIFECYCLE_FAILPOINT"]
    rerun = subprocess.run([sys.executable, "-m", "lifecycle.cli", "publish"], env=env, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    assert consistent(settings) == "v2"
    assert published_orders(settings) == (2, 2)
    assert leftovers(settings) == []
    # The current publication and the one before it are kept; older ones are removed.
    assert len([p for p in settings.publications_dir.iterdir() if p.name != "current"]) <= 2


def test_a_second_writer_is_refused_while_the_first_holds_the_data_directory(settings: Settings):
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(settings.data_dir)}
    with exclusive(settings, "run"):
        second = subprocess.run(
            [sys.executable, "-m", "lifecycle.cli", "publish"], env=env, capture_output=True, text=True
        )
    assert second.returncode == 75
    assert f"lifecycle run` (pid {os.getpid()}" in second.stderr
    assert not settings.analytics_path.exists()
    after = subprocess.run([sys.executable, "-m", "lifecycle.cli", "publish"], env=env, capture_output=True)
    assert after.returncode == 0, after.stderr
    assert consistent(settings) == "v1"


def published_files(settings: Settings) -> dict[str, os.stat_result]:
    """The current publication's mart Parquet files by table."""
    return {p.stem: p.stat() for p in (settings.exports_dir / "marts").glob("*.parquet")}


def assert_publication_equals_warehouse(settings: Settings) -> None:
    """Every mart of the warehouse, and nothing else, is in the analyst database and its Parquet file."""
    with duckdb.connect() as con:
        con.execute(f"attach '{settings.warehouse_path}' as w (read_only)")
        con.execute(f"attach '{settings.analytics_path}' as a (read_only)")

        def tables(catalog: str, schema: str) -> list[str]:
            return [
                r[0]
                for r in con.execute(
                    "select table_name from duckdb_tables() where database_name = ? and schema_name = ?"
                    " and table_name <> '_publication' order by 1",
                    [catalog, schema],
                ).fetchall()
            ]

        marts = tables("w", "marts")
        assert tables("a", "main") == marts
        assert sorted(published_files(settings)) == marts
        for table in marts:
            expected = con.execute(f"select * from w.marts.{table} order by all").fetchall()
            assert con.execute(f"select * from a.main.{table} order by all").fetchall() == expected, table
            parquet = settings.exports_dir / "marts" / f"{table}.parquet"
            assert con.execute(f"select * from '{parquet}' order by all").fetchall() == expected, table


def test_a_publication_copies_only_the_changed_mart_and_takes_over_the_others(settings: Settings):
    first = publish(settings)
    old_database = settings.analytics_path.resolve()
    old_bytes = old_database.read_bytes()
    before = published_files(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("insert into marts.fct_orders values (2, 1)")
    approve(settings, "v2")
    second = publish(settings)
    after = published_files(settings)
    assert second.reused == ("dim_customers", "fct_customer_rfm")
    for table in ("dim_customers", "fct_customer_rfm"):  # the same file, linked into the new publication
        assert (after[table].st_ino, after[table].st_mtime_ns) == (
            before[table].st_ino,
            before[table].st_mtime_ns,
        )
    assert after["fct_orders"].st_ino != before["fct_orders"].st_ino
    record = json.loads(settings.last_publication_path.read_text())
    assert record["built_from"] == first.publication_id
    assert {t: m["written"] for t, m in record["marts"].items()} == {
        "dim_customers": "reused",
        "fct_customer_rfm": "reused",
        "fct_orders": "copied",
    }
    assert published_orders(settings) == (2, 1)
    assert_publication_equals_warehouse(settings)
    assert consistent(settings) == "v2"
    # The new database is a new file; the previous one, which analysts may hold open, was not written.
    assert settings.analytics_path.resolve() != old_database
    assert old_database.read_bytes() == old_bytes


def test_a_mart_removed_from_the_warehouse_leaves_the_publication_and_a_new_one_joins(settings: Settings):
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table marts.fct_leaving as select 1 as leaving_id")
    approve(settings, "v1")
    publish(settings)
    assert "fct_leaving" in published_files(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("drop table marts.fct_leaving")
        con.execute("create table marts.fct_joining as select 2 as joining_id")
    approve(settings, "v2")
    publication = publish(settings)
    assert set(publication.tables) == {"dim_customers", "fct_customer_rfm", "fct_orders", "fct_joining"}
    assert "fct_leaving" not in publication.reused
    assert_publication_equals_warehouse(settings)
    assert consistent(settings) == "v2"


def corrupt_keeping_size_and_time(path: Path) -> None:
    stat = path.stat()
    path.write_bytes(b"\xde\xad" * (stat.st_size // 2) + b"\0" * (stat.st_size % 2))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (corrupt_keeping_size_and_time, "cannot be read"),
        (lambda path: path.write_bytes(path.read_bytes()[:4096]), "changed since it was published"),
        (lambda path: path.unlink(), "database is missing"),
        (lambda path: path.with_name("publication.json").write_text("{"), "publication.json is unreadable"),
    ],
    ids=["corrupt", "truncated", "missing", "record unreadable"],
)
def test_a_damaged_previous_publication_falls_back_to_a_full_copy(settings: Settings, damage, reason: str):
    publish(settings)
    damage(settings.analytics_path.resolve())
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("insert into marts.fct_orders values (2, 1)")
    approve(settings, "v2")
    said: list[str] = []
    publication = publish(settings, progress=said.append)
    assert publication.reused == ()
    assert any("every mart copied" in line and reason in line for line in said), said
    record = json.loads(settings.last_publication_path.read_text())
    assert record["built_from"] is None
    assert {m["written"] for m in record["marts"].values()} == {"copied"}
    assert_publication_equals_warehouse(settings)
    assert consistent(settings) == "v2"


def test_contact_data_is_checked_in_what_was_written_anew_and_everywhere_when_the_rules_change(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    import lifecycle.publish as publishing

    checked: list[list[str]] = []
    real = publishing.contact_data_violations

    def recording(con: duckdb.DuckDBPyConnection, relations: list[str]) -> list[str]:
        checked.append(relations)
        return real(con, relations)

    monkeypatch.setattr(publishing, "contact_data_violations", recording)
    publish(settings)
    for version, rules_changed in ((2, False), (3, True)):
        if rules_changed:
            monkeypatch.setattr(publishing, "contact_rules_digest", lambda: "other rules")
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("insert into marts.fct_orders values (?, 1)", [version])
        approve(settings, f"v{version}")
        publish(settings)
    first, changed, new_rules = (" ".join(relations) for relations in checked)
    for table in ("dim_customers", "fct_customer_rfm", "fct_orders"):
        assert f'main."{table}"' in first and f'main."{table}"' in new_rules
    assert (
        'main."fct_orders"' in changed
        and "dim_customers" not in changed
        and "fct_customer_rfm" not in changed
    )
    # The CRM files every time; never the marts' Parquet copies, written value for value from the tables.
    for relations in (first, changed, new_rules):
        assert "crm_segments.csv" in relations and "crm_segments.parquet" in relations
        assert "exports/marts/" not in relations


def test_a_contact_shaped_value_in_a_mart_refuses_the_publication_and_names_the_column(settings: Settings):
    publish(settings)
    before = snapshot(settings)
    build_warehouse(settings, 2)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "create table marts.fct_tickets as select * from (values"
            " (1, 'parcel late'), (2, 'call me on +33 6 12 34 56 78')) as t(ticket_id, note)"
        )
    approve(settings, "v2")
    with pytest.raises(GateFailed, match=r'fct_tickets"\.note \(1 rows\)'):
        publish(settings)
    assert snapshot(settings) == before


@pytest.mark.heavy
def test_the_database_file_stays_bounded_over_many_publications_of_a_changing_mart(tmp_path: Path):
    """Tables dropped in the copied file free their blocks, which the next copies reuse."""
    settings = Settings(data_dir=tmp_path)
    sizes = []
    for version in range(1, 11):
        build_warehouse(settings, version)
        with duckdb.connect(str(settings.warehouse_path)) as con:  # a mart big enough to span row groups
            con.execute(
                "create table marts.fct_events as select range as event_id, ? * range as amount"
                " from range(300000)",
                [version],
            )
        approve(settings, f"v{version}")
        publication = publish(settings)
        assert "fct_events" not in publication.reused
        record = json.loads(settings.last_publication_path.read_text())
        # Each one started from the one before (none had to be compacted into a fresh file).
        assert (record["built_from"] is None) == (version == 1)
        sizes.append(settings.analytics_path.stat().st_size)
    assert max(sizes[2:]) <= sizes[1] * 1.5, sizes


def test_superseded_publications_are_removed_and_a_session_reading_one_keeps_its_file(settings: Settings):
    from lifecycle.publish import remove_superseded

    first = publish(settings).publication_id
    second = publish_version(settings, 2).publication_id
    unfinished = settings.publications_dir / ".new-20990101T000000000000-dead00"
    (unfinished / "exports").mkdir(parents=True)
    with duckdb.connect(str(settings.publications_dir / first / "analytics.duckdb"), read_only=True) as old:
        assert remove_superseded(settings) == [unfinished.name, first]
        # The session opened before the removal reads the file it opened, whole.
        assert old.execute("select count(*), max(version) from fct_orders").fetchone() == (1, 1)
    assert sorted(p.name for p in settings.publications_dir.iterdir()) == [second, "current"]
    assert published_orders(settings) == (2, 2)  # the stable paths still lead to the current one
    assert remove_superseded(settings) == []
    # The next publication starts from the current one as before.
    assert publish_version(settings, 3).reused == ("fct_customer_rfm",)


def test_without_a_current_publication_only_unfinished_folders_are_removed(tmp_path: Path):
    from lifecycle.publish import remove_superseded

    settings = Settings(data_dir=tmp_path)
    assert remove_superseded(settings) == []
    finished = settings.publications_dir / "20990101T000000000000-abc123"
    unfinished = settings.publications_dir / ".new-20990101T000000000001-abc124"
    for folder in (finished, unfinished):
        folder.mkdir(parents=True)
    assert remove_superseded(settings) == [unfinished.name]
    assert finished.is_dir()
