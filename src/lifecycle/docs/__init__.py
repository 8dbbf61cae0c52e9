"""The docs site under site/: dbt docs (catalog + lineage), GE Data Docs, and our own pages — quality
report, pipeline health, analysis results, test and documentation coverage — linked from index.html.

Everything is static HTML readable offline (inline CSS and SVG, no JavaScript of ours, no CDN);
``lifecycle docs --serve`` only adds a localhost server. The warehouse is read read-only and the analyses
run against the published ``analytics.duckdb``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import http.server
import json
import os
import shutil
import uuid
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.dbt_runner import run_dbt
from lifecycle.docs import analyses, coverage, health, quality
from lifecycle.docs.layout import page, table
from lifecycle.errors import LifecycleError
from lifecycle.storage import connect_warehouse


def build_docs(settings: Settings, *, as_of: dt.datetime | None = None) -> Path:
    """Build site/: dbt docs at site/dbt/, Data Docs at site/gx/ (built by validate), and our pages.

    ``as_of`` is the 'now' that freshness is judged against (default: the current UTC time).
    """
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    site = settings.site_dir
    site.mkdir(parents=True, exist_ok=True)
    # Also compiles the analyses (into the manifest and compiled/), which the analyses page runs.
    failures = run_dbt(settings, ["docs", "generate", "--static"], as_of=as_of).failures
    if failures:
        raise LifecycleError(f"dbt docs generate failed: {failures[0].message}")
    target = settings.dbt_target_dir
    static = target / "static_index.html"
    if not static.exists():
        raise LifecycleError(f"dbt docs generate wrote no {static}")
    (site / "dbt").mkdir(exist_ok=True)
    shutil.copyfile(static, site / "dbt" / "index.html")

    if settings.warehouse_path.exists():
        # One writer or many readers: docs runs after publish, when nothing writes.
        with connect_warehouse(settings, read_only=True) as con:
            results = quality.read_results(con)
            state = health.read_health(con, as_of)
    else:
        results, state = [], health.Health(as_of=as_of)
    analysis_results = (
        analyses.run_analyses(target / "manifest.json", settings.analytics_path)
        if settings.analytics_path.exists()
        else []
    )
    pages = {
        "quality.html": quality.render(results),
        "health.html": health.render(state),
        "analyses.html": analyses.render(analysis_results),
        "coverage.html": coverage.render(coverage.read_coverage(target)),
    }
    reports = sorted((settings.state_dir / "reports").glob("*.md"), key=lambda p: p.stat().st_mtime)
    pages["index.html"] = _index_page(settings, reports[-1:], results, analysis_results)
    for name, text in pages.items():
        _write(site / name, text)
    return site / "index.html"


def _write(path: Path, text: str) -> None:
    """Write by temp file + rename, so a browser reloading mid-build never gets half a page."""
    tmp = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _index_page(
    settings: Settings,
    reports: list[Path],
    results: list[quality.Result],
    analysis_results: list[analyses.AnalysisResult],
) -> str:
    publication = settings.last_publication_path
    published = json.loads(publication.read_text()) if publication.exists() else None
    gx = (settings.site_dir / "gx" / "index.html").exists()
    marts = table(["table", "rows"], list(published["tables"].items())) if published else ""
    crm = (published or {}).get("crm_segments")
    crm_line = (
        f"<p>CRM export (reverse ETL): {crm['rows']:,} customers in <code>exports/crm_segments.csv</code>"
        " and <code>.parquet</code>, RFM segment from <code>fct_customer_rfm</code>.</p>"
        if crm
        else ""
    )
    latest = quality.runs_in_order(results)[-1][1] if results else []
    statuses = [r.status for r in latest]
    quality_line = (
        f"{statuses.count('passed')} passed, {statuses.count('warned')} warned,"
        f" {statuses.count('failed')} failed in the latest run"
        if latest
        else "no results yet"
    )
    broken = [a.name for a in analysis_results if a.error]
    report = html.escape(reports[0].read_text()) if reports else "No run report yet."
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""
<p>The retailer's data platform. Built {built}; everything here is static and works offline.</p>
<ul>
  <li><a href="dbt/index.html">Models, columns and lineage</a> (dbt docs): the catalog of every model</li>
  <li>{
        '<a href="gx/index.html">Great Expectations Data Docs</a>: every validation in detail'
        if gx
        else "Great Expectations Data Docs: not built yet (<code>lifecycle validate</code>)"
    }</li>
  <li><a href="quality.html">Quality report</a>: {quality_line}</li>
  <li><a href="health.html">Pipeline health</a>: rows per day and source, freshness, ingest batches</li>
  <li><a href="analyses.html">Analyses</a>: {len(analysis_results)} result(s) on the published marts{
        ", failing: " + html.escape(", ".join(broken)) if broken else ""
    }</li>
  <li><a href="coverage.html">Coverage</a>: tests per model and documented columns</li>
</ul>
<h2>Published marts</h2>
<p>{
        "Published "
        + html.escape(published["published_at"])
        + f" from run <code>{html.escape(published['run_id'])}</code> to <code>"
        + html.escape(str(settings.analytics_path))
        + "</code>"
        if published
        else "Nothing published yet."
    }</p>
{marts}
{crm_line}
<h2>Latest run report</h2>
<pre>{report}</pre>
"""
    return page("index.html", "lifecycle: data docs", body)


def serve(settings: Settings, port: int = 8080) -> None:
    index = settings.site_dir / "index.html"
    if not index.exists():
        raise LifecycleError(f"no site at {index}: run `lifecycle docs` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(settings.site_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {settings.site_dir} on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
