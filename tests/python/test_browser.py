"""The docs site in a real browser: the real pipeline builds it at a tiny scale, a localhost server serves
it, and headless Chromium (Debian's chromium + chromium-driver, `make browser-deps`) driven by Selenium
checks what an analyst sees. Screenshots land in site/screenshots/ and one is copied to /tmp/screenshots/.

Chromium missing is a failure, not a skip: the site is what analysts use, and this is its only check.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from lifecycle.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
WAIT_SECONDS = 30
SHARED_SCREENSHOTS = Path("/tmp/screenshots")

# Reads a canvas's pixels: how many are painted (alpha > 0). The lineage graph (cytoscape) draws on canvas.
PAINTED_PIXELS_JS = """
return [...document.querySelectorAll(arguments[0])].map(c => {
    if (!c.width || !c.height) return 0;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
    return painted;
});
"""

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tiny_world: Settings) -> Settings:
    """The shared tiny world's site: the browser only reads it."""
    return tiny_world


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Settings) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site.site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run `make browser-deps` (Debian chromium, chromium-driver)"
        )
    # Selenium Manager would try to download a driver; ours is Debian's, and there is no network.
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition, what: str, timeout: float = WAIT_SECONDS):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it returns something truthy (bounded; the page renders asynchronously)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(None, timeout, poll_frequency=0.2).until(lambda _: condition(), message=what)


def screenshot(driver, site: Settings, name: str) -> Path:  # type: ignore[no-untyped-def]
    folder = site.site_dir / "screenshots"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    SHARED_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SHARED_SCREENSHOTS / path.name)
    return path


