"""End to end: the real pipeline at the smallest scale, in a temporary data directory.

This is where dbt's tests (every model's, run by `dbt build`), its unit tests and the GE checkpoints run in
`make test`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import TINY_AS_OF, TINY_WORLD, copy_tiny_world
from lifecycle.config import Settings
from lifecycle.dbt_runner import parse_project, run_dbt
from lifecycle.docs.metrics import Metrics
from lifecycle.docs.published import manifest_nodes, open_published
from lifecycle.errors import GateFailed
from lifecycle.pipeline import run
from lifecycle.publish import publish

WORLD = TINY_WORLD
AS_OF = TINY_AS_OF  # later runs stay on the same day: no new world day

pytestmark = pytest.mark.e2e


def published(settings: Settings, table: str) -> list[tuple]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


@pytest.fixture(scope="module")
def first_run(tiny_world: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the shared tiny world after its first run: the tests below run it again."""
    return copy_tiny_world(tiny_world, tmp_path_factory.mktemp("e2e"))


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


def _marts_by_day(settings: Settings) -> dict[dt.date, tuple[float, int, float | None, float]]:
    """(net revenue, orders, ROAS, ad spend) per day, straight from the published marts."""
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        rows = con.execute(
            """
            select revenue.date_day, revenue.net_revenue, revenue.order_count,
                sum(marketing.attributed_revenue) / nullif(sum(marketing.spend), 0),
                coalesce(sum(marketing.spend), 0)
            from fct_revenue_daily as revenue
            left join fct_marketing_daily as marketing on revenue.date_day = marketing.date_day
            group by all
            """
        ).fetchall()
    return {day: (float(net), count, roas, float(spend)) for day, net, count, roas, spend in rows}


def test_metrics_by_name_equal_the_marts_and_the_ground_truth(first_run: Settings):
    """The semantic layer as the dashboards query it (MetricFlow's engine on the published file)."""
    target = first_run.dbt_target_dir
    con = open_published(manifest_nodes(target / "manifest.json"), first_run.analytics_path)
    try:
        table = Metrics(target / "semantic_manifest.json", con).query(
            ["net_revenue", "orders", "roas", "ad_spend"], ["metric_time__day"]
        )
    finally:
        con.close()
    metrics = {
        r["metric_time__day"]: (r["net_revenue"], r["orders"], r["roas"], r["ad_spend"] or 0.0)
        for r in table.records()
        if r["net_revenue"] is not None
    }
    marts = _marts_by_day(first_run)
    assert set(metrics) == set(marts) and len(marts) >= 4
    for day, (net, orders, roas, spend) in marts.items():
        assert metrics[day][:2] == (net, orders), day
        assert metrics[day][3] == pytest.approx(spend, abs=0.005), day
        assert metrics[day][2] == (None if roas is None else pytest.approx(roas, rel=1e-9)), day
    assert any(roas for _, _, roas, _ in marts.values())  # ROAS compared on days with spend, not only nulls
    truth = json.loads((first_run.sources_dir / "ground_truth.json").read_text())["daily"]
    for d in truth:
        day = dt.date.fromisoformat(d["date_day"])
        assert metrics[day][:2] == (round(d["net_revenue"], 2), d["order_count"]), day
        assert metrics[day][3] == pytest.approx(d["ad_spend"], abs=0.005), day


