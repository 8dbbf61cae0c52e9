"""Orchestration on Dagster (``lifecycle.orchestration``): the same stages and the same write–audit–publish
rule as ``lifecycle run``, run as daily partitions, backfills, on a schedule and on arrival of new data.

The world is tiny (scale 0.01, two days of history, then three days run one by one:
``orchestration_world``). ``lifecycle run`` for the same three days runs in the background from the start,
and the tests that compare publications wait for it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    Failure,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
)

from conftest import add_order, make_orders_db, write_ads
from lifecycle.config import PROJECT_DIR, Settings
from lifecycle.errors import GateFailed, LifecycleError
from lifecycle.ingest import ingest
from lifecycle.lock import Busy
from lifecycle.orchestration.assets import DOCS_SITE, PUBLICATION
from lifecycle.orchestration.automation import failure_line, pending_arrivals
from lifecycle.orchestration.clock import ClockBehind, require_forward
from lifecycle.orchestration.definitions import DAILY_JOB, build_definitions
from lifecycle.orchestration.gate_checks import failures_by_check
from lifecycle.orchestration.partitions import end_of_day, partition_as_of, run_partition
from lifecycle.orchestration.resources import LifecycleResource
from lifecycle.orchestration.retries import RETRY_POLICY, is_transient, stage
from lifecycle.publish import read_publication
from lifecycle.quality.verdict import AUDIT_RAW, load_verdicts
from orchestration_world import (
    DAYS,
    FIRST_DAY,
    advance,
    backfill,
    break_clickstream,
    copy_world,
    make_base,
    published,
)

BIN = Path(sys.executable).parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
#: Where test_browser.py leaves its screenshots too, for a person to look at after a run.
SHARED_SCREENSHOTS = Path("/tmp/screenshots")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_base(tmp_path_factory.mktemp("base") / "data")


@pytest.fixture(scope="module")
def daily_cli(
    base: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[dt.date, Future[Path]]]:
    """``lifecycle run --no-generate --as-of DAY`` for each day in turn, the sources advanced to its end
    first; per day, the analytics database it published. Runs in the background while other tests run."""
    settings = copy_world(base, tmp_path_factory.mktemp("cli") / "data")
    kept = tmp_path_factory.mktemp("cli-published")
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(settings.data_dir)}

    def run_day(day: dt.date) -> Path:
        advance(settings, day)
        # The docs site changes nothing in the publication: --no-docs saves its build three times.
        command = [str(BIN / "lifecycle"), "run", "--no-generate", "--no-docs", "--as-of", day.isoformat()]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"lifecycle run --as-of {day}:\n{done.stderr[-3000:]}"
        return Path(shutil.copyfile(settings.analytics_path, kept / f"{day}.duckdb"))

    with ThreadPoolExecutor(max_workers=1) as one_at_a_time:
        yield {day: one_at_a_time.submit(run_day, day) for day in DAYS}


@pytest.fixture(scope="module")
def first_day(
    base: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, ExecuteInProcessResult]:
    """Every asset of the first day's partition materialised in this process, as the daily job does."""
    settings = copy_world(base, tmp_path_factory.mktemp("dagster") / "data")
    advance(settings, DAYS[0])
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    result = job.execute_in_process(partition_key=DAYS[0].isoformat(), instance=DagsterInstance.ephemeral())
    return settings, result


