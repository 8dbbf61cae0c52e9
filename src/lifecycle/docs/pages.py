"""The site's own pages from what the build read: the dashboards, the quality, health, analyses and coverage
pages, and the index page that links them with dbt docs and Data Docs. Pure: no file is read or written
here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.docs import analyses, coverage, dashboards, health, quality
from lifecycle.docs.layout import render_page


@dataclass(frozen=True)
class Site:
    """Everything the pages show, as read by ``build_docs``."""

    built_at: dt.datetime
    health: health.Health
    analytics_path: Path
    results: list[quality.Result] = field(default_factory=list)
    analyses: list[analyses.AnalysisResult] = field(default_factory=list)
    coverage: list[coverage.ModelCoverage] = field(default_factory=list)
    #: The last publication's record (``last_publication.json``), None before the first.
    publication: dict[str, Any] | None = None
    #: Whether validate has built Great Expectations' Data Docs under site/gx/.
    has_data_docs: bool = False
    #: The latest run report (Markdown), None before the first run.
    run_report: str | None = None
    dashboards: list[dashboards.Dashboard] = field(default_factory=list)


def _latest_counts(results: list[quality.Result]) -> dict[str, int] | None:
    """Passed, warned and failed expectations of the latest run; None when there is none."""
    if not results:
        return None
    statuses = [r.status for r in quality.runs_in_order(results)[-1][1]]
    return {status: statuses.count(status) for status in quality.STATUSES}


def index_page(site: Site) -> str:
    """The front page: what each page holds, the published marts, the latest run report."""
    return render_page(
        "index.html",
        "lifecycle: data docs",
        built=site.built_at.strftime("%Y-%m-%d %H:%M UTC"),
        has_data_docs=site.has_data_docs,
        latest=_latest_counts(site.results),
        analyses_count=len(site.analyses),
        failing_analyses=[a.name for a in site.analyses if a.error],
        publication=site.publication,
        analytics_path=str(site.analytics_path),
        run_report=site.run_report,
    )


def render_pages(site: Site) -> dict[str, str]:
    """Every page of ours, by file name under site/."""
    return {
        "quality.html": quality.render(site.results),
        "health.html": health.render(site.health),
        "analyses.html": analyses.render(site.analyses),
        "coverage.html": coverage.render(site.coverage),
        "index.html": index_page(site),
        **dashboards.render(site.dashboards),
    }
