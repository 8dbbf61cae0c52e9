"""``lifecycle docs``: build the static site under site/ — dbt docs, and our pages from the warehouse, the
published marts and dbt's artifacts. The warehouse is only read; the analyses run on ``analytics.duckdb``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from lifecycle.config import Settings
from lifecycle.dbt_runner import run_dbt
from lifecycle.docs import analyses, coverage, dashboards, health, incidents, quality
from lifecycle.docs.metrics import Metrics
from lifecycle.docs.pages import Site, render_pages
from lifecycle.docs.published import manifest_nodes, open_published
from lifecycle.errors import LifecycleError
from lifecycle.storage import connect_warehouse, write_atomic


def build_docs(settings: Settings, *, as_of: dt.datetime | None = None) -> Path:
    """Build site/: dbt docs at site/dbt/, Data Docs at site/gx/ (built by validate), and our pages.

    ``as_of`` is the time that freshness is judged against (default: the current UTC time).
    """
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    settings.site_dir.mkdir(parents=True, exist_ok=True)
    _dbt_docs(settings, as_of)
    for name, text in render_pages(_read_site(settings, as_of)).items():
        write_atomic(settings.site_dir / name, text)
    write_atomic(settings.site_dir / "incidents.html", _incidents_page(settings))
    return settings.site_dir / "index.html"


def _dbt_docs(settings: Settings, as_of: dt.datetime) -> None:
    """dbt's static docs page, copied to site/dbt/index.html.

    ``dbt docs generate`` also compiles the analyses (into the manifest and compiled/), which the analyses
    page runs, and writes the catalog the coverage page reads.
    """
    failures = run_dbt(settings, ["docs", "generate", "--static"], as_of=as_of).failures
    if failures:
        raise LifecycleError(f"dbt docs generate failed: {failures[0].message}")
    static = settings.dbt_target_dir / "static_index.html"
    if not static.exists():
        raise LifecycleError(f"dbt docs generate wrote no {static}")
    (settings.site_dir / "dbt").mkdir(exist_ok=True)
    shutil.copyfile(static, settings.site_dir / "dbt" / "index.html")


def _read_site(settings: Settings, as_of: dt.datetime) -> Site:
    """What the pages show: quality results and health from the warehouse, analyses on the published
    marts, coverage from dbt's artifacts, the last publication and the latest run report."""
    if settings.warehouse_path.exists():
        # One writer or many readers: docs runs after publish, when nothing writes.
        with connect_warehouse(settings, read_only=True) as con:
            results, state = (
                quality.read_results(con),
                health.read_health(con, as_of, slot_limit=settings.slot_retained_wal_limit),
            )
    else:
        results, state = [], health.Health(as_of=as_of)
    target = settings.dbt_target_dir
    publication = settings.last_publication_path
    reports = sorted((settings.state_dir / "reports").glob("*.md"), key=lambda p: p.stat().st_mtime)
    return Site(
        built_at=dt.datetime.now(dt.UTC),
        health=state,
        analytics_path=settings.analytics_path,
        results=results,
        analyses=(
            analyses.run_analyses(target / "manifest.json", settings.analytics_path)
            if settings.analytics_path.exists()
            else []
        ),
        coverage=coverage.read_coverage(target),
        publication=json.loads(publication.read_text()) if publication.exists() else None,
        has_data_docs=(settings.site_dir / "gx" / "index.html").exists(),
        run_report=reports[-1].read_text() if reports else None,
        dashboards=_dashboards(settings, state),
    )


def _incidents_page(settings: Settings) -> str:
    """The incidents page, from the run history (empty before the first run)."""
    if not settings.warehouse_path.exists():
        return incidents.render(incidents.Incidents())
    with connect_warehouse(settings, read_only=True) as con:
        return incidents.render(incidents.read_incidents(con))


def _dashboards(settings: Settings, state: health.Health) -> list[dashboards.Dashboard]:
    """The dashboards: the semantic layer's saved queries on the published file (read-only: a running
    pipeline is never blocked), in the in-memory database that names its tables as dbt does."""
    target = settings.dbt_target_dir
    if not settings.analytics_path.exists():
        return dashboards.build(None, state)
    con = open_published(manifest_nodes(target / "manifest.json"), settings.analytics_path)
    try:
        return dashboards.build(Metrics(target / "semantic_manifest.json", con), state)
    finally:
        con.close()