@pytest.fixture(scope="module")
def tiny(base: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Definitions]:
    """A hand-made data directory (an empty application database, as ``conftest.settings`` makes) with the
    base world's parsed dbt manifest, and its definitions."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("tiny") / "data")
    settings.sources_dir.mkdir(parents=True)
    make_orders_db(settings.sources_dir / "app.sqlite").close()
    shutil.copytree(base.state_dir / "orchestration", settings.state_dir / "orchestration")
    return settings, build_definitions(settings)


def materialized(result: ExecuteInProcessResult) -> set[AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events() if e.asset_key is not None}


@pytest.mark.slow
def test_one_partition_in_process_publishes_what_lifecycle_run_publishes(
    daily_cli: dict[dt.date, Future[Path]], first_day: tuple[Settings, ExecuteInProcessResult]
):
    # daily_cli first: its runs proceed in the background while this process materialises first_day.
    settings, result = first_day
    assert result.success
    every_asset = build_definitions(settings).resolve_asset_graph().get_all_asset_keys()
    assert materialized(result) == every_asset
    assert (settings.site_dir / "index.html").exists()
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 100 and all(c.passed for c in checks if c.severity.value == "ERROR")
    assert read_publication(settings)["as_of"] == end_of_day(DAYS[0]).isoformat()
    published_by_cli = daily_cli[DAYS[0]].result()
    assert published(settings.analytics_path) == published(published_by_cli)


@pytest.mark.slow
def test_a_three_day_backfill_publishes_what_three_daily_runs_publish(
    base: Settings,
    daily_cli: dict[dt.date, Future[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    settings = copy_world(base, tmp_path / "data")
    # The orchestrator was down for three days: their data has all arrived when the backfill starts.
    advance(settings, DAYS[-1])
    monkeypatch.setenv("LIFECYCLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LIFECYCLE_PARTITIONS_START", FIRST_DAY.isoformat())
    every_asset = build_definitions(settings).resolve_asset_graph().get_all_asset_keys()
    # The docs site is rebuilt from the publication and changes nothing in it: left out to save time.
    runs = backfill(DAYS, sorted(every_asset - {DOCS_SITE}))

    assert [run_partition(run.tags) for run in runs] == [d.isoformat() for d in DAYS], "a run a day, in order"
    assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS] * len(DAYS)
    assert read_publication(settings)["as_of"] == end_of_day(DAYS[-1]).isoformat()
    assert published(settings.analytics_path) == published(daily_cli[DAYS[-1]].result())


@pytest.mark.slow
def test_a_failed_gate_blocks_publication_and_keeps_the_last_one(
    first_day: tuple[Settings, ExecuteInProcessResult], tmp_path: Path
):
    settings = copy_world(first_day[0], tmp_path / "data")
    before = read_publication(settings)
    tables_before = published(settings.analytics_path)
    advance(settings, DAYS[1])
    assert break_clickstream(settings.sources_dir, DAYS[1]) > 0

    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    result = job.execute_in_process(
        partition_key=DAYS[1].isoformat(), instance=DagsterInstance.ephemeral(), raise_on_error=False
    )

    assert not result.success
    assert PUBLICATION not in materialized(result)
    # The ingest step lands the three sources and applies the erasure log before the raw gate stops the run.
    assert materialized(result) == {AssetKey(["raw", s]) for s in ("app", "events", "ads", "privacy")}
    evaluations = {
        AssetCheckKey(e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    assert evaluations[AssetCheckKey(AssetKey(["raw", "events"]), "ingestion_contract")] is False
    assert not load_verdicts(settings)[AUDIT_RAW].passed
    assert read_publication(settings) == before
    assert published(settings.analytics_path) == tables_before
    line = failure_line(result.dagster_run, [e for e in result.all_events if e.is_step_failure])
    assert line.startswith(f"lifecycle run FAILED: day {DAYS[1]}")
    assert "audit_raw" in line


@pytest.mark.e2e  # needs the base world (a generated world and a dbt parse): not in make test-fast
def test_the_sensor_requests_a_run_when_new_data_arrives(tiny: tuple[Settings, Definitions]):
    settings, definitions = tiny
    sensor = definitions.resolve_sensor_def("new_source_data")
    resources = {"lifecycle": LifecycleResource(data_dir=str(settings.data_dir))}

    def evaluate() -> RunRequest | None:
        """One tick of the sensor: its run request, or None if it skipped."""
        with DagsterInstance.ephemeral() as instance:
            context = build_sensor_context(instance=instance, resources=resources, definitions=definitions)
            tick = sensor.evaluate_tick(context)
        assert len(tick.run_requests or []) <= 1
        return tick.run_requests[0] if tick.run_requests else None

    assert evaluate() is None
    write_ads(
        settings.sources_dir, "2026-02-01", [["2026-02-01", "search", "1", "brand", "100", "5", "12.50"]]
    )
    first = evaluate()
    assert first is not None
    assert first.partition_key == dt.datetime.now(dt.UTC).date().isoformat()

    add_order(sqlite := _app(settings), 1)
    sqlite.close()
    second = evaluate()
    assert second is not None
    assert second.run_key != first.run_key, "a new state of the sources is a new run"

    ingest(settings)
    assert evaluate() is None, "everything that arrived has landed"


def _app(settings: Settings):  # type: ignore[no-untyped-def]
    import sqlite3

    return sqlite3.connect(settings.sources_dir / "app.sqlite")


@pytest.mark.slow
def test_arrivals_follow_ingestions_completeness_rules(
    first_day: tuple[Settings, ExecuteInProcessResult], tmp_path: Path
):
    settings = copy_world(first_day[0], tmp_path / "data")
    assert not pending_arrivals(settings, end_of_day(DAYS[0])), "everything there by the as-of has landed"
    advance(settings, DAYS[1])
    one_am = dt.datetime.combine(DAYS[1], dt.time(1, 0))
    early = pending_arrivals(settings, one_am)
    # By 01:00 the first day's ad drop is complete; of the new day's clickstream, only hour 00 can be.
    assert f"ads/ad_spend_{DAYS[0]}.csv" in early.files
    assert not [f for f in early.files if f"date={DAYS[1]}/" in f and f"date={DAYS[1]}/hour=00/" not in f]
    assert early.changes > 0
    later = pending_arrivals(settings, end_of_day(DAYS[1]))
    assert any(f"date={DAYS[1]}/" in f for f in later.files)
    assert later.fingerprint != early.fingerprint


@pytest.mark.e2e  # needs the base world (a generated world and a dbt parse): not in make test-fast
def test_the_daily_schedule_runs_todays_partition_at_six_utc(tiny: tuple[Settings, Definitions]):
    definitions = tiny[1]
    schedule = definitions.resolve_schedule_def("daily_at_six_utc")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    today = dt.datetime.now(dt.UTC).date()
    tick = dt.datetime.combine(today, dt.time(6, 0), tzinfo=dt.UTC)
    context = build_schedule_context(
        scheduled_execution_time=tick, repository_def=definitions.get_repository_def()
    )
    [request] = schedule.evaluate_tick(context).run_requests or []
    assert request.partition_key == today.isoformat()


def test_a_partitions_as_of_is_the_end_of_its_day_or_the_start_of_its_run():
    assert partition_as_of("2026-03-04", dt.datetime(2026, 3, 9, 8, 0)) == dt.datetime(2026, 3, 4, 23, 59, 59)
    assert partition_as_of("2026-03-04", dt.datetime(2026, 3, 4, 6, 0, 7, 500)) == dt.datetime(
        2026, 3, 4, 6, 0, 7
    )


@pytest.mark.slow
def test_a_day_cannot_run_behind_what_the_warehouse_landed(
    first_day: tuple[Settings, ExecuteInProcessResult],
):
    with pytest.raises(ClockBehind, match="already holds data landed"):
        require_forward(first_day[0], end_of_day(DAYS[0] - dt.timedelta(days=1)))
    require_forward(first_day[0], end_of_day(DAYS[0]))  # the same day again is fine


def test_transient_failures_are_retried_with_backoff_and_failed_gates_never(settings: Settings):
    import duckdb as db

    assert RETRY_POLICY.max_retries >= 3 and RETRY_POLICY.backoff is not None
    assert is_transient(Busy("in use by `lifecycle run`"))
    assert is_transient(db.IOException('Could not set lock on file "warehouse.duckdb": Conflicting lock'))
    try:
        try:
            raise db.IOException("IO Error: Could not set lock on file")
        except db.IOException as error:
            raise LifecycleError("cannot read the warehouse") from error
    except LifecycleError as wrapped:
        assert is_transient(wrapped)
    assert not is_transient(GateFailed("validate: 1 critical failure"))
    assert not is_transient(ValueError("a bug"))

    context = SimpleNamespace(run=SimpleNamespace(run_id="0123456789"), log=logging.getLogger("test"))
    with pytest.raises(Failure) as failure, stage(context, settings, "validate"):  # type: ignore[arg-type]
        raise GateFailed("validate: 1 critical failure")
    assert failure.value.allow_retries is False
    with pytest.raises(Busy), stage(context, settings, "ingest"):  # type: ignore[arg-type]
        raise Busy("in use")


def test_a_gates_failures_land_on_the_checks_of_their_tables():
    by_check = failures_by_check(
        [
            "raw.events_clickstream.validity: expect_column_values_to_not_be_null(event_id) [3]",
            "raw.ingestion.completeness: quarantined share of each landed file [events/x.json.gz: 9 of 90]",
            "marts.fct_orders.accuracy: expect_column_values_to_be_between(total) [2]",
            "marts.restatements.accuracy: settled published figures restated [2026-03-01 orders]",
        ]
    )
    keys = {f"{k.asset_key.to_user_string()}:{k.name}" for k in by_check}
    assert keys == {
        "raw/events:raw_suites",
        "raw/app:ingestion_contract",
        "raw/events:ingestion_contract",
        "raw/ads:ingestion_contract",
        "marts/fct_orders:great_expectations",
        "marts/fct_orders:settled_figures",
        "marts/fct_marketing_daily:settled_figures",
    }


@pytest.mark.e2e  # needs the base world (a generated world and a dbt parse): not in make test-fast
def test_definitions_validate(base: Settings, tmp_path: Path):
    settings = copy_world(base, tmp_path / "data")
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(settings.data_dir), "DAGSTER_HOME": str(tmp_path)}
    command = [str(BIN / "dagster"), "definitions", "validate", "-m", "lifecycle.orchestration"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.e2e
def test_make_orchestrate_serves_the_asset_graph_and_stops_on_ctrl_c(base: Settings, tmp_path: Path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run `make browser-deps` (Debian chromium, chromium-driver)"
        )
    # No sources: the arrival sensor finds nothing to run while the UI is up.
    data = tmp_path / "data"
    shutil.copytree(base.state_dir / "orchestration", data / "state" / "orchestration")
    port = _free_port()
    env = {**os.environ, "LIFECYCLE_DATA_DIR": str(data)}
    # The command `make orchestrate` runs (its last line; the lines before set up the venv if needed).
    recipe = subprocess.run(
        ["make", "-s", "-n", "orchestrate", f"DAGSTER_PORT={port}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    command = shlex.split(recipe)
    assert command[1:] == ["-m", "lifecycle.orchestration", "--port", str(port)]
    # As in a script that started it with `&`: SIGINT arrives ignored, and Ctrl-C must still stop it.
    launcher = subprocess.Popen(
        command,
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        _wait_for_ui(port, launcher)
        children = _children(launcher.pid)
        assert len(children) == 2, "the webserver and the daemon"
        assert yaml_settings(data / "dagster" / "dagster.yaml") == {
            "telemetry": {"enabled": False},
            "run_queue": {"max_concurrent_runs": 1},
        }
        shot = _render_asset_graph(port, data / "screenshots" / "asset-graph.png", tmp_path)
        assert shot.stat().st_size > 10_000
        SHARED_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SHARED_SCREENSHOTS / "dagster-asset-graph.png")
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=90)
        assert launcher.returncode == 0, output.decode(errors="replace")[-3000:]
        for pid in children:
            assert not Path(f"/proc/{pid}").exists(), f"child {pid} still running"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def yaml_settings(path: Path) -> dict[str, object]:
    import yaml

    return dict(yaml.safe_load(path.read_text()))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _wait_for_ui(port: int, launcher: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the webserver answers and the code location has loaded (its asset graph is served)."""
    deadline = time.monotonic() + timeout
    query = json.dumps({"query": "{ assetNodes { id } }"}).encode()
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "make orchestrate exited early"
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                nodes = json.loads(response.read())["data"]["assetNodes"]
            if nodes:
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    pytest.fail(f"the Dagster UI did not serve the asset graph on 127.0.0.1:{port} within {timeout} s")


def _render_asset_graph(port: int, path: Path, tmp_path: Path) -> Path:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager would try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,900"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(f"http://127.0.0.1:{port}/asset-groups")
        groups = {"ingestion", "staging", "intermediate", "marts", "serving"}

        def drawn() -> bool:
            nodes = driver.find_elements(By.CSS_SELECTOR, "svg foreignObject")
            return groups <= {node.text.strip() for node in nodes}

        WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda _: drawn(), "the asset graph's groups")
        # A first visit shows a newsletter dialog over the graph.
        for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            button.click()
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.quit()
    return path