def requested_hosts(driver) -> set[str]:  # type: ignore[no-untyped-def]
    """Hosts of every request the page made since the last call (from Chromium's performance log)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlparse(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.hostname or "")
    return hosts


def body_text(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_dbt_docs_model_page_shows_the_model_and_its_columns(browser, base_url: str, site: Settings):
    browser.get(f"{base_url}/dbt/index.html#!/model/model.lifecycle.fct_orders")
    columns = ("order_id", "customer_id", "order_status", "placed_at", "gross_revenue")
    wait_for(lambda: all(c in body_text(browser) for c in columns), "fct_orders' columns never rendered")
    text = body_text(browser)
    assert "fct_orders" in text
    assert "One row per order" in text  # the model's description
    screenshot(browser, site, "dbt-model-fct_orders")
    assert requested_hosts(browser) <= {"127.0.0.1"}, "the docs fetched something from the internet"


def test_dbt_docs_open_on_the_project_overview(browser, base_url: str, site: Settings):
    browser.get(f"{base_url}/dbt/index.html#!/overview")
    wait_for(lambda: "retailer's warehouse" in body_text(browser), "dbt docs show no project overview")
    text = body_text(browser)
    assert "Welcome!" not in text  # dbt's default text is replaced
    assert "mf query" in text and "staging" in text
    screenshot(browser, site, "dbt-overview")


def test_dbt_docs_lineage_graph_renders(browser, base_url: str, site: Settings):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/dbt/index.html#!/model/model.lifecycle.fct_orders")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".launcher-btn"), "no lineage button")
    wait_for(lambda: "order_status" in body_text(browser), "the model page never rendered")
    browser.find_element(By.CSS_SELECTOR, ".launcher-btn").click()  # opens the lineage graph panel
    painted = wait_for(
        lambda: sum(browser.execute_script(PAINTED_PIXELS_JS, "#cy canvas")),
        "the lineage graph's canvas stayed blank",
    )
    assert painted > 500  # nodes, labels and edges, not a stray pixel
    assert "Lineage Graph" in body_text(browser)
    path = screenshot(browser, site, "dbt-lineage-fct_orders")
    assert path.stat().st_size > 10_000


def test_our_pages_link_from_the_index_and_render_offline(browser, base_url: str, site: Settings):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/index.html")
    links = {
        a.get_attribute("href").removeprefix(base_url + "/") for a in browser.find_elements(By.TAG_NAME, "a")
    }
    pages = {
        "dashboards.html",
        "quality.html",
        "health.html",
        "analyses.html",
        "coverage.html",
        "dbt/index.html",
        "gx/index.html",
    }
    assert pages <= links
    screenshot(browser, site, "index")
    expectations = {
        "quality.html": ["Latest run", "passed", "completeness"],
        "health.html": ["Rows per day", "Freshness", "events", "ads"],
        "analyses.html": ["revenue_by_month", "net_revenue"],
        "coverage.html": ["fct_orders", "documented"],
    }
    for name, words in expectations.items():
        browser.get(f"{base_url}/{name}")
        text = body_text(browser)
        missing = [w for w in words if w not in text]
        assert not missing, f"{name} lacks {missing}"
        # e.g. an analysis that fails on the published marts
        assert not browser.find_elements(By.CSS_SELECTOR, ".error"), f"{name} shows an error"
        screenshot(browser, site, name.removesuffix(".html"))
    browser.get(f"{base_url}/health.html")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(charts) >= 3
    assert all(c.size["width"] > 100 for c in charts)
    assert browser.find_elements(By.CSS_SELECTOR, "svg[role=img] rect")
    assert requested_hosts(browser) <= {"127.0.0.1"}, "a page fetched something from the internet"


#: Each dashboard page and the chart titles it must draw (every one a saved query of the semantic layer,
#: except freshness, drawn from the pipeline's health records).
DASHBOARDS = {
    "dashboard-revenue.html": ["Revenue per day", "Orders per day", "Average order value per day"],
    "dashboard-funnel.html": ["Human sessions reaching each funnel step", "Conversion rate and bot share"],
    "dashboard-marketing.html": ["Return on ad spend by campaign", "Ad spend by channel and month"],
    "dashboard-retention.html": ["Share of each first-order cohort", "New customers"],
    "dashboard-freshness.html": ["Hours between each source's newest row", "Rows landed per day"],
}
#: What Vega draws for data: bars and cells (rect marks), lines, points.
MARKS = ".mark-rect path, .mark-line path, .mark-symbol path"


def test_every_dashboard_draws_its_charts(browser, base_url: str, site: Settings):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/dashboards.html")
    listed = {
        a.get_attribute("href").removeprefix(base_url + "/") for a in browser.find_elements(By.TAG_NAME, "a")
    }
    assert set(DASHBOARDS) <= listed
    requested_hosts(browser)
    for page, titles in DASHBOARDS.items():
        browser.get(f"{base_url}/{page}")
        charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg[role=img]")
        labels = [c.get_attribute("aria-label") for c in charts]
        for title in titles:
            assert any(label.startswith(title) for label in labels), f"{page}: no chart {title!r} in {labels}"
        for chart in charts:
            marks = chart.find_elements(By.CSS_SELECTOR, MARKS)
            drawn = [m for m in marks if m.size["width"] > 0 or m.size["height"] > 0]
            assert drawn, f"{page}: chart {chart.get_attribute('aria-label')!r} has no visible marks"
            assert chart.size["width"] > 300
        assert not browser.find_elements(By.CSS_SELECTOR, ".error"), f"{page} shows an error"
        screenshot(browser, site, page.removesuffix(".html"))
    assert requested_hosts(browser) <= {"127.0.0.1"}, "a dashboard fetched something from the internet"


def test_data_docs_list_their_validations_with_the_network_disabled(
    base_url: str, site: Settings, tmp_path: Path
):
    """A browser that can resolve no host but localhost: the Data Docs must still list every validation."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make browser-deps`")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-offline'}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        driver.get(f"{base_url}/gx/index.html")
        rows = "table.ge-index-page-validation-results-table tbody tr"
        wait_for(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, rows)) >= 5, "no validation results listed"
        )
        text = body_text(driver)
        assert "marts.fct_orders" in text or "marts.fct_revenue_daily" in text
        assert "Showing 1 to" in text  # bootstrap-table ran: it paginates the results
        icons = driver.find_elements(By.CSS_SELECTOR, ".ge-success-icon, .fa-check-circle")
        assert icons and icons[0].size["width"] > 0  # Font Awesome's font loaded from the site
        screenshot(driver, site, "gx-index-offline")
        assert requested_hosts(driver) <= {"127.0.0.1"}, "Data Docs asked for something off the site"
    finally:
        driver.quit()
