"""Publication by atomic swap, and the CRM export (reverse ETL) written from the published marts.

The warehouses here are tiny hand-made DuckDB files with a ``marts`` schema; no pipeline runs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.publish import publish
from lifecycle.publish.reverse_etl import CRM_SEGMENTS, export_crm_segments


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
        if rfm is not None:
            con.execute("create table marts.customer_rfm (customer_id bigint, rfm_segment varchar)")
            con.executemany("insert into marts.customer_rfm values (?, ?)", rfm)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    build_warehouse(settings, 1)
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
    publish(settings, run_id="v1")
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
        build_warehouse(settings, 2)
        publish(settings, run_id="v2")  # swapped under the open session before it read any table data
        analyst.stdin.write("go\n")
        analyst.stdin.flush()
        for version in (3, 4):  # and again while it reads
            build_warehouse(settings, version)
            publish(settings, run_id=f"v{version}")
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
    publish(settings, run_id="v1")
    before = snapshot(settings)
    assert "exports/crm_segments.csv" in before
    assert "exports/marts/fct_orders.parquet" in before
    if breakage == "no marts":
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("drop schema marts cascade")
    else:
        settings.warehouse_path.unlink()
    with pytest.raises(LifecycleError, match="transform"):
        publish(settings, run_id="v2")
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


def test_crm_export_has_hashed_keys_of_non_erased_customers_and_no_rfm_yet(settings: Settings):
    publication = publish(settings, run_id="v1")
    assert publication.crm is not None
    assert publication.crm.rows == 2
    assert publication.crm.rfm_source is None
    rows = crm_rows(settings)
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1:5] == (sha("a@example.com"), sha("+4420"), None, True)
    with duckdb.connect() as con:
        columns = con.execute(
            f"describe select * from read_parquet('{settings.exports_dir / 'crm_segments.parquet'}')"
        ).fetchall()
    assert [(c[0], c[1]) for c in columns] == [(c.name, c.type) for c in CRM_SEGMENTS.columns]
    assert "@" not in (settings.exports_dir / "crm_segments.csv").read_text()


def test_crm_export_takes_the_rfm_segment_from_a_published_rfm_mart(settings: Settings):
    build_warehouse(settings, 1, rfm=[(1, "champions"), (2, "at_risk")])
    publication = publish(settings, run_id="v1")
    assert publication.crm is not None
    assert publication.crm.rfm_source == "customer_rfm.rfm_segment"
    assert [(r[0], r[3]) for r in crm_rows(settings)] == [(1, "champions"), (2, "at_risk")]


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
def test_broken_crm_contract_writes_nothing_and_keeps_the_previous_export(
    settings: Settings, breakage: dict, message: str
):
    publish(settings, run_id="v1")
    before = {k: v for k, v in snapshot(settings).items() if "crm_segments" in k}
    assert len(before) == 2
    build_warehouse(settings, 2, **breakage)
    with pytest.raises(GateFailed, match=message):
        publish(settings, run_id="v2")
    assert {k: v for k, v in snapshot(settings).items() if "crm_segments" in k} == before
    assert leftovers(settings) == []
    # The marts themselves were published: the contract guards the CRM feed, not the analysts.
    assert published_orders(settings) == (2, 2)


def test_crm_export_reads_the_published_file_not_the_warehouse(settings: Settings):
    publish(settings, run_id="v1")
    settings.warehouse_path.unlink()  # nothing left to read but the publication
    assert export_crm_segments(settings).rows == 2
