"""End to end: the real pipeline at the smallest scale, in a temporary data directory.

This is where dbt's tests (every model's, run by `dbt build`), its unit tests and the GE checkpoints run in
`make test`.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.errors import GateFailed
from lifecycle.pipeline import DemoWorld, run
from lifecycle.transform import run_dbt

WORLD = DemoWorld(seed=7, scale=0.01, days=4)
AS_OF = dt.datetime(2026, 3, 4, 22, 0)  # later runs stay on the same day: no new world day


def published(settings: Settings, table: str) -> list[tuple]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("e2e"))
    run(settings, as_of=AS_OF, world=WORLD, progress=lambda _: None)
    return settings


def test_run_publishes_marts_and_builds_the_site(first_run: Settings):
    assert first_run.analytics_path.exists()
    assert (first_run.site_dir / "index.html").exists()
    assert (first_run.site_dir / "dbt" / "index.html").exists()
    assert (first_run.site_dir / "gx" / "index.html").exists()
    assert (first_run.exports_dir / "marts" / "fct_orders.parquet").exists()
    assert "<redacted>" not in (first_run.state_dir / "pii_salt").read_text()
    salt = (first_run.state_dir / "pii_salt").read_text()
    assert salt not in (first_run.site_dir / "dbt" / "index.html").read_text()


def test_dbt_unit_tests_pass(first_run: Settings):
    """Production runs skip dbt unit tests (fixed inputs); CI runs every one of them here."""
    manifest = json.loads((first_run.dbt_target_dir / "manifest.json").read_text())
    defined = set(manifest["unit_tests"])
    assert len(defined) >= 10
    results = first_run.dbt_target_dir / "run_results.json"
    ran_in_pipeline = {r["unique_id"] for r in json.loads(results.read_text())["results"]}
    assert not defined & ran_in_pipeline

    # `dbt build --select test_type:unit` selects nothing in dbt 1.11; `dbt test` runs them.
    assert run_dbt(first_run, ["test", "--select", "test_type:unit"], as_of=AS_OF) == []

    ran = {r["unique_id"]: r["status"] for r in json.loads(results.read_text())["results"]}
    assert ran == dict.fromkeys(defined, "pass")


def test_revenue_mart_reproduces_the_ground_truth(first_run: Settings):
    truth = json.loads((first_run.sources_dir / "ground_truth.json").read_text())
    expected = [
        (
            dt.date.fromisoformat(d["date_day"]),
            d["order_count"],
            round(d["gross_revenue"], 2),
            round(d["discount_amount"], 2),
            round(d["refund_amount"], 2),
            round(d["net_revenue"], 2),
        )
        for d in truth["daily"]
    ]
    rows = published(first_run, "fct_revenue_daily")
    actual = [(r[0], r[1], float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]
    assert actual == expected


def test_second_run_is_idempotent(first_run: Settings):
    before = {t: published(first_run, t) for t in ("fct_orders", "fct_revenue_daily", "dim_customers")}
    run(first_run, as_of=AS_OF + dt.timedelta(minutes=20), world=WORLD, progress=lambda _: None)
    after = {t: published(first_run, t) for t in before}
    assert after == before


def test_failed_gate_keeps_the_last_publication(first_run: Settings):
    before = published(first_run, "_publication")
    exports = {p.name: p.read_bytes() for p in first_run.exports_dir.glob("crm_segments.*")}
    assert set(exports) == {"crm_segments.csv", "crm_segments.parquet"}
    app = sqlite3.connect(first_run.sources_dir / "app.sqlite")
    # A bad change from the application (its constraints bypassed): a status the business does not know.
    app.execute(
        "insert into change_log (table_name, op, row_key, changed_at, row_json)"
        " select 'orders', 'update', row_key, changed_at, json_set(row_json, '$.status', 'teleported')"
        " from change_log where table_name = 'orders' order by change_id desc limit 1"
    )
    app.commit()
    app.close()
    with pytest.raises(GateFailed):
        run(first_run, as_of=AS_OF + dt.timedelta(minutes=40), world=WORLD, progress=lambda _: None)
    assert published(first_run, "_publication") == before
    assert {p.name: p.read_bytes() for p in first_run.exports_dir.glob("crm_segments.*")} == exports
    reports = sorted(Path(first_run.state_dir / "reports").glob("*.md"))
    assert any("FAILED" in r.read_text() for r in reports)