def test_mf_query_reads_the_published_file(first_run: Settings):
    """The README's `mf query`: dbt parses for target `published`, MetricFlow's CLI queries it read-only."""
    published = dataclasses.replace(first_run, dbt_target="published")
    parse_project(published, first_run.project_dir / "target")
    out = first_run.data_dir / "tmp" / "mf_query.csv"
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(first_run.data_dir), "LIFECYCLE_DBT_TARGET": "published"}
    mf = subprocess.run(
        [
            str(Path(sys.executable).with_name("mf")),
            "query",
            "--metrics",
            "net_revenue,orders,roas",
            "--group-by",
            "metric_time__day",
            "--csv",
            str(out),
            "--quiet",
        ],
        cwd=first_run.project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert mf.returncode == 0, mf.stdout + mf.stderr
    with out.open() as rows:
        queried = {
            dt.date.fromisoformat(r["metric_time__day"][:10]): (
                float(r["net_revenue"]),
                int(r["orders"]),
                r["roas"],
            )
            for r in csv.DictReader(rows)
            if r["net_revenue"]
        }
    marts = _marts_by_day(first_run)
    assert {day: q[:2] for day, q in queried.items()} == {day: m[:2] for day, m in marts.items()}
    for day, (_, _, roas, _) in marts.items():
        assert (float(queried[day][2]) if queried[day][2] else None) == (
            None if roas is None else pytest.approx(roas, rel=1e-6)
        ), day


def test_the_duckdb_cli_opens_the_published_file_read_only(first_run: Settings):
    duckdb_cli = Path(sys.executable).with_name("duckdb")
    shown = subprocess.run(
        [
            str(duckdb_cli),
            "-readonly",
            "-csv",
            "-noheader",
            str(first_run.analytics_path),
            "-c",
            "select count(*) from fct_orders",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert int(shown.stdout.strip()) == len(published(first_run, "fct_orders")) > 0
    written = subprocess.run(
        [str(duckdb_cli), "-readonly", str(first_run.analytics_path), "-c", "create table scribble (x int)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert written.returncode != 0 and "read-only" in (written.stdout + written.stderr).lower()


def test_data_docs_load_nothing_from_the_internet(first_run: Settings):
    """Every script, stylesheet, font and image of the Data Docs is served from the site; only links that a
    reader may follow (``<a href>``) point outside."""
    remote = re.compile(r"""<(\w+)\b[^>]*?\b(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""")
    pages = list((first_run.site_dir / "gx").rglob("*.html"))
    assert len(pages) > 10
    loaded = {(tag, url) for page in pages for tag, url in remote.findall(page.read_text()) if tag != "a"}
    assert loaded == set()
    vendor = first_run.site_dir / "gx" / "static" / "vendor"
    assert (vendor / "jquery@3.7.1" / "dist" / "jquery.min.js").stat().st_size > 10_000


def test_second_run_is_idempotent(first_run: Settings):
    before = {t: published(first_run, t) for t in ("fct_orders", "fct_revenue_daily", "dim_customers")}
    run(first_run, as_of=AS_OF + dt.timedelta(minutes=20), world=WORLD, progress=lambda _: None)
    after = {t: published(first_run, t) for t in before}
    assert after == before


def test_history_holds_both_runs_nodes_checks_and_publications(first_run: Settings):
    with duckdb.connect(str(first_run.warehouse_path), read_only=True) as con:
        runs = con.execute("select run_id, status from observability.runs order by started_at").fetchall()
        assert [status for _, status in runs] == ["succeeded", "succeeded"]
        run_ids = [run_id for run_id, _ in runs]
        stages = con.execute(
            "select run_id, list(stage order by started_at) from observability.stages group by 1"
        )
        expected = ["generate", "ingest", "privacy", "audit raw", "transform", "validate", "publish", "docs"]
        assert dict(stages.fetchall()) == dict.fromkeys(run_ids, expected)
        manifest = json.loads((first_run.build_state_dir / "manifest.json").read_text())
        models = {n for n, node in manifest["nodes"].items() if node["resource_type"] == "model"}
        for run_id in run_ids:
            nodes = dict(
                con.execute(
                    "select unique_id, status from observability.node_results where run_id = ?", [run_id]
                ).fetchall()
            )
            assert models <= set(nodes), run_id
            assert {nodes[m] for m in models} == {"success"}
            gates = dict(
                con.execute(
                    "select gate, count(*) from observability.check_results where run_id = ? group by gate",
                    [run_id],
                ).fetchall()
            )
            # dbt's tests, the raw suites before dbt and every suite after it (the monitors judge nothing
            # before they have min_training_runs earlier runs).
            assert set(gates) == {"audit raw", "dbt build", "validate"}
            assert gates["dbt build"] >= len([n for n in manifest["nodes"] if n.startswith("test.")])
            thresholds = con.execute(
                "select count(*) filter (where threshold is null or threshold = '') from"
                " observability.check_results where run_id = ?",
                [run_id],
            ).fetchone()
            assert thresholds == (0,)
        publications = con.execute("select run_id, total_rows from observability.publications").fetchall()
        assert {run_id for run_id, _ in publications} >= set(run_ids)
        assert all(rows > 0 for _, rows in publications)
        freshness = con.execute("select run_id, source, status from observability.freshness").fetchall()
        assert {(r, s) for r, s, _ in freshness} == {
            (r, s) for r in run_ids for s in ("app", "events", "ads")
        }
        metrics = con.execute(
            "select count(distinct metric) from observability.metrics where mart = 'fct_revenue_daily'"
        ).fetchone()
        assert metrics is not None and metrics[0] >= 4  # volume, freshness, keys, measures
    incidents_page = (first_run.site_dir / "incidents.html").read_text()
    assert "No open incident." in incidents_page
    assert 'href="incidents.html"' in (first_run.site_dir / "index.html").read_text()


def _lineage(settings: Settings) -> list[dict]:
    return [json.loads(line) for line in settings.lineage_path.read_text().splitlines()]


def test_lineage_covers_every_stage_and_connects_revenue_from_raw_to_export(tiny_world: Settings):
    # The shared world, which has run once: its events name its own files (a copy's do not).
    first_run = tiny_world
    events = _lineage(first_run)
    states: dict[str, set[str]] = {}
    for event in events:
        states.setdefault(event["job"]["name"], set()).add(event["eventType"])
    manifest = json.loads((first_run.build_state_dir / "manifest.json").read_text())
    models = [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    jobs = {
        **{f"ingest.{source}": f"ingest.{source}" for source in ("app", "events", "ads")},
        **{model: next((j for j in states if j.endswith(f".{model}.build.run")), model) for model in models},
        "publish": "publish",
        "publish.reverse_etl": "publish.reverse_etl",
        "validate": "validate",
    }
    missing = {
        name: states.get(job) for name, job in jobs.items() if {"START", "COMPLETE"} - states.get(job, set())
    }
    assert not missing

    # Dataset names connect the stages: raw (ingest writes) → staging → marts (dbt) → exports (publish).
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for event in events:
        if event["eventType"] != "COMPLETE":
            continue
        for source in event.get("inputs") or []:
            for target in event.get("outputs") or []:
                key = (source["namespace"], source["name"])
                edges.setdefault(key, set()).add((target["namespace"], target["name"]))
    written_by_ingest = {
        (d["namespace"], d["name"])
        for e in events
        if e["job"]["name"] == "ingest.app" and e["eventType"] == "COMPLETE"
        for d in e["outputs"]
    }
    start = next(d for d in written_by_ingest if d[1].endswith("raw.app_orders"))
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for nxt in edges.get(node, ()):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    export = (f"file://{first_run.exports_dir}", "marts/fct_revenue_daily.parquet")
    assert export in paths
    chain = [name for _, name in paths[export]]
    layers = [name.split(".")[1] if name.startswith("warehouse.") else "export" for name in chain]
    assert layers[0] == "raw" and "staging" in layers and layers[-2:] == ["marts", "export"]
    assert chain[-2] == "warehouse.marts.fct_revenue_daily"


def test_status_exits_non_zero_on_a_stale_source_and_zero_on_fresh_ones(
    first_run: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from lifecycle.cli import main

    monkeypatch.setenv("LIFECYCLE_DATA_DIR", str(first_run.data_dir))
    assert main(["status", "--as-of", (AS_OF + dt.timedelta(minutes=30)).isoformat()]) == 0
    fresh = capsys.readouterr().out
    assert "open incidents: 0" in fresh and "SLA BREACHED" not in fresh
    assert main(["status", "--as-of", (AS_OF + dt.timedelta(days=5)).isoformat()]) == 3
    stale = capsys.readouterr().out
    assert "SLA BREACHED: app, events, ads" in stale
    # The application's change log breaches its 26 h SLA before the ad platform's 54 h one.
    assert main(["status", "--as-of", (AS_OF + dt.timedelta(hours=30)).isoformat()]) == 3
    assert "SLA BREACHED: app, events\n" in capsys.readouterr().out + "\n"


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


def test_a_failed_gate_alerts_its_owner_once_in_the_outbox(first_run: Settings):
    from lifecycle.observability.alerts import read_outbox

    opened = [a for a in read_outbox(first_run) if a["kind"] == "opened"]
    assert opened, "the failed dbt build sent no alert"
    # The order status is checked against the seed of known statuses (a relationships test).
    status_test = [a for a in opened if "order_status" in a["check"]]
    assert len(status_test) == 1
    alert = status_test[0]
    assert "teleported" in alert["sample"]
    assert alert["owner"] and alert["link"].endswith(f"incidents.html#{alert['incident_id']}")
    assert alert["channels"] == {"webhook": "skipped: LIFECYCLE_ALERT_WEBHOOK_URL is not set"}


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
