"""End to end: the real pipeline at the smallest scale, in a temporary data directory.

This is where dbt's tests (every model's, run by `dbt build`), its unit tests and the GE checkpoints run in
`make test`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lifecycle.config import Settings
from lifecycle.dbt_runner import run_dbt
from lifecycle.errors import GateFailed
from lifecycle.pipeline import DemoWorld, run
from lifecycle.publish import publish

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


def test_the_salt_is_only_in_its_store_and_private_files_are_private(first_run: Settings):
    store = first_run.state_dir / "pii_salt"
    salt = store.read_text().strip().encode()
    assert len(salt) >= 32
    scanned = 0
    for path in first_run.data_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != store:
            assert salt not in path.read_bytes(), path
            scanned += 1
    assert scanned > 100  # dbt artifacts, compiled SQL, logs, DuckDB files, the site, exports
    assert (first_run.dbt_log_dir / "dbt.log").exists()
    assert (first_run.dbt_target_dir / "run").is_dir()
    for private in (store, first_run.warehouse_path):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert stat.S_IMODE(first_run.state_dir.stat().st_mode) == 0o700


def test_dbt_by_hand_without_the_salt_stops_naming_it(first_run: Settings, tmp_path: Path):
    env = {
        **os.environ,
        "LIFECYCLE_DATA_DIR": str(tmp_path),  # a data directory whose salt store does not exist
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    env.pop("LIFECYCLE_PII_SALT", None)
    dbt = Path(sys.executable).with_name("dbt")
    hand = subprocess.run(
        [
            str(dbt),
            "run",
            "--select",
            "stg_app__customers",
            "--project-dir",
            str(first_run.project_dir),
            "--profiles-dir",
            str(first_run.project_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert hand.returncode != 0
    assert "LIFECYCLE_PII_SALT" in hand.stdout


def test_publish_after_a_passing_run_publishes_the_same_build(first_run: Settings):
    before = published(first_run, "fct_orders")
    publication = publish(first_run)
    assert publication.run_id.startswith("run-")
    assert published(first_run, "fct_orders") == before


def test_dbt_unit_tests_pass(first_run: Settings):
    """Production runs skip dbt unit tests (fixed inputs); CI runs every one of them here."""
    manifest = json.loads((first_run.dbt_target_dir / "manifest.json").read_text())
    defined = set(manifest["unit_tests"])
    assert len(defined) >= 10
    results = first_run.dbt_target_dir / "run_results.json"
    ran_in_pipeline = {r["unique_id"] for r in json.loads(results.read_text())["results"]}
    assert not defined & ran_in_pipeline

    # `dbt build --select test_type:unit` selects nothing in dbt 1.11; `dbt test` runs them.
    assert run_dbt(first_run, ["test", "--select", "test_type:unit"], as_of=AS_OF).failures == []

    # Besides the unit tests, run_results lists the on-run-start hook (the PII salt check).
    ran = {
        r["unique_id"]: r["status"]
        for r in json.loads(results.read_text())["results"]
        if not r["unique_id"].startswith("operation.")
    }
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
    # Publishing by hand after the failed run refuses the failed build, leaving everything as it was.
    with pytest.raises(GateFailed, match="dbt build: failed"):
        publish(first_run)
    assert published(first_run, "_publication") == before
    assert {p.name: p.read_bytes() for p in first_run.exports_dir.glob("crm_segments.*")} == exports
    reports = sorted(Path(first_run.state_dir / "reports").glob("*.md"))
    assert any("FAILED" in r.read_text() for r in reports)


def test_marts_follow_the_pii_classification(first_run: Settings):
    """No value of a raw column tagged pii: direct reaches a mart, and every mart column holding hashed or
    contact-shaped personal data is tagged (lifecycle.privacy.classification)."""
    from lifecycle.config import PROJECT_DIR
    from lifecycle.privacy.classification import classification_violations

    salt = (first_run.state_dir / "pii_salt").read_text().strip()
    with duckdb.connect(str(first_run.warehouse_path), read_only=True) as con:
        hashed = con.execute("select count(email_hash) from marts.dim_customers").fetchone()
        assert hashed and hashed[0] > 0  # the check has hashed contacts to recognise
        assert classification_violations(con, PROJECT_DIR, salt) == []
